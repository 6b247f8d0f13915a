"""Publishing Pulse messages to a kombu broker from one dedicated thread.

kombu is blocking, so the simulator hands messages to a single worker thread; one
thread and one FIFO keep every task's messages in order and never block the event loop.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from typing import Any

import kombu
import structlog

from mozci_monitor.sim.pulse_messages import TASK_EXCHANGES, PulseMessage, exchange_name

log = structlog.get_logger(__name__)
# kombu has no type annotations; keep its untyped surface behind Any.
_kombu: Any = kombu

_STOP = object()


def declare_exchanges(connection: Any) -> dict[str, Any]:
    """Declare the six queue task exchanges (topic, durable) and return them by name."""
    exchanges: dict[str, Any] = {}
    channel = connection.default_channel
    for suffix in TASK_EXCHANGES:
        name = exchange_name(suffix.removeprefix("task-"))
        exchange = _kombu.Exchange(name, type="topic", durable=True)
        exchange(channel).declare()
        exchanges[name] = exchange
    return exchanges


class PulsePublisher:
    """Publishes `PulseMessage`s in submission order on a background thread.

    `emulate_cc` publishes one extra copy per CC routing key, for transports (like
    `memory://`) that ignore RabbitMQ's CC header; with AMQP the header does the work.
    """

    def __init__(
        self, broker_url: str, *, emulate_cc: bool | None = None, connect_retries: int = 3
    ) -> None:
        self.broker_url = broker_url
        self.connect_retries = max(connect_retries, 1)
        self.emulate_cc = (
            emulate_cc if emulate_cc is not None else not broker_url.startswith(("amqp", "pyamqp"))
        )
        self.published: Counter[str] = Counter()
        self.errors = 0
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        """Connect, declare exchanges and start the worker; raises if the broker is unusable."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sim-pulse-publisher", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self._thread = None
            raise failure

    def publish(self, message: PulseMessage) -> None:
        """Queue a message; never blocks."""
        self._queue.put(message)

    def drain(self) -> None:
        """Block until every queued message has been handed to the broker."""
        self._queue.join()

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.published)

    def _run(self) -> None:
        try:
            connection = _kombu.Connection(self.broker_url)
            connection.ensure_connection(
                max_retries=self.connect_retries, interval_start=0.1, interval_step=0.5
            )
            exchanges = declare_exchanges(connection)
            producer = _kombu.Producer(connection.default_channel)
            publish = connection.ensure(producer, producer.publish, max_retries=3)
        except BaseException as exc:  # handed to start() in the caller's thread
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is _STOP:
                        return
                    assert isinstance(item, PulseMessage)
                    self._send(publish, exchanges, item)
                finally:
                    self._queue.task_done()
        finally:
            connection.release()

    def _send(self, publish: Any, exchanges: dict[str, Any], message: PulseMessage) -> None:
        exchange = exchanges[message.exchange]
        keys = [message.routing_key]
        if self.emulate_cc:
            keys += list(message.cc)
        try:
            for index, key in enumerate(keys):
                headers = {"CC": list(message.cc)} if index == 0 and not self.emulate_cc else {}
                publish(
                    message.body,
                    exchange=exchange,
                    routing_key=key,
                    serializer="json",
                    delivery_mode=2,
                    headers=headers,
                )
        except Exception:
            log.exception("sim.publish_failed", exchange=message.exchange)
            with self._lock:
                self.errors += 1
            return
        with self._lock:
            self.published[message.exchange] += 1
