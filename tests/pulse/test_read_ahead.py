"""The kombu thread reads the AMQP socket a chunk at a time (pulse/_read_ahead.py).

Frames read ahead sit in py-amqp's buffer, where select() cannot see them: the worker must
parse them before it waits on the socket again, or the last messages of a burst wait for
the next heartbeat. Against a real RabbitMQ, every wait on the socket is checked to start
with no whole frame buffered.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import amqp
import amqp.transport
import pytest
from amqp.exceptions import UnexpectedFrame
from broker import RabbitMQ, publish_many, unique_queue_name
from pulse.test_consumer_rabbitmq import COMPLETED, collect, make_settings, routing_key, running
from pulse.test_consumer_rabbitmq import slugid as new_slug

from mozci_monitor.pulse import ConsumerSettings, _worker, task_group_binding
from mozci_monitor.pulse._bridge import SharedState
from mozci_monitor.pulse._read_ahead import READ_AHEAD_BYTES, ReadAhead
from mozci_monitor.pulse._wakeup import Waker
from mozci_monitor.pulse._worker import KombuWorker


class Transport:
    """The two attributes of py-amqp's transport that read-ahead uses."""

    def __init__(self, buffer: bytes = b"") -> None:
        self._read_buffer = buffer
        self.asked: list[int] = []

    def _quick_recv(self, wanted: int) -> bytes:
        self.asked.append(wanted)
        return b""


class Connection:
    def __init__(self, transport: object) -> None:
        self.transport = transport


def frame(payload: bytes) -> bytes:
    return b"\x01\x00\x01" + len(payload).to_bytes(4, "big") + payload + b"\xce"


@pytest.mark.parametrize(
    ("buffer", "whole_frame"),
    [
        (b"", False),
        (frame(b"")[:7], False),  # a header alone
        (frame(b"x" * 100)[:50], False),  # the payload is still coming
        (frame(b"x" * 100)[:-1], False),  # all but the end octet
        (frame(b""), True),
        (frame(b"x" * 100), True),
        (frame(b"x" * 100) + frame(b"y")[:3], True),  # one whole frame and part of the next
    ],
)
def test_only_a_whole_frame_counts_as_buffered(buffer: bytes, whole_frame: bool) -> None:
    read_ahead = ReadAhead.install(Connection(Transport(buffer)))
    assert read_ahead is not None
    assert read_ahead.buffered() is whole_frame


def test_the_socket_is_asked_for_a_chunk() -> None:
    transport = Transport()
    assert ReadAhead.install(Connection(transport)) is not None
    transport._quick_recv(7)
    transport._quick_recv(READ_AHEAD_BYTES * 2)
    assert transport.asked == [READ_AHEAD_BYTES, READ_AHEAD_BYTES * 2]


def test_a_transport_without_a_buffered_reader_is_left_alone() -> None:
    assert ReadAhead.install(Connection(object())) is None
    assert ReadAhead.install(object()) is None


def test_another_py_amqp_major_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = Transport()
    monkeypatch.setattr(amqp, "VERSION", amqp.VERSION._replace(major=6))
    assert ReadAhead.install(Connection(transport)) is None
    assert transport._quick_recv(7) == b"" and transport.asked == [7]  # its own reads


@pytest.mark.parametrize("kind", [amqp.transport.TCPTransport, amqp.transport.SSLTransport])
def test_py_amqp_keeps_what_a_read_returned_beyond_the_bytes_asked_for(kind: type) -> None:
    """The assumption read-ahead rests on, on the installed py-amqp's own readers (plain
    and TLS: real Pulse is amqps://)."""
    sent = frame(b"first") + frame(b"second")
    transport = kind.__new__(kind)
    transport._read_buffer = b""
    chunks = [sent]
    transport._quick_recv = lambda wanted: chunks.pop(0)  # everything in one read
    assert transport._read(7) == sent[:7]
    assert transport._read_buffer == sent[7:]


class Buffered:
    """A connection whose transport already holds whole frames (read ahead during an
    earlier call, e.g. a queue_bind between passes) and whose socket has nothing more.
    Frames parsed from the buffer go to its frame handler; `drain_events` (which switches
    the socket's timeout around every frame) must not be needed for them."""

    def __init__(self, buffer: bytes) -> None:
        self.transport = Transport(buffer)
        self.connection = self  # kombu's `.connection` is py-amqp's, which has the transport
        self.parsed: list[tuple[int, int, bytes]] = []
        self.drain_calls = 0

    def on_inbound_frame(self, frame: tuple[int, int, bytes]) -> bool:
        self.parsed.append(frame)
        return True

    def drain_events(self, *, timeout: float) -> None:
        self.drain_calls += 1
        raise TimeoutError


def test_frames_already_buffered_are_parsed_without_waiting_on_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    def wait_readable(sock: Any, waker: Any, timeout: float) -> tuple[bool, bool]:
        waits.append(timeout)
        return False, False  # nothing arrives on the socket: the frames are all buffered

    monkeypatch.setattr(_worker, "wait_readable", wait_readable)
    settings = ConsumerSettings(url="memory://", queue_name=unique_queue_name("read-ahead"))
    worker = KombuWorker(settings, SharedState(()), Waker(), lambda error: None)
    partial = frame(b"next")[:5]
    connection = Buffered(frame(b"x") + frame(b"") + b"\x08\x00\x00" + frame(b"y")[3:] + partial)
    worker._read_ahead = ReadAhead.install(connection)
    quiet, other_end = socket.socketpair()
    try:
        worker._wait_and_drain(connection, quiet, heartbeat=60.0)  # type: ignore[arg-type]
    finally:
        quiet.close()
        other_end.close()
    assert connection.parsed == [(1, 1, b"x"), (1, 1, b""), (8, 0, b"y")]
    # Neither a wait on the socket nor py-amqp's drain (and its timeout switches) for them;
    # the start of the next frame is left for the socket to finish.
    assert (waits, connection.drain_calls) == ([], 0)
    assert connection.transport._read_buffer == partial


def test_parsing_stops_at_the_limit_and_keeps_the_rest() -> None:
    connection = Buffered(frame(b"a") + frame(b"b") + frame(b"c"))
    read_ahead = ReadAhead.install(connection)
    assert read_ahead is not None
    assert read_ahead.parse_buffered_frames(2) == 2
    assert connection.transport._read_buffer == frame(b"c")
    assert read_ahead.parse_buffered_frames(5) == 1
    assert [payload for _, _, payload in connection.parsed] == [b"a", b"b", b"c"]
    assert connection.transport._read_buffer == b""


def test_a_frame_with_a_wrong_end_octet_is_refused_as_py_amqp_refuses_it() -> None:
    broken = frame(b"a")[:-1] + b"\x00"
    connection = Buffered(frame(b"ok") + broken)
    read_ahead = ReadAhead.install(connection)
    assert read_ahead is not None
    with pytest.raises(UnexpectedFrame):
        read_ahead.parse_buffered_frames(10)
    assert connection.parsed == [(1, 1, b"ok")]  # the good frame before it went through


def test_a_handler_that_resets_the_transport_keeps_its_reset() -> None:
    connection = Buffered(frame(b"close") + frame(b"after"))

    def closing(frame: tuple[int, int, bytes]) -> bool:
        connection.transport._read_buffer = b""  # what a connection close does
        return True

    connection.on_inbound_frame = closing  # type: ignore[method-assign]
    read_ahead = ReadAhead.install(connection)
    assert read_ahead is not None
    read_ahead.parse_buffered_frames(1)
    assert connection.transport._read_buffer == b""


class Watch:
    """Records, at every wait on the AMQP socket, whether whole frames sat in the buffer."""

    def __init__(self) -> None:
        self.read_aheads: list[ReadAhead] = []
        self.waits_with_frames_buffered = 0
        self.frames_parsed_from_buffer = 0


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    watch = Watch()
    install, wait, was_buffered = ReadAhead.install, _worker.wait_readable, ReadAhead.buffered
    parse = ReadAhead.parse_buffered_frames

    def installing(amqp_connection: Any) -> ReadAhead | None:
        read_ahead = install(amqp_connection)
        if read_ahead is not None:
            watch.read_aheads.append(read_ahead)
        return read_ahead

    def waiting(*args: Any, **kwargs: Any) -> Any:
        watch.waits_with_frames_buffered += any(map(was_buffered, watch.read_aheads))
        return wait(*args, **kwargs)

    def parsing(self: ReadAhead, limit: int) -> int:
        parsed = parse(self, limit)
        watch.frames_parsed_from_buffer += parsed
        return parsed

    monkeypatch.setattr(ReadAhead, "install", staticmethod(installing))
    monkeypatch.setattr(ReadAhead, "parse_buffered_frames", parsing)
    monkeypatch.setattr(_worker, "wait_readable", waiting)
    yield watch


@pytest.fixture
def queue_name(rabbitmq: RabbitMQ) -> Iterator[str]:
    name = unique_queue_name("read-ahead")
    yield name
    with contextlib.suppress(Exception):
        rabbitmq.delete_queue(name)


@pytest.mark.rabbitmq
async def test_a_burst_is_parsed_from_the_buffer_before_the_socket_is_waited_on(
    rabbitmq: RabbitMQ, queue_name: str, watch: Watch
) -> None:
    group = new_slug()
    settings = make_settings(rabbitmq.url, queue_name, task_group_binding(group))
    keys = [routing_key(group) for _ in range(300)]
    async with running(settings) as consumer:
        publish_many(rabbitmq.url, COMPLETED, [(key, b"{}") for key in keys])
        got = await collect(consumer, len(keys))
        consumer.ack(got)
    assert sorted(d.routing_key for d in got) == sorted(keys)
    assert len(watch.read_aheads) == 1  # installed on the session's transport
    assert watch.waits_with_frames_buffered == 0
    # The chunks did hold several frames: the buffer, not the socket, served some of them,
    # cut out here (py-amqp's drain would switch timeouts for each). How many depends on
    # how the bytes arrived (a slow publisher's trickle: about two frames a message).
    assert watch.frames_parsed_from_buffer > 0
