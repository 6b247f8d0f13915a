"""Readiness follows real commits: a failed batch commit means not ready until one succeeds.

The periodic write probe commits nothing (it rolls back), so on a full disk it succeeds
while every real commit fails; it must not turn the daemon ready again on its own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from store.pulse_builder import FakeTask, slug
from structlog.testing import capture_logs
from support.daemon import connected_health
from support.waiting import WITHIN, until

from mozci_monitor.config import DaemonSettings, Settings
from mozci_monitor.pulse import ConsumerHealth, Delivery
from mozci_monitor.store.sqlite import SqliteStore
from mozci_monitor.wiring import build


class FullDiskStore(SqliteStore):
    """Commits fail with SQLite's disk-full error while `full`; rolled-back work succeeds."""

    full = False  # the schema is written first

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        if self.full and not rollback:
            raise sqlite3.OperationalError("database or disk is full")
        with super().transaction(rollback=rollback):
            yield


class FrozenStore(FullDiskStore):
    """Unwritable while `full`, probe included (a file made immutable, a read-only mount)."""

    def probe_writable(self) -> None:
        if self.full:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        super().probe_writable()


class OneMessageConsumer:
    def __init__(self, delivery: Delivery | None) -> None:
        self.pending = [] if delivery is None else [delivery]
        self.acked: list[Delivery] = []

    @property
    def health(self) -> ConsumerHealth:
        return connected_health()

    async def start(self) -> None:
        pass

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        if not self.pending:
            await asyncio.sleep(max_wait)
            return []
        return list(self.pending)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked.extend(deliveries)
        self.pending = []

    def set_bindings(self, routing_keys: set[str]) -> None:
        pass

    def is_stalled(self, now: float) -> bool:
        return False

    async def stop(self, grace: float) -> None:
        pass


def _delivery() -> Delivery:
    message = FakeTask(slug(1)).pending()
    return Delivery(
        message.exchange, message.routing_key, json.dumps(message.payload).encode(), False
    )


async def test_a_failed_commit_keeps_the_daemon_not_ready_until_a_commit_succeeds(
    tmp_path: Path,
) -> None:
    delivery = _delivery()
    store = FullDiskStore(tmp_path / "state.sqlite3")
    store.full = True
    consumer = OneMessageConsumer(delivery)
    settings = Settings(daemon=DaemonSettings(batch_wait=0.01, store_retry_max=0.05))
    daemon = build(settings, store=store, consumer=consumer, services=None, api=False).daemon
    runner: Awaitable[int] = asyncio.create_task(daemon.run(install_signal_handlers=False))
    try:
        await until(lambda: daemon.health.counters.get("store_errors", 0) > 0, "a failed commit")
        await daemon.probe_store()  # succeeds: it rolls back, the disk being full or not
        health = daemon.api_health()
        assert not health.ready
        assert "store writable: no" in health.reasons
        assert consumer.acked == []  # the batch is held, not lost

        store.full = False
        await until(lambda: consumer.acked == [delivery], "the held batch committed and acked")
        await daemon.probe_store()
        assert daemon.api_health().ready
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(runner, WITHIN) == 0


async def test_a_held_batch_is_logged_even_when_the_probe_found_the_store_unwritable_first(
    tmp_path: Path,
) -> None:
    # The chaos scenario "store unwritable" waits for this line; the 10 s probe falling
    # between the freeze and the first batch used to silence it (a flake under load).
    store = FrozenStore(tmp_path / "state.sqlite3")
    consumer = OneMessageConsumer(None)
    settings = Settings(daemon=DaemonSettings(batch_wait=0.01, store_retry_max=0.05))
    daemon = build(settings, store=store, consumer=consumer, services=None, api=False).daemon
    runner: Awaitable[int] = asyncio.create_task(daemon.run(install_signal_handlers=False))
    try:
        with capture_logs() as logs:
            await until(lambda: daemon.health.started, "the daemon started")
            store.full = True
            await daemon.probe_store()
            assert not daemon.api_health().ready
            delivery = _delivery()
            consumer.pending = [delivery]
            await until(
                lambda: daemon.health.counters.get("store_errors", 0) > 0, "a failed commit"
            )
            store.full = False
            await until(lambda: consumer.acked == [delivery], "the held batch committed and acked")
        events = [e["event"] for e in logs if e["event"].startswith("store ")]
        assert events == [
            "store not writable",
            "store not writable; holding the batch unacked",
            "store writable again",
        ]
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(runner, WITHIN) == 0


async def test_what_start_up_built_is_frozen_for_the_collector_while_the_daemon_runs(
    tmp_path: Path,
) -> None:
    delivery = _delivery()
    consumer = OneMessageConsumer(delivery)
    settings = Settings(daemon=DaemonSettings(batch_wait=0.01))
    store = SqliteStore(tmp_path / "state.sqlite3")
    daemon = build(settings, store=store, consumer=consumer, services=None, api=False).daemon
    assert gc.get_freeze_count() == 0
    runner: Awaitable[int] = asyncio.create_task(daemon.run(install_signal_handlers=False))
    try:
        await until(lambda: consumer.acked == [delivery], "the message committed and acked")
        assert gc.get_freeze_count() > 0  # gc.freeze() after start-up
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(runner, WITHIN) == 0
    assert gc.get_freeze_count() == 0  # handed back to the collector at the stop
