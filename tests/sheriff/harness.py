"""Sheriff campaigns over the simulator and the daemon, in the test's event loop.

The wiring is `mozci_monitor.demo`'s: one simulated Firefox CI, one SQLite store, one
daemon at a time over them (a test may stop it and start a fresh one on the same store
and queue to play a restart). Here every push is history: all of them have landed and
finished before the test starts, so planned regressions (`Regression(label, push)`) are
already in the runs a campaign analyses, and nothing arrives while it runs. The clock is
the test's: CI time runs only between `go()` and `pause()`.

Which labels a push schedules depends on the seed (random, so that sessions sharing a
broker never publish for the same task groups); `schedule(config)` reads it without
simulating anything, so a test picks its labels first and plants its regression after.

Everything a test waits for is polled and bounded (`until`); no assertion depends on how
fast anything happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mozci_monitor import planner
from mozci_monitor.config import (
    ActionsSettings,
    DaemonSettings,
    PulseSettings,
    Settings,
    SourcesSettings,
    StoreSettings,
)
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Push, Request
from mozci_monitor.daemon import EXIT_OK, Daemon, Services, build_services
from mozci_monitor.notify import Notification
from mozci_monitor.pulse import ConsumerSettings, PulseConsumer
from mozci_monitor.sim import Push as SimPush
from mozci_monitor.sim import SimConfig, SimTask, Simulator
from mozci_monitor.sim.faults import Fault
from mozci_monitor.sim.world import Transition, World
from mozci_monitor.store.sqlite import OutboxEntry, SqliteStore

WITHIN = 40.0  # seconds any one wait may take before the test fails
CI_SECONDS_PER_WALL_SECOND = 3600.0  # a test job takes a fraction of a wall second
HISTORY = 8  # pushes, all landed and finished before the test starts
SHERIFF = "sheriffs@example.com"
_HOOK_TRIGGER = re.compile(r"/api/hooks/v1/hooks/.+/trigger$")


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


def sheriff_config(broker_url: str | None, **overrides: Any) -> SimConfig:
    """A quiet CI of HISTORY finished pushes: nothing fails unless a test plants it."""
    values: dict[str, Any] = {
        "seed": random.randrange(1 << 30),
        "broker_url": broker_url,
        "pushes": HISTORY,
        "history_pushes": HISTORY,
        # Two CI hours apart: every push's jobs are done before the next push lands.
        "push_interval": 7200.0,
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


def schedule(config: SimConfig) -> list[frozenset[str]]:
    """The test labels each push schedules, oldest first (outcomes do not change it)."""
    world = World(replace(config, regression=None, regressions=(), forced=()))
    return [frozenset(p.scheduled_labels) for p in world.pushes]


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


class HookGate:
    """Lets hook triggers through while open, answers 429 (try later) while closed.

    A 429 means the server did not act, so the daemon retries later: closing the gate
    holds a campaign in the middle of its actions, for as long as a test needs.
    """

    def __init__(self, sim: Simulator) -> None:
        self.open = True
        self.passed = 0
        self.refused = 0
        self.allowance: int | None = None  # close by itself after this many passed
        self._refusal = Fault(re.compile(".*"), "429", None, retry_after=1.0)
        self._take = sim.faults.take
        sim.faults.take = self._gate  # type: ignore[method-assign]

    def close_after(self, passed: int) -> None:
        self.allowance = passed

    def release(self) -> None:
        self.open, self.allowance = True, None

    def _gate(self, method: str, path: str) -> Fault | None:
        if method == "POST" and _HOOK_TRIGGER.search(path):
            if self.allowance is not None and self.passed >= self.allowance:
                self.open = False
            if not self.open:
                self.refused += 1
                return self._refusal
            self.passed += 1
        return self._take(method, path)


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
        self.gate = HookGate(sim)
        self.daemon: Daemon | None = None
        self.services: Services | None = None  # for planning, like the CLI
        self._runner: asyncio.Task[int] | None = None
        self._clock: asyncio.Task[None] | None = None
        self._hold: Callable[[], bool] = lambda: False

    # -- the world -----------------------------------------------------------------------

    @property
    def repo(self) -> str:
        return self.sim.config.repo

    @property
    def pushes(self) -> list[SimPush]:
        return self.sim.world.pushes

    def push(self, index: int) -> Push:
        world_push = self.pushes[index]
        return Push(self.repo, world_push.revision, world_push.task_group_id)

    def tasks(self, index: int, label: str) -> list[SimTask]:
        return self.sim.tasks_of(self.pushes[index], label)

    def drop_decision_index(self, index: int) -> None:
        """The push's decision task can no longer be found by revision (a 404)."""
        revision = self.pushes[index].revision
        del self.sim.world.index[f"gecko.v2.{self.repo}.revision.{revision}.taskgraph.decision"]

    def on_transition(self, listener: Callable[[Transition], None]) -> None:
        """Called synchronously for every queue transition, before its Pulse message."""
        self.sim.world.listeners.insert(0, listener)

    # -- time ----------------------------------------------------------------------------

    def go(self, *, hold: Callable[[], bool] | None = None) -> None:
        """Let CI time run; `hold()` true stops it (checked every tick)."""
        if hold is not None:
            self._hold = hold
        if self._clock is None:
            self._clock = asyncio.create_task(self._tick(), name="sheriff-sim-clock")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            if not self._hold():
                await self.sim.advance((now - last) * CI_SECONDS_PER_WALL_SECOND)
            last = now

    async def pause(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None

    # -- the daemon ----------------------------------------------------------------------

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

    async def start_daemon(self) -> Daemon:
        """A fresh daemon on the scene's store and queue."""
        assert self.daemon is None, "one daemon at a time"
        settings = self.settings()
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

    async def restart_daemon(self) -> Daemon:
        await self.stop_daemon()
        return await self.start_daemon()

    async def start(self, campaign: Campaign, requests: tuple[Request, ...]) -> Campaign:
        assert self.daemon is not None
        return await self.daemon.start_campaign(campaign, requests)

    # -- planning, against the simulator's sources ---------------------------------------

    def _planning_services(self) -> Services:
        if self.services is None:
            self.services = build_services(self.settings())
        return self.services

    async def plan_backfill(self, failing: int, label: str, **options: Any) -> planner.Plan:
        services = self._planning_services()
        assert services.pushlog is not None
        return await planner.plan_backfill(
            services.pushlog,
            services.taskcluster,
            repo=self.repo,
            revision=self.pushes[failing].revision,
            label=label,
            **options,
        )

    async def plan_bisect(self, first: int, last: int, label: str, **options: Any) -> planner.Plan:
        services = self._planning_services()
        assert services.pushlog is not None
        return await planner.plan_bisect(
            services.pushlog,
            services.taskcluster,
            repo=self.repo,
            revision=self.pushes[last].revision,
            first_revision=self.pushes[first].revision,
            label=label,
            **options,
        )

    # -- what the store says -------------------------------------------------------------

    def campaign(self, campaign_id: str) -> Campaign:
        found = self.reader.get_campaign(campaign_id)
        assert found is not None
        return found

    def requests(self, campaign_id: str) -> list[Request]:
        return self.reader.campaign_requests(campaign_id)

    def outbox(self, campaign_id: str) -> list[OutboxEntry]:
        """Every outbox entry of the campaign and of its requests (one per key)."""
        entries = {e.key: e for e in self.reader.actions_of(campaign_id=campaign_id)}
        for request in self.requests(campaign_id):
            for entry in self.reader.actions_of(request_id=request.request_id):
                entries.setdefault(entry.key, entry)
        return list(entries.values())

    def acts(self, campaign_id: str) -> list[OutboxEntry]:
        """The campaign's outbox entries that act on CI (not notifications)."""
        return [e for e in self.outbox(campaign_id) if e.action.kind.value != "notify"]

    async def finished(self, campaign_id: str, within: float = WITHIN) -> Campaign:
        """Wait until the campaign is final and its notification has been sent."""
        key = f"campaign:{campaign_id}:finished"
        await until(
            lambda: (
                self.campaign(campaign_id).is_final
                and any(
                    e.key == key and e.state == "done"
                    for e in self.reader.actions_of(campaign_id=campaign_id)
                )
            ),
            f"campaign {campaign_id} finished and notified",
            within,
        )
        return self.campaign(campaign_id)

    async def settled(self, campaign_id: str) -> None:
        """Wait until no action of the campaign is left to perform."""
        await until(
            lambda: all(e.state in ("done", "failed") for e in self.outbox(campaign_id)),
            f"every action of {campaign_id} performed",
        )

    def notified_once(self, campaign_id: str) -> None:
        """One notification of the campaign's end: one outbox entry, one send, one e-mail."""
        final = self.campaign(campaign_id)
        notes = [n for n in self.recorder.sent if n.campaign_id == campaign_id]
        assert [n.outcome for n in notes] == [final.state.value]
        notify = [
            e
            for e in self.reader.actions_of(campaign_id=campaign_id)
            if e.action.kind.value == "notify"
        ]
        assert [(e.key, e.state) for e in notify] == [(f"campaign:{campaign_id}:finished", "done")]
        mails = [
            n
            for n in self.sim.notifications
            if n.payload.get("address") == SHERIFF and campaign_id in str(n.payload)
        ]
        assert len(mails) == 1

    async def close(self) -> None:
        try:
            await self.stop_daemon()
        finally:
            await self.pause()
            if self.services is not None:
                for close in self.services.closers:
                    await close()
            await self.sim.stop()
            self.reader.close()


@contextlib.asynccontextmanager
async def scene(
    broker: Broker,
    tmp_path: Path,
    config: SimConfig,
    *,
    actions: ActionsSettings | None = None,
    daemon: bool = True,
) -> AsyncIterator[Scene]:
    """A started simulator (clock paused) and, unless `daemon=False`, a daemon."""
    sim = Simulator(config)
    await sim.start()
    the_scene = Scene(
        sim,
        broker_url=broker.url,
        queue=broker.queue,
        store_path=tmp_path / "state.sqlite3",
        actions=actions or ActionsSettings(max_per_request=3),
    )
    try:
        if daemon:
            await the_scene.start_daemon()
        yield the_scene
    finally:
        await the_scene.close()


def performed(sim: Simulator) -> dict[tuple[str, str, str], int]:
    """Hook triggers the simulator ran, by (action, task group, what it acted on)."""
    counts: dict[tuple[str, str, str], int] = {}
    for trigger in sim.hook_triggers:
        if trigger.action == "add-new-jobs":
            target = ",".join(sorted(str(t) for t in trigger.input.get("tasks", [])))
        else:
            target = trigger.task_id or ""
        key = (trigger.action, trigger.task_group_id or "", target)
        counts[key] = counts.get(key, 0) + 1
    return counts


def intended(entries: list[OutboxEntry]) -> dict[tuple[str, str, str], int]:
    """The same count from the outbox: what the monitor decided to do (done entries)."""
    counts: dict[tuple[str, str, str], int] = {}
    for entry in entries:
        action = entry.action
        if action.kind.value not in ("retrigger", "add-new-jobs") or entry.state != "done":
            continue
        group = action.push.task_group_id if action.push else ""
        target = ",".join(sorted(action.labels)) if action.labels else ""
        if action.kind.value == "retrigger":
            target = action.task_id or ""
        key = (action.kind.value, group, target)
        counts[key] = counts.get(key, 0) + 1
    return counts
