"""Reading the AMQP socket a chunk at a time instead of one system call per frame part.

py-amqp reads exactly the bytes it needs next: a frame's 7-byte header, its payload and
its end octet, each with a recv() of its own, so a Pulse message (three frames) costs nine
recv() calls (besides the two timeout switches py-amqp makes around every frame). Its
reader keeps whatever a recv() returns beyond what was asked for in the transport's buffer
and serves the next reads from there, so asking the socket for a chunk each time serves
the following frames from memory. select() cannot see those bytes:
`buffered()` says whether the transport holds any, and the worker parses them before it
waits on the socket again.

The frames already whole in the buffer are cut out here (`parse_buffered_frames`) and
handed to the connection's frame handler, as `blocking_read` does after its read. Through
py-amqp they would cost, each, the two `settimeout` system calls of `having_timeout`
(a frame in memory cannot time out) and a copy of the rest of the buffer for each of its
three parts; here the buffer is sliced once per pass, so a chunk can hold many messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import amqp
from amqp.exceptions import UnexpectedFrame

# Bytes asked of the socket per read: dozens of Pulse messages. py-amqp copies the rest of
# its buffer at each of its own reads, but it reads only the frame that starts a chunk
# (the others are cut out here, one slice per pass).
READ_AHEAD_BYTES = 65536
# The py-amqp releases whose reader keeps the bytes a recv() returns beyond those asked for
# (`_read`: `result, self._read_buffer = rbuf[:n], rbuf[n:]`, the same since 2.x; checked
# with 5.4.2). Another major version is left to read as it does.
_READER_KEEPS_EXTRA_BYTES = {5}
# A frame: type (1 byte), channel (2), payload size (4), the payload, the end octet (1).
_FRAME_OVERHEAD = 8
_FRAME_END = 0xCE


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

    def parse_buffered_frames(self, limit: int) -> int:
        """Hand the whole frames in the buffer (at most `limit`) to the connection's frame
        handler, in order; the part of a frame after them stays for the socket to finish.

        The frame handler raises what `drain_events` would (the connection's errors), and
        calls the consumer's callback once a message's last frame is in. Returns how many
        frames were handed over.
        """
        transport = self._transport
        buffer: bytes = transport._read_buffer
        handle = self._connection.on_inbound_frame
        length = len(buffer)
        position = parsed = 0
        try:
            while parsed < limit and length - position >= _FRAME_OVERHEAD:
                size = int.from_bytes(buffer[position + 3 : position + 7], "big")
                end = position + _FRAME_OVERHEAD + size
                if end > length:
                    break
                if buffer[end - 1] != _FRAME_END:
                    raise UnexpectedFrame(
                        f"Received frame_end {buffer[end - 1]:#04x} while expecting 0xce"
                    )
                channel = int.from_bytes(buffer[position + 1 : position + 3], "big")
                frame = (buffer[position], channel, buffer[position + 7 : end - 1])
                position = end
                parsed += 1
                handle(frame)
        finally:
            # Unless the handler reset the transport (a close), drop what was handed over.
            if position and transport._read_buffer is buffer:
                transport._read_buffer = buffer[position:]
        return parsed
