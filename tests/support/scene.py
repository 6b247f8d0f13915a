"""The simulator and the daemon in the test's event loop, as `mozci_monitor.demo` wires them.

`Scene` owns one simulated Firefox CI (its clock paused until `go()`), one SQLite store and
the daemons that run over it (one at a time; a test may stop one and start a fresh one on
the same store and queue to play a crash or a restart).

Two kinds of CI (see `ci`): with a push about to arrive (`live_push_ci`, the default), whose
runs a test plants (`plant(label, {run: outcome})`, forced from the moment its decision
task creates the graph, so nothing can claim the run first) and watches (`watch`,
`downstream`); or all history (`history_ci`), where planned regressions are already in
the runs a sheriff campaign analyses (`push_at(index)`, `plan_backfill`, `plan_bisect`).

Everything a test waits for is bounded and polled (`until`): no assertion depends on how
fast anything happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from broker import publish

from mozci_monitor import planner
from mozci_monitor.config import ActionsSettings, CapacitySettings, Settings, StoreSettings
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds import Budgets
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.daemon import EXIT_OK, Daemon
from mozci_monitor.ports.store import OutboxEntry, StoredEntry
from mozci_monitor.pulse import TASK_EXCHANGES
from mozci_monitor.sim import Push as SimPush
from mozci_monitor.sim import SimConfig, SimTask, Simulator
from mozci_monitor.sim.actions import HookTrigger
from mozci_monitor.sim.world import Transition
from mozci_monitor.store.sqlite import SqliteStore
from mozci_monitor.wiring import Services, build_services

from .brokers import Broker
from .ci import HookGate, live_push_ci, sim_sources
from .clock import SimClock
from .daemon import (
    SHERIFF,
    acting_services,
    assemble_daemon,
    run_daemon,
    scene_settings,
    wait_started,
)
from .recording import RecordingSink
from .waiting import WITHIN, until

_PROBE_TASK = "e2eProbeTaskAAAAAAAAAA"  # a slugid no simulated task has


class Scene:
    def __init__(
        self,
        sim: Simulator,
        *,
        broker_url: str,
        queue: str,
        store_path: Path,
        actions: ActionsSettings,
        capacity: CapacitySettings | None = None,
    ) -> None:
        self.sim = sim
        self.capacity = capacity
        self.broker_url = broker_url
        self.queue = queue
        self.store_path = store_path
        self.actions = actions
        self.reader = SqliteStore(store_path)  # WAL: reads committed state beside the daemon
        self.recorder = RecordingSink()
        self.gate = HookGate(sim)
        self.clock = SimClock(sim)
        self.daemon: Daemon | None = None
        self.services: Services | None = None  # for planning, like the CLI
        self._runner: asyncio.Task[int] | None = None
        self._arriving = next((p for p in sim.world.pushes if not p.arrived), None)
        self._planted: dict[str, dict[int, str]] = {}
        sim.world.decision_listeners.append(self._on_decision)

    # -- the world -----------------------------------------------------------------------

    @property
    def repo(self) -> str:
        return self.sim.config.repo

    @property
    def pushes(self) -> list[SimPush]:
        return self.sim.world.pushes

    def push_at(self, index: int) -> Push:
        world_push = self.pushes[index]
        return Push(self.repo, world_push.revision, world_push.task_group_id)

    def tasks_at(self, index: int, label: str) -> list[SimTask]:
        return self.sim.tasks_of(self.pushes[index], label)

    def drop_decision_index(self, index: int) -> None:
        """The push's decision task can no longer be found by revision (a 404)."""
        revision = self.pushes[index].revision
        del self.sim.world.index[f"gecko.v2.{self.repo}.revision.{revision}.taskgraph.decision"]

    def on_transition(self, listener: Callable[[Transition], None]) -> None:
        """Called synchronously for every queue transition, before its Pulse message."""
        self.sim.world.listeners.insert(0, listener)

    # -- the push about to arrive --------------------------------------------------------

    @property
    def world_push(self) -> SimPush:
        assert self._arriving is not None, "this CI has no push to arrive (history only)"
        return self._arriving

    @property
    def push(self) -> Push:
        world_push = self.world_push
        return Push(self.repo, world_push.revision, world_push.task_group_id)

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
        if self._arriving is None or decision.push is not self._arriving:
            return
        for label, outcomes in self._planted.items():
            task_id = self._arriving.label_to_taskid[label]
            for run_id, outcome in outcomes.items():
                self.sim.force_outcome(task_id, run_id, outcome)

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

    # -- campaigns -----------------------------------------------------------------------

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

    async def watch_to_the_end(
        self, label: str, **options: Any
    ) -> tuple[Campaign, Request, Campaign]:
        """Watch `label` (options as `watch`), let CI time run and wait until the campaign
        ended and was notified: (the campaign as started, its request, the campaign ended)."""
        campaign, request = self.watch(label, **options)
        await self.start(campaign, request)
        self.go()
        return campaign, request, await self.finished(campaign.campaign_id)

    def push_triggers(self) -> list[HookTrigger]:
        """The in-tree actions triggered on the scene's push, in order."""
        return [t for t in self.sim.hook_triggers if t.task_group_id == self.push.task_group_id]

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

    async def plan(self, params: Any, budgets: Budgets | None = None) -> planner.Plan:
        """Any kind's plan, as the campaign service makes it (through `plan_campaign`)."""
        return await planner.plan_campaign(
            params, self._planning_services(), budgets or Budgets(per_request=3, per_campaign=None)
        )

    # -- time ----------------------------------------------------------------------------

    def go(self, *, hold: Callable[[], bool] | None = None) -> None:
        """Let CI time run (a push to arrive arrives at once); `hold()` true stops it."""
        self.clock.go(hold=hold)

    async def pause(self) -> None:
        await self.clock.pause()

    # -- the daemon ----------------------------------------------------------------------

    def settings(self) -> Settings:
        return scene_settings(
            broker_url=self.broker_url,
            queue=self.queue,
            sources=sim_sources(self.sim),
            actions=self.actions,
            store=StoreSettings(path=str(self.store_path)),
            capacity=self.capacity,
        )

    async def start_daemon(self, *, acting: bool = True) -> Daemon:
        """A fresh daemon on the scene's store; `acting=False`: no actuator, no reconciler."""
        assert self.daemon is None, "one daemon at a time"
        settings = self.settings()
        services = acting_services(settings, [self.recorder]) if acting else None
        daemon = assemble_daemon(settings, services=services)
        self.daemon = daemon
        self._runner = run_daemon(daemon)
        await wait_started(daemon, self._runner)
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

    # -- what the store says -------------------------------------------------------------

    def campaign(self, campaign_id: str) -> Campaign:
        found = self.reader.get_campaign(campaign_id)
        assert found is not None
        return found

    def request(self, request_id: str) -> Request:
        found = self.reader.get_request(request_id)
        assert found is not None
        return found

    def requests(self, campaign_id: str) -> list[Request]:
        return self.reader.campaign_requests(campaign_id)

    def outbox(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]:
        return self.reader.actions_of(request_id=request_id, campaign_id=campaign_id)

    def campaign_outbox(self, campaign_id: str) -> list[OutboxEntry]:
        """Every outbox entry of the campaign and of its requests (one per key)."""
        entries = {e.key: e for e in self.outbox(campaign_id=campaign_id)}
        for request in self.requests(campaign_id):
            for entry in self.outbox(request_id=request.request_id):
                entries.setdefault(entry.key, entry)
        return list(entries.values())

    def acts(self, campaign_id: str) -> list[OutboxEntry]:
        """The campaign's outbox entries that act on CI (not notifications)."""
        return [e for e in self.campaign_outbox(campaign_id) if e.action.kind.value != "notify"]

    def timeline(self, request_id: str) -> list[StoredEntry]:
        return self.reader.timeline(request_id)

    async def finished(self, campaign_id: str, within: float = WITHIN) -> Campaign:
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
            within,
        )
        return self.campaign(campaign_id)

    async def settled(self, campaign_id: str) -> None:
        """Wait until no action of the campaign is left to perform."""
        await until(
            lambda: all(e.state in ("done", "failed") for e in self.campaign_outbox(campaign_id)),
            f"every action of {campaign_id} performed",
        )

    def notified_once(self, campaign_id: str) -> None:
        """One notification of the campaign's end: one outbox entry, one send, one e-mail."""
        final = self.campaign(campaign_id)
        notes = [n for n in self.recorder.sent if n.campaign_id == campaign_id]
        assert [n.outcome for n in notes] == [final.state.value]
        notify = [
            e for e in self.outbox(campaign_id=campaign_id) if e.action.kind.value == "notify"
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
    config: SimConfig | None = None,
    *,
    actions: ActionsSettings | None = None,
    daemon: bool = True,
    capacity: CapacitySettings | None = None,
) -> AsyncIterator[Scene]:
    """A started simulator (clock paused) and, unless `daemon=False`, an acting daemon.

    `config`: the simulated CI (default: `live_push_ci` publishing to the broker).
    """
    sim = Simulator(config if config is not None else live_push_ci(broker.url))
    await sim.start()
    the_scene = Scene(
        sim,
        broker_url=broker.url,
        queue=broker.queue,
        store_path=tmp_path / "state.sqlite3",
        actions=actions or ActionsSettings(max_per_request=3),
        capacity=capacity,
    )
    try:
        if daemon:
            await the_scene.start_daemon()
        yield the_scene
    finally:
        await the_scene.close()
