"""Reading the AMQP socket a chunk at a time instead of one system call per frame part.

py-amqp reads exactly the bytes it needs next: a frame's 7-byte header, its payload and
its end octet, each with a recv() of its own, so a Pulse message (three frames) costs nine
recv() calls (besides the two timeout switches py-amqp makes around every frame). Its
reader keeps whatever a recv() returns beyond what was asked for in the transport's buffer
and serves the next reads from there, so asking the socket for a chunk each time serves
the following frames from memory. select() cannot see those bytes:
`buffered()` says whether the transport holds any, and the worker reads them before it
waits on the socket again.

py-amqp's `drain_events(timeout)` switches the socket to that timeout and back around
every frame it reads (`having_timeout`: two `settimeout` calls, each a system call, per
frame). A frame already whole in memory cannot time out, so `parse_buffered_frame` hands
it to the connection's frame handler directly, as `blocking_read` does after its read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import amqp

# Bytes asked of the socket per read. py-amqp slices its buffer at every read (the rest is
# copied), so a chunk much larger than a few messages costs more in copies than it saves
# in system calls.
READ_AHEAD_BYTES = 8192
# The py-amqp releases whose reader keeps the bytes a recv() returns beyond those asked for
# (`_read`: `result, self._read_buffer = rbuf[:n], rbuf[n:]`, the same since 2.x; checked
# with 5.4.2). Another major version is left to read as it does.
_READER_KEEPS_EXTRA_BYTES = {5}
# A frame: type (1 byte), channel (2), payload size (4), the payload, the end octet (1).
_FRAME_OVERHEAD = 8


class ReadAhead:
    def __init__(self, connection: Any, transport: Any) -> None:
        self._connection = connection
        self._transport = transport

    @classmethod
    def install(cls, amqp_connection: Any) -> ReadAhead | None:
        """Make the transport of an `amqp.Connection` read ahead; None where it has no
        buffered reader to hook (another transport, another py-amqp)."""
        transport = getattr(amqp_connection, "transport", None)
        if transport is None or amqp.VERSION[0] not in _READER_KEEPS_EXTRA_BYTES:
            return None
        recv: Callable[[int], bytes] | None = getattr(transport, "_quick_recv", None)
        if recv is None or not isinstance(getattr(transport, "_read_buffer", None), bytes):
            return None

        def recv_ahead(wanted: int) -> bytes:
            return recv(max(wanted, READ_AHEAD_BYTES))

        transport._quick_recv = recv_ahead
        return cls(amqp_connection, transport)

    def buffered(self) -> bool:
        """A whole frame was read from the socket and not parsed yet. Part of a frame does
        not count: the rest has to come through the socket, which select() can wait for."""
        buffer: bytes = self._transport._read_buffer
        if len(buffer) < _FRAME_OVERHEAD:
            return False
        return len(buffer) >= _FRAME_OVERHEAD + int.from_bytes(buffer[3:7], "big")

    def parse_buffered_frame(self) -> None:
        """Parse one frame `buffered()` said is whole, without py-amqp's timeout switches.

        The frame handler raises what `drain_events` would (the connection's errors), and
        calls the consumer's callback once a message's last frame is in.
        """
        self._connection.on_inbound_frame(self._transport.read_frame())
