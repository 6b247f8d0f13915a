"""The simulator and the daemon in the test's event loop, as `mozci_monitor.demo` wires them.

`Scene` owns one simulated Firefox CI (its clock paused until `go()`), one SQLite store and
the daemons that run over it (one at a time; a test may stop one and start a fresh one on the
same store to play a crash). Scenarios are planted on the push that is about to arrive:
`plant(label, {run: outcome})` forces runs of that push's task with this label, from the
moment its decision task creates the graph, so nothing can claim the run first.

Everything a test waits for is bounded (`within`, 30 s by default) and polled: no
assertion depends on how fast anything happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker import publish

from mozci_monitor.config import (
    ActionsSettings,
    DaemonSettings,
    PulseSettings,
    Settings,
    SourcesSettings,
    StoreSettings,
)
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.daemon import EXIT_OK, Daemon, build_services
from mozci_monitor.notify import Notification
from mozci_monitor.pulse import TASK_EXCHANGES, ConsumerSettings, PulseConsumer
from mozci_monitor.sim import Push as SimPush
from mozci_monitor.sim import SimConfig, SimTask, Simulator
from mozci_monitor.store.sqlite import OutboxEntry, SqliteStore, StoredEntry

_PROBE_TASK = "e2eProbeTaskAAAAAAAAAA"  # a slugid no simulated task has
WITHIN = 30.0  # seconds any one wait may take before the test fails
CI_SECONDS_PER_WALL_SECOND = 3600.0  # a push's jobs take about a wall second
SHERIFF = "sheriffs@example.com"


@dataclass(frozen=True)
class Broker:
    url: str
    queue: str  # this test's own Pulse queue


class RecordingSink:
    """A notification sink that keeps what it was given (next to the configured ones)."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)


def sim_config(broker_url: str | None, **overrides: Any) -> SimConfig:
    """A quiet CI: nothing fails unless a test plants it; one live push after the history.

    The seed is random: on a broker shared with other test sessions, two simulators with
    the same seed would publish messages for the same task group ids.
    """
    values: dict[str, Any] = {
        "seed": random.randrange(1 << 30),
        "broker_url": broker_url,
        "pushes": 3,
        "history_pushes": 2,
        "push_interval": 900.0,
        "auto_advance": False,
        "intermittent_rate": 0.0,
        "claim_expired_rate": 0.0,
        "worker_shutdown_rate": 0.0,
        "superseded_rate": 0.0,
        "deadline_exceeded_rate": 0.0,
        "deadline_hours": 240.0,  # no deadline while a test runs, however slow the machine
    }
    values.update(overrides)
    return SimConfig(**values)


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = WITHIN
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.05)


class Scene:
    def __init__(
        self,
        sim: Simulator,
        *,
        broker_url: str,
        queue: str,
        store_path: Path,
        actions: ActionsSettings,
    ) -> None:
        self.sim = sim
        self.broker_url = broker_url
        self.queue = queue
        self.store_path = store_path
        self.actions = actions
        self.reader = SqliteStore(store_path)  # WAL: reads committed state beside the daemon
        self.recorder = RecordingSink()
        self.world_push: SimPush = next(p for p in sim.world.pushes if not p.arrived)
        self.push = Push(sim.config.repo, self.world_push.revision, self.world_push.task_group_id)
        self._planted: dict[str, dict[int, str]] = {}
        self.daemon: Daemon | None = None
        self._runner: asyncio.Task[int] | None = None
        self._clock: asyncio.Task[None] | None = None
        sim.world.decision_listeners.append(self._on_decision)

    # -- the push and its labels -------------------------------------------------------

    @property
    def scheduled(self) -> list[str]:
        return list(self.world_push.scheduled_labels)

    @property
    def scheduled_tests(self) -> list[str]:
        return [label for label in self.scheduled if label.startswith("test-")]

    def unscheduled_tests(self, build: str | None = None) -> list[str]:
        """Tests of the full graph this push optimised away (of one build, if given)."""
        graph = self.sim.world.graph
        scheduled = set(self.scheduled)
        return sorted(
            label
            for label in graph.test_labels
            if label not in scheduled
            and (build is None or graph.dependencies(label).get("build") == build)
        )

    def tasks(self, label: str) -> list[SimTask]:
        return self.sim.tasks_of(self.world_push, label)

    def plant(self, label: str, outcomes: Mapping[int, str]) -> None:
        """Force runs of this push's (first) task with `label`; before the push arrives."""
        assert not self.world_push.arrived, "plant before go(): the push must not be there yet"
        self._planted[label] = dict(outcomes)

    def _on_decision(self, decision: SimTask) -> None:
        if decision.push is not self.world_push:
            return
        for label, outcomes in self._planted.items():
            task_id = self.world_push.label_to_taskid[label]
            for run_id, outcome in outcomes.items():
                self.sim.force_outcome(task_id, run_id, outcome)

    # -- campaigns ---------------------------------------------------------------------

    def watch(
        self,
        label: str,
        *,
        wanted: int = 1,
        require_green: bool = False,
        max_actions: int = 3,
    ) -> tuple[Campaign, Request]:
        campaign_id = "c-" + secrets.token_hex(4)
        campaign = Campaign(
            campaign_id, CampaignKind.WATCH, self.push, label=label, params={"times": wanted}
        )
        request = Request(
            request_id=f"{campaign_id}-r1",
            push=self.push,
            label=label,
            wanted=wanted,
            remedy=RemedyPolicy.WATCH,
            require_green=require_green,
            max_actions=max_actions,
        )
        return campaign, request

    def downstream(self, build: str, *, max_actions: int = 3) -> tuple[Campaign, Request]:
        campaign_id = "c-" + secrets.token_hex(4)
        campaign = Campaign(campaign_id, CampaignKind.DOWNSTREAM, self.push, label=build)
        request = Request(
            request_id=f"{campaign_id}-build",
            push=self.push,
            label=build,
            remedy=RemedyPolicy.WATCH,
            max_actions=max_actions,
        )
        return campaign, request

    async def start(self, campaign: Campaign, *requests: Request) -> Campaign:
        assert self.daemon is not None
        return await self.daemon.start_campaign(campaign, requests)

    async def bound(self) -> None:
        """Wait until the broker routes the push's messages to the daemon's queue.

        Bindings are applied by the consumer's thread some time after a campaign starts;
        until then the broker drops the group's messages (the reconciler would catch up
        through REST). A malformed probe on each exchange shows when they are in place:
        the daemon records it as a rejection.
        """
        probe = f"primary.{_PROBE_TASK}.0._._.probe.probe.probe.{self.push.task_group_id}._"
        missing = set(TASK_EXCHANGES)

        def arrived() -> bool:
            for exchange in sorted(missing):
                publish(self.broker_url, exchange, probe, b"probe")
            seen = {row[1] for row in self.reader.rejections(limit=1000) if row[2] == probe}
            missing.difference_update(seen)
            return not missing

        await until(lambda: asyncio.to_thread(arrived), "the push's group bound on every exchange")

    # -- time --------------------------------------------------------------------------

    def go(self) -> None:
        """Let CI time run (the live push arrives at once)."""
        if self._clock is None:
            self._clock = asyncio.create_task(self._tick(), name="e2e-sim-clock")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            await self.sim.advance((now - last) * CI_SECONDS_PER_WALL_SECOND)
            last = now

    async def pause(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None

    # -- the daemon --------------------------------------------------------------------

    def settings(self) -> Settings:
        sim = self.sim
        return Settings(
            pulse=PulseSettings(url=self.broker_url, queue=self.queue, heartbeat=10.0),
            store=StoreSettings(path=str(self.store_path)),
            daemon=DaemonSettings(
                batch_wait=0.05,
                bindings_refresh=0.2,
                reconcile_interval=1.0,
                shutdown_grace=5.0,
            ),
            sources=SourcesSettings(
                taskcluster_root_url=sim.root_url,
                treeherder_url=sim.treeherder_url,
                hg_url=sim.hg_url,
                taskcluster_rate=500,
            ),
            actions=self.actions,
            notify={"sinks": ["log", "taskcluster"], "email": [SHERIFF]},
        )

    async def start_daemon(self, *, acting: bool = True) -> Daemon:
        """A fresh daemon on the scene's store; `acting=False`: no actuator, no reconciler."""
        assert self.daemon is None, "one daemon at a time"
        settings = self.settings()
        services = None
        if acting:
            services = build_services(settings)
            services.sinks = [*services.sinks, self.recorder]
        consumer = PulseConsumer(
            ConsumerSettings(
                url=self.broker_url, queue_name=self.queue, heartbeat=10.0, prefetch=500
            )
        )
        daemon = Daemon(
            settings, store=SqliteStore(self.store_path), consumer=consumer, services=services
        )
        self.daemon = daemon
        self._runner = asyncio.create_task(daemon.run(install_signal_handlers=False))
        runner = self._runner
        await until(lambda: daemon.health.started or runner.done(), "the daemon started")
        if runner.done():
            raise AssertionError(f"the daemon exited at start: {runner.result()}")
        return daemon

    async def stop_daemon(self) -> None:
        if self.daemon is None or self._runner is None:
            return
        self.daemon.request_stop()
        try:
            code = await asyncio.wait_for(self._runner, WITHIN)
        finally:
            self.daemon, self._runner = None, None
        assert code == EXIT_OK

    # -- what the store says -----------------------------------------------------------

    def campaign(self, campaign_id: str) -> Campaign:
        found = self.reader.get_campaign(campaign_id)
        assert found is not None
        return found

    def request(self, request_id: str) -> Request:
        found = self.reader.get_request(request_id)
        assert found is not None
        return found

    def outbox(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]:
        return self.reader.actions_of(request_id=request_id, campaign_id=campaign_id)

    def timeline(self, request_id: str) -> list[StoredEntry]:
        return self.reader.timeline(request_id)

    async def finished(self, campaign_id: str) -> Campaign:
        """Wait until the campaign is final and its notification has been sent."""
        key = f"campaign:{campaign_id}:finished"
        await until(
            lambda: (
                self.campaign(campaign_id).is_final
                and any(
                    e.key == key and e.state == "done" for e in self.outbox(campaign_id=campaign_id)
                )
            ),
            f"campaign {campaign_id} finished and notified",
        )
        return self.campaign(campaign_id)

    async def close(self) -> None:
        try:
            await self.stop_daemon()
        finally:
            await self.pause()
            await self.sim.stop()
            self.reader.close()


@contextlib.asynccontextmanager
async def scene(
    broker_url: str,
    queue: str,
    tmp_path: Path,
    *,
    actions: ActionsSettings | None = None,
    daemon: bool = True,
    sim_publishes: bool = True,
    **sim_overrides: Any,
) -> AsyncIterator[Scene]:
    """A started simulator (clock paused) and, unless `daemon=False`, an acting daemon.

    `sim_publishes=False`: the simulator publishes nothing (the test publishes for it).
    """
    sim = Simulator(sim_config(broker_url if sim_publishes else None, **sim_overrides))
    await sim.start()
    the_scene = Scene(
        sim,
        broker_url=broker_url,
        queue=queue,
        store_path=tmp_path / "state.sqlite3",
        actions=actions or ActionsSettings(max_per_request=3),
    )
    try:
        if daemon:
            await the_scene.start_daemon()
        yield the_scene
    finally:
        await the_scene.close()


def phases(entries: list[StoredEntry], task_id: str) -> list[tuple[str, Any, Any]]:
    """(phase, run, reasonCreated) of one task's phase entries, in order."""
    return [
        (e.detail["phase"], e.detail.get("run"), e.detail.get("created"))
        for e in entries
        if e.kind == "task-phase" and e.task_id == task_id
    ]


def actions_taken(entries: list[StoredEntry]) -> list[tuple[str, str]]:
    return [(e.detail["action"], e.detail["why"]) for e in entries if e.kind == "action"]


def final_state(entries: list[StoredEntry]) -> dict[str, Any]:
    states = [e.detail for e in entries if e.kind == "state"]
    assert states, "no state entry in the timeline"
    return dict(states[-1])


def without_notifications(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    return [e for e in entries if e.action.kind.value != "notify"]
