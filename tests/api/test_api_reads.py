"""The daemon's API reads use their own connection and thread: they never queue behind
message commits. And the daemon's retention pass empties what it may, batch by batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from store.pulse_builder import GROUP, make_request
from support.daemon import assemble_daemon

from mozci_monitor.api import SubmissionDefaults
from mozci_monitor.api_backend import DaemonApiBackend
from mozci_monitor.campaigns import CampaignService
from mozci_monitor.config import DaemonSettings, RetentionSettings, Settings
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import Push
from mozci_monitor.daemon import Daemon
from mozci_monitor.store.sqlite import SqliteStore

from .test_api_daemon import QueueConsumer

AT = "2026-11-22T10:00:00.000Z"
LONG_AGO = "2026-10-01T00:00:00.000Z"
GUARD = 30.0  # only so that a regression fails instead of hanging; never reached when it works


@dataclass
class Wired:
    daemon: Daemon
    store: SqliteStore
    backend: DaemonApiBackend


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    store = SqliteStore(tmp_path / "daemon.sqlite3")
    settings = Settings(
        daemon=DaemonSettings(batch_wait=0.05, stall_timeout=60.0, shutdown_grace=2.0),
        retention=RetentionSettings(rejected_days=7, rejected_max_rows=100, batch=2),
    )
    daemon = assemble_daemon(settings, store=store, consumer=QueueConsumer(), wall_clock=lambda: AT)
    campaigns = CampaignService(daemon, defaults=SubmissionDefaults(max_actions_per_request=3))
    backend = DaemonApiBackend(daemon, store, campaigns)
    task = asyncio.create_task(daemon.run(install_signal_handlers=False))
    try:
        yield Wired(daemon, store, backend)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, GUARD)
        store.close()


async def test_api_reads_complete_while_the_store_thread_holds_a_write_transaction(
    wired: Wired,
) -> None:
    campaign = Campaign("c-123456", CampaignKind.WATCH, Push("autoland", "a" * 40, GROUP))
    await wired.daemon.in_store(wired.store.add_campaign, campaign, AT)
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        # What a long batch commit looks like from the outside: the store thread busy,
        # inside a write transaction, with rows not yet committed.
        with wired.store.transaction():
            wired.store.add_request(make_request("in-flight"), AT)
            holding.set()
            release.wait()

    writer = asyncio.ensure_future(wired.daemon.in_store(hold_the_writer))
    try:
        await asyncio.wait_for(asyncio.to_thread(holding.wait), GUARD)
        exact = await asyncio.wait_for(wired.backend.get_campaign("c-123456"), GUARD)
        by_prefix = await asyncio.wait_for(wired.backend.get_campaign("c-1234"), GUARD)
        listed = await asyncio.wait_for(
            wired.backend.list_campaigns(open_only=True, limit=10), GUARD
        )
        assert not writer.done()  # the writer really was holding its transaction meanwhile
    finally:
        release.set()
        await writer
    assert exact == campaign and by_prefix == campaign
    assert [c.campaign_id for c in listed] == ["c-123456"]


async def test_the_retention_pass_deletes_in_batches_until_nothing_is_left(wired: Wired) -> None:
    def fill() -> None:
        with wired.store.transaction():
            for n in range(5):
                wired.store.record_rejection(Rejection("ex", "rk", f"old {n}", b"x"), LONG_AGO)
            wired.store.record_rejection(Rejection("ex", "rk", "recent", b"x"), AT)

    await wired.daemon.in_store(fill)

    deleted = await wired.daemon.prune_once()

    assert deleted == {"rejected": 5}  # three batches of at most 2
    remaining = await wired.daemon.in_store(wired.store.rejections)
    assert [r.reason for r in remaining] == ["recent"]
