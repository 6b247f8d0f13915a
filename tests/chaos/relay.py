"""Publishing for the simulator, with mischief: duplicates, reordering, hostile messages.

The simulator runs without a broker of its own (`sim_publishes=False`); `Relay` receives
every message it builds and publishes it (transformed) over one kombu connection, from one
thread, in the order given, so the test knows exactly what reached the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import random
import socket
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import kombu

from mozci_monitor.sim import PulseMessage
from mozci_monitor.sim.pulse_messages import TASK_EXCHANGES, exchange_name

_TRANSPORT_OPTIONS = {"socket_settings": {socket.TCP_USER_TIMEOUT: 30_000}}


@dataclass(frozen=True)
class Raw:
    """One message exactly as it goes on the wire."""

    exchange: str
    routing_key: str
    body: bytes
    cc: tuple[str, ...] = ()


def raw(message: PulseMessage) -> Raw:
    return Raw(message.exchange, message.routing_key, json.dumps(message.body).encode(), message.cc)


class WirePublisher:
    """Publishes `Raw` messages in order from its own thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.errors: list[str] = []
        self._queue: queue.Queue[Raw | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="chaos-publisher", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def publish(self, message: Raw) -> None:
        self._queue.put(message)

    def drain(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            connection: Any = kombu.Connection(
                self.url, connect_timeout=5, transport_options=_TRANSPORT_OPTIONS
            )
            connection.ensure_connection(max_retries=5)
            channel = connection.channel()
            for suffix in TASK_EXCHANGES:
                name = exchange_name(suffix.removeprefix("task-"))
                kombu.Exchange(name, type="topic", durable=True)(channel).declare()
            producer = kombu.Producer(channel)
            # Other test sessions restart the shared broker now and then: reconnect, resend.
            publish = connection.ensure(producer, producer.publish, max_retries=10)
        except BaseException as error:
            self._failure = error
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is None:
                        return
                    publish(
                        item.body,
                        exchange=item.exchange,
                        routing_key=item.routing_key,
                        content_type="application/json",
                        content_encoding="binary",
                        delivery_mode=2,
                        headers={"CC": list(item.cc)} if item.cc else {},
                    )
                    self.sent += 1
                except Exception as error:
                    self.errors.append(repr(error))
                finally:
                    self._queue.task_done()
        finally:
            connection.release()


Transform = Callable[[list[PulseMessage]], list[Raw]]


@contextlib.asynccontextmanager
async def relaying(
    sim: Any,
    url: str,
    transform: Transform,
    *,
    window: float = 0.1,
    notes: list[Callable[[], str]] | None = None,
) -> AsyncIterator[WirePublisher]:
    """Gather the simulator's messages for `window` seconds at a time and publish
    `transform(gathered)`; flushes what is left when the block ends."""
    gathered: list[PulseMessage] = []
    sim.add_message_listener(gathered.append)
    publisher = WirePublisher(url)
    await asyncio.to_thread(publisher.start)

    def flush() -> None:
        batch = list(gathered)
        gathered.clear()
        for message in transform(batch):
            publisher.publish(message)

    async def pump() -> None:
        while True:
            await asyncio.sleep(window)
            try:
                flush()
            except Exception as error:
                failures.append(repr(error))

    failures: list[str] = []
    if notes is not None:
        notes.append(
            lambda: (
                f"relay: sent {publisher.sent}, not yet {publisher._queue.qsize()},"
                f" transform failures {failures[:3]}, publish errors {publisher.errors[:3]}"
            )
        )

    pumping = asyncio.create_task(pump())
    try:
        yield publisher
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        flush()
        await asyncio.to_thread(publisher.drain)
        await asyncio.to_thread(publisher.close)


def twice_shuffled(rng: random.Random) -> Transform:
    """Every message twice; each task's copies within a window in random order."""

    def transform(messages: list[PulseMessage]) -> list[Raw]:
        by_task: dict[str, list[PulseMessage]] = defaultdict(list)
        for message in messages:
            by_task[message.body["status"]["taskId"]] += [message, message]
        out: list[Raw] = []
        for copies in by_task.values():
            rng.shuffle(copies)
            out += [raw(m) for m in copies]
        return out

    return transform
