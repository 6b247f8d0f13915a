"""Run the real daemon (SQLite store, kombu consumer) against a queue and time it.

The daemon is built by the tests' one daemon builder (tests/support/daemon.py) from
production settings (same defaults for prefetch, batch size and batch wait), except that
the consumer is timed and `services` is chosen by the benchmark: None for
the pure consume → commit → ack path, the simulator's Taskcluster for the latency run.
Logging is configured as in production (JSON lines) but written to a file, so its cost
is counted and the terminal stays readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import structlog

from bench.rabbit import cpu_by_thread, cpu_seconds
from mozci_monitor.config import DaemonSettings, PulseSettings, Settings, StoreSettings
from mozci_monitor.core.model import Request, TimelineEntry
from mozci_monitor.daemon import Daemon
from mozci_monitor.logs import configure_logging
from mozci_monitor.pulse import ConsumerSettings, Delivery, PulseConsumer
from mozci_monitor.store.sqlite import SqliteConnector, SqliteStore
from mozci_monitor.wiring import Services
from tests.support.daemon import assemble_daemon, consumer_settings

_log_file: TextIO | None = None


def log_to_file(path: Path, level: str = "info") -> None:
    """Production logging (JSON lines, info) into `path` instead of stderr."""
    global _log_file
    configure_logging(format="json", level=level)
    if _log_file is None:
        _log_file = path.open("a")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_log_file))


def register_all(store: SqliteStore, requests: Sequence[Request], at: str) -> None:
    """Add watched requests in one transaction (what Engine.register does, without 1 fsync each)."""
    with store.transaction():
        for request in requests:
            store.add_request(request, at)
            store.append_timeline(
                request.request_id,
                [TimelineEntry("registered", None, {"label": request.label})],
                at,
            )


class TimedConsumer(PulseConsumer):
    """The production consumer, noting when deliveries are first handed out and acked."""

    def __init__(self, settings: ConsumerSettings, expected: int) -> None:
        super().__init__(settings)
        self.expected = expected
        self.first_delivery: float | None = None
        self.acks_requested = 0
        self.all_acked_requested: float | None = None
        self.batches = 0

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        batch = await super().get_batch(max_items, max_wait)
        if batch:
            self.batches += 1
            if self.first_delivery is None:
                self.first_delivery = time.perf_counter()
        return batch

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        super().ack(deliveries)
        self.acks_requested += len(deliveries)
        if self.all_acked_requested is None and self.acks_requested >= self.expected:
            self.all_acked_requested = time.perf_counter()


@dataclass
class DrainResult:
    messages: int
    started_to_acked_s: float  # daemon.run() called → broker has every ack
    first_delivery_to_acked_s: float  # first batch handed out → broker has every ack
    batches: int
    counters: dict[str, int]
    engine_s: float  # time inside Engine.apply (store thread, commit included)
    commit_s: float  # of which in COMMIT (the fsync of synchronous=FULL)
    cpu_s: float  # CPU time of the whole process (every thread) from start to last ack
    # The same per thread (by name; threads started during the drain counted from zero).
    cpu_by_thread_s: dict[str, float]


def bench_settings(
    url: str,
    queue: str,
    store_path: Path,
    *,
    sources: Any = None,
    actions: Any = None,
    pulse: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
) -> Settings:
    """Production defaults, except the broker, queue and store (and explicit overrides)."""
    extra: dict[str, Any] = {}
    if sources is not None:
        extra["sources"] = sources
    if actions is not None:
        extra["actions"] = actions
    return Settings(
        pulse=PulseSettings(url=url, queue=queue, **(pulse or {})),
        store=StoreSettings(path=str(store_path)),
        daemon=DaemonSettings(**(daemon or {})),
        **extra,
    )


def make_daemon(
    settings: Settings, expected: int, services: Services | None = None
) -> tuple[Daemon, TimedConsumer, SqliteStore]:
    consumer = TimedConsumer(consumer_settings(settings.pulse), expected)
    store = SqliteStore(settings.store.path)  # concrete: _time_engine instruments its COMMIT
    daemon = assemble_daemon(settings, store=store, consumer=consumer, services=services)
    return daemon, consumer, store


async def drain(settings: Settings, expected: int, limit_s: float) -> DrainResult:
    """Start the daemon on a pre-filled queue; stop once the broker has `expected` acks."""
    daemon, consumer, store = make_daemon(settings, expected)
    timings = _time_engine(daemon, store)
    cpu_start = cpu_seconds()
    threads_start = cpu_by_thread()
    started = time.perf_counter()
    runner = asyncio.create_task(daemon.run(install_signal_handlers=False))
    deadline = time.monotonic() + limit_s
    try:
        while True:
            if runner.done():
                await runner
                raise RuntimeError("the daemon stopped before draining the queue")
            if consumer.health.acked >= expected:
                done = time.perf_counter()
                cpu = cpu_seconds() - cpu_start
                by_thread = _minus(cpu_by_thread(), threads_start)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"daemon acked {consumer.health.acked}/{expected} within {limit_s}s"
                )
            await asyncio.sleep(0.002)
    finally:
        daemon.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, 30)
        store.close()
    assert consumer.first_delivery is not None
    return DrainResult(
        messages=expected,
        started_to_acked_s=done - started,
        first_delivery_to_acked_s=done - consumer.first_delivery,
        batches=consumer.batches,
        counters=dict(daemon.health.counters),
        engine_s=timings["apply"],
        commit_s=timings["commit"],
        cpu_s=cpu,
        cpu_by_thread_s=by_thread,
    )


def _minus(end: dict[str, float], start: dict[str, float]) -> dict[str, float]:
    return {name: round(end[name] - start.get(name, 0.0), 3) for name in end}


def _time_engine(daemon: Daemon, store: SqliteStore) -> dict[str, float]:
    """Wrap Engine.apply and the store's COMMIT to add up the time spent in them."""
    timings = {"apply": 0.0, "commit": 0.0}
    apply = daemon.engine.apply

    def timed_apply(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return apply(*args, **kwargs)
        finally:
            timings["apply"] += time.perf_counter() - start

    connector = store.connector
    assert isinstance(connector, SqliteConnector)
    db = connector._db  # the benchmark's own instrumentation; never done in the package

    class _TimedConnection:
        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql != "COMMIT":
                return db.execute(sql, *args)
            start = time.perf_counter()
            try:
                return db.execute(sql, *args)
            finally:
                timings["commit"] += time.perf_counter() - start

    daemon.engine.apply = timed_apply  # type: ignore[method-assign]
    connector._db = _TimedConnection()  # type: ignore[assignment]
    return timings
