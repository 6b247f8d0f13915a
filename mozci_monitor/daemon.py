"""The daemon: the one place where the edges are wired together.

Pulse deliveries → parse → engine (one store transaction per batch) → ack. A batch is acked
only after its transaction committed; if the store cannot be written, nothing is acked and
the same batch is retried until it can be, while the daemon reports itself not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from mozci_monitor.clock import utc_now
from mozci_monitor.config import Settings
from mozci_monitor.core.messages import MalformedMessage, Rejection, parse_message
from mozci_monitor.core.model import FINAL_REQUEST_STATES, Request, TaskEvent
from mozci_monitor.engine import BatchOutcome, Engine, StorePort
from mozci_monitor.pulse import Delivery, task_group_binding

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_STALLED = 3  # the consumer hung (e.g. on a silent broker): let the supervisor restart us


class ConsumerPort(Protocol):
    async def start(self) -> None: ...
    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]: ...
    def ack(self, deliveries: Sequence[Delivery]) -> None: ...
    def set_bindings(self, routing_keys: set[str]) -> None: ...
    def is_stalled(self, now: float) -> bool: ...
    async def stop(self, grace: float) -> None: ...


class DaemonStore(StorePort, Protocol):
    def probe_writable(self) -> None: ...


@dataclass
class Health:
    store_writable: bool = True
    consumer_stalled: bool = False
    started: bool = False
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.started and self.store_writable and not self.consumer_stalled

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


def parse_deliveries(deliveries: Sequence[Delivery]) -> list[TaskEvent | Rejection]:
    items: list[TaskEvent | Rejection] = []
    for delivery in deliveries:
        try:
            items.append(parse_message(delivery.exchange, delivery.routing_key, delivery.body))
        except MalformedMessage as error:
            items.append(
                Rejection(delivery.exchange, delivery.routing_key, error.reason, delivery.body)
            )
    return items


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        store: DaemonStore,
        consumer: ConsumerPort,
        wall_clock: Callable[[], str] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.health = Health()
        self._store = store
        self._engine = Engine(store)
        self._consumer = consumer
        self._now = wall_clock
        self._monotonic = monotonic
        self._stop = asyncio.Event()
        self._exit_code = EXIT_OK
        # SQLite work stays on one thread: the event loop never blocks on disk.
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._bound: set[str] = set()

    def request_stop(self, exit_code: int = EXIT_OK) -> None:
        if not self._stop.is_set():
            self._exit_code = exit_code
            self._stop.set()

    async def run(self, *, install_signal_handlers: bool = True) -> int:
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop)
        await self._refresh_bindings()
        await self._consumer.start()
        self.health.started = True
        log.info("daemon started", queue=self.settings.pulse.queue, groups=len(self._bound))
        workers = [
            asyncio.create_task(self._consume(), name="consume"),
            asyncio.create_task(self._watch_bindings(), name="bindings"),
            asyncio.create_task(self._watch_consumer(), name="stall-watch"),
        ]
        try:
            await self._stop.wait()
        finally:
            self.health.started = False
            log.info("daemon stopping", exit_code=self._exit_code)
            for worker in workers[1:]:
                worker.cancel()
            # The consume loop notices the stop between batches: in-flight work is committed
            # and acked before the consumer closes.
            grace = self.settings.daemon.shutdown_grace
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(workers[0], timeout=grace)
            await asyncio.gather(*workers[1:], return_exceptions=True)
            await self._consumer.stop(grace)
            self._store_thread.shutdown(wait=True)
            if install_signal_handlers:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
        log.info("daemon stopped", exit_code=self._exit_code, **self.health.counters)
        return self._exit_code

    async def _consume(self) -> None:
        settings = self.settings.daemon
        while not self._stop.is_set():
            batch = await self._consumer.get_batch(settings.batch_max, settings.batch_wait)
            if batch:
                await self._handle(batch)

    async def _handle(self, batch: Sequence[Delivery]) -> None:
        items = parse_deliveries(batch)
        outcome = await self._commit(items)
        self._consumer.ack(batch)
        self._report(outcome, items)
        if any(r.state in FINAL_REQUEST_STATES for r in outcome.changed_requests.values()):
            await self._refresh_bindings()

    async def _commit(self, items: list[TaskEvent | Rejection]) -> BatchOutcome:
        """Commit the batch, retrying while the store cannot be written; never gives up."""
        delay = 0.1
        loop = asyncio.get_running_loop()
        while True:
            try:
                outcome = await loop.run_in_executor(
                    self._store_thread, self._engine.apply, items, self._now()
                )
            except Exception as error:  # the store is down: keep the batch, do not ack
                if self.health.store_writable:
                    log.error("store not writable; holding the batch unacked", error=repr(error))
                self.health.store_writable = False
                self.health.count("store_errors")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.daemon.store_retry_max)
                continue
            if not self.health.store_writable:
                log.info("store writable again")
            self.health.store_writable = True
            return outcome

    def _report(self, outcome: BatchOutcome, items: Sequence[TaskEvent | Rejection]) -> None:
        health = self.health
        health.count("messages", len(items))
        health.count("applied", outcome.applied)
        health.count("duplicates", outcome.duplicates)
        health.count("stale", outcome.stale)
        health.count("unwatched", outcome.unwatched)
        health.count("rejected", outcome.rejected)
        for item in items:
            if isinstance(item, Rejection):
                log.warning(
                    "rejected message",
                    exchange=item.exchange[:200],
                    routing_key=item.routing_key[:200],
                    reason=item.reason,
                )
        for request in outcome.changed_requests.values():
            log.info(
                "request changed",
                request=request.request_id,
                label=request.label,
                state=request.state.value,
                failure=request.failure.value if request.failure else None,
                reason=request.reason,
            )

    async def _watch_bindings(self) -> None:
        while True:
            await asyncio.sleep(self.settings.daemon.bindings_refresh)
            await self._refresh_bindings()

    async def _refresh_bindings(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            groups = await loop.run_in_executor(self._store_thread, self._store.open_task_groups)
        except Exception as error:
            log.warning("cannot read watched groups", error=repr(error))
            return
        if groups != self._bound:
            added, removed = groups - self._bound, self._bound - groups
            self._consumer.set_bindings({task_group_binding(group) for group in groups})
            log.info("bindings changed", added=sorted(added), removed=sorted(removed))
            self._bound = groups

    async def _watch_consumer(self) -> None:
        stall = self.settings.daemon.stall_timeout or 2 * self.settings.pulse.heartbeat
        while True:
            await asyncio.sleep(min(1.0, stall / 4))
            stalled = self._consumer.is_stalled(self._monotonic())
            if stalled and not self.health.consumer_stalled:
                log.error("pulse consumer stalled; exiting for the supervisor to restart us")
                self.health.consumer_stalled = True
                self.request_stop(EXIT_STALLED)
            self.health.consumer_stalled = stalled

    # -- used by the CLI and tests ------------------------------------------------------

    async def register(self, request: Request) -> Request:
        loop = asyncio.get_running_loop()
        registered = await loop.run_in_executor(
            self._store_thread, self._engine.register, request, self._now()
        )
        await self._refresh_bindings()
        return registered


def build_daemon(settings: Settings) -> Daemon:
    """Wire the production edges: SQLite store, kombu consumer on the configured broker."""
    from mozci_monitor.config import pulse_url
    from mozci_monitor.pulse import ConsumerSettings, PulseConsumer
    from mozci_monitor.store.sqlite import SqliteStore

    pulse = settings.pulse
    consumer = PulseConsumer(
        ConsumerSettings(
            url=pulse_url(pulse),
            queue_name=pulse.queue,
            prefetch=pulse.prefetch,
            heartbeat=pulse.heartbeat,
            declare_exchanges=pulse.declare_exchanges,
            reconnect_max_delay=pulse.reconnect_max_delay,
        )
    )
    return Daemon(settings, store=SqliteStore(settings.store.path), consumer=consumer)
