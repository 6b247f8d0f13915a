"""The API served beside the real Daemon: submit over HTTP, Pulse deliveries move the
campaign, `wait` sees it finish; /readyz follows the consumer; cancel refreshes bindings.
The backend is the daemon's own `DaemonApiBackend` (`mozci_monitor.api_backend`).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from store.pulse_builder import GROUP, LABEL, FakeTask, slug
from support.daemon import assemble_daemon, connected_health
from support.waiting import until

from mozci_monitor.api import (
    ApiOptions,
    ApiServer,
    HealthView,
    SubmissionDefaults,
)
from mozci_monitor.api_backend import DaemonApiBackend
from mozci_monitor.campaigns import CampaignService
from mozci_monitor.client import EXIT_FINISHED, MonitorClient
from mozci_monitor.config import DaemonSettings, Settings
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.daemon import Daemon
from mozci_monitor.pulse import ConsumerHealth, Delivery
from mozci_monitor.store.sqlite import SqliteStore

from .fakes import TOKEN

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"


# -- the proposed wiring ------------------------------------------------------------------


class ApiStore(Protocol):
    def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    def find_campaigns(self, prefix: str) -> list[Campaign]: ...
    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]: ...
    def campaign_requests(self, campaign_id: str) -> list[Request]: ...
    def timeline(self, request_id: str) -> list[Any]: ...
    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[Any]: ...


def daemon_health(daemon: Daemon) -> HealthView:
    consumer: Any = daemon._consumer
    stalled = consumer.is_stalled(time.monotonic())
    connected = bool(getattr(getattr(consumer, "health", None), "connected", True))
    checks = {
        "started": daemon.health.started,
        "broker_connected": connected,
        "store_writable": daemon.health.store_writable,
        "consumer_loop_fresh": not stalled,
    }
    reasons = tuple(name.replace("_", " ") + ": no" for name, ok in checks.items() if not ok)
    counters = daemon.health.counters
    status = (
        f"{len(daemon._bound)} task groups watched, {counters.get('messages', 0)} messages"
        if not reasons
        else "not ready: " + "; ".join(reasons)
    )
    return HealthView(
        alive=daemon.health.started and not stalled,
        ready=not reasons,
        reasons=reasons,
        checks=checks,
        status=status,
    )


# -- fixtures -------------------------------------------------------------------------------


class QueueConsumer:
    """A consumer fed by the test: what a Pulse queue would deliver, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.bindings: set[str] = set()
        self.acked: list[Delivery] = []
        self.stalled = False

    async def start(self) -> None:
        pass

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self.queue.get(), max_wait)
        except TimeoutError:
            return []
        batch = [first]
        while not self.queue.empty() and len(batch) < max_items:
            batch.append(self.queue.get_nowait())
        return batch

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.acked.extend(deliveries)

    @property
    def health(self) -> ConsumerHealth:
        return connected_health()

    def set_bindings(self, routing_keys: set[str]) -> None:
        self.bindings = set(routing_keys)

    def is_stalled(self, now: float) -> bool:
        return self.stalled

    async def stop(self, grace: float) -> None:
        pass

    def deliver(self, task: FakeTask, steps: list[Any]) -> None:
        for message in steps:
            body = json.dumps(message.payload).encode()
            self.queue.put_nowait(Delivery(message.exchange, message.routing_key, body, False))


class Running:
    def __init__(self, daemon: Daemon, consumer: QueueConsumer, url: str) -> None:
        self.daemon = daemon
        self.consumer = consumer
        self.url = url


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    consumer = QueueConsumer()
    store = SqliteStore(tmp_path / "daemon.sqlite3")
    settings = Settings(
        daemon=DaemonSettings(batch_wait=0.05, stall_timeout=60.0, shutdown_grace=2.0)
    )
    daemon = assemble_daemon(settings, store=store, consumer=consumer)
    campaigns = CampaignService(daemon, defaults=SubmissionDefaults(max_actions_per_request=3))
    backend = DaemonApiBackend(daemon, store, campaigns)
    server = ApiServer(backend, ApiOptions(port=0, token=TOKEN))
    task = asyncio.create_task(daemon.run(install_signal_handlers=False))
    await server.start()
    try:
        yield Running(daemon, consumer, server.url)
    finally:
        await server.stop()
        daemon.request_stop()
        await asyncio.wait_for(task, 10)
        store.close()


async def test_submit_then_pulse_then_wait_finishes(running: Running) -> None:
    async with MonitorClient(running.url, TOKEN) as client:
        created = await client.submit(
            {
                "kind": "watch",
                "repo": "autoland",
                "revision": REVISION,
                "task_group": GROUP,
                "label": LABEL,
                "times": 2,
            }
        )
        # Registering the campaign bound the consumer to the push's task group.
        assert any(GROUP in key for key in running.consumer.bindings)

        first, second = FakeTask(slug(21)), FakeTask(slug(22))
        running.consumer.deliver(first, first.lifecycle("completed"))
        running.consumer.deliver(second, second.lifecycle("completed"))

        out = io.StringIO()
        code = await client.wait(created["id"], interval=0.05, give_up_after=30, out=out)
        assert code == EXIT_FINISHED, out.getvalue()
        shown = await client.show(created["id"])
        assert shown["state"] == "finished"
        (request,) = shown["requests"]
        assert sorted(request["task_ids"]) == sorted([slug(21), slug(22)])
        assert len(running.consumer.acked) == 6

        ready = await client.ready()
        assert ready["ready"] is True
        assert ready["checks"]["consumer_loop_fresh"] is True


async def test_cancel_unbinds_and_readyz_follows_the_consumer(running: Running) -> None:
    async with MonitorClient(running.url, TOKEN) as client:
        created = await client.submit(
            {
                "kind": "watch",
                "repo": "autoland",
                "revision": REVISION,
                "task_group": GROUP,
                "label": LABEL,
            }
        )
        assert running.consumer.bindings
        canceled = await client.cancel(created["id"][:6], "changed my mind")
        assert canceled["state"] == "canceled"
        assert running.consumer.bindings == set()  # nothing left to watch

        running.consumer.stalled = True
        not_ready = await client.ready()
        assert not_ready["ready"] is False
        assert "consumer loop fresh: no" in not_ready["reasons"]


async def test_the_wired_daemon_serves_its_metrics(running: Running) -> None:
    """Once daemon.py records metrics (api/wiring_proposal.md)."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics = getattr(running.daemon, "metrics", None)
    if metrics is None:
        pytest.skip("Daemon has no metrics yet (see wiring proposal)")
    async with MonitorClient(running.url, TOKEN) as client:
        created = await client.submit(
            {
                "kind": "watch",
                "repo": "autoland",
                "revision": REVISION,
                "task_group": GROUP,
                "label": LABEL,
            }
        )
        task = FakeTask(slug(31))
        steps = task.lifecycle("completed")
        running.consumer.deliver(task, steps)
        assert await client.wait(created["id"], interval=0.05, give_up_after=30) == 0
    running.consumer.deliver(task, steps[-1:])  # a redelivery: a duplicate
    # The daemon acks, then records, in one step of the loop.
    await until(lambda: len(running.consumer.acked) == 4, "the duplicate acked")
    body, _ = metrics.render()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    queue = "exchange/taskcluster-queue/v1/"
    messages = "mozci_monitor_messages_total"
    for exchange, outcome, count in [
        ("task-pending", "applied", 1),
        ("task-running", "applied", 1),
        ("task-completed", "applied", 1),
        ("task-completed", "duplicate", 1),
    ]:
        key = (messages, (("exchange", queue + exchange), ("outcome", outcome)))
        assert samples.get(key) == count, (exchange, outcome)
    assert samples[("mozci_monitor_batch_processing_seconds_count", ())] >= 2
    finished = (("kind", "watch"), ("state", "finished"))
    assert samples[("mozci_monitor_campaigns_finished_total", finished)] == 1
