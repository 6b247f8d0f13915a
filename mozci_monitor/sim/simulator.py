"""The simulator facade: world + HTTP server + Pulse publisher + clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from mozci_monitor.sim.actions import Actions, HookTrigger
from mozci_monitor.sim.app import build_app
from mozci_monitor.sim.clock import iso
from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.context import Notification, SimContext
from mozci_monitor.sim.faults import FaultInjector
from mozci_monitor.sim.publisher import PulsePublisher
from mozci_monitor.sim.pulse_messages import PulseMessage, build_message
from mozci_monitor.sim.taskgraph import full_task_graph_entry, task_definition, tcyml_hash
from mozci_monitor.sim.world import Push, SimTask, Transition, World

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SimStats:
    """Counters for tests and benchmarks (a snapshot)."""

    hook_triggers: dict[str, int]
    action_calls: dict[tuple[str, str], int]
    tasks_created: int
    reruns: int
    messages_published: dict[str, int]
    notifications: dict[str, int]


class Simulator:
    """A deterministic local Firefox CI (Taskcluster + hg pushlog + Treeherder + Pulse).

    Construction simulates the history pushes silently; `start()` serves HTTP, opens
    the broker and (with `auto_advance`) lets CI time run at `time_scale`.
    Tests use `auto_advance=False` and step time with `await sim.advance(seconds)`.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.world = World(self.config)
        self.actions = Actions(self.world, tcyml_hash(self.config.repo, self.config.seed))
        self.context = SimContext(self.world, self.actions)
        self.faults = FaultInjector()
        self._message_listeners: list[Callable[[PulseMessage], None]] = []
        self._publisher: PulsePublisher | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.world.decision_listeners.append(self._attach_decision_artifacts)
        self.world.advance_to(0.0)
        self.world.listeners.append(self._on_transition)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            return
        if self.config.broker_url:
            publisher = PulsePublisher(self.config.broker_url)
            await asyncio.to_thread(publisher.start)
            self._publisher = publisher
        runner = web.AppRunner(build_app(self.context, self.faults), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.context.base_url = f"http://{host}:{port}"
        if self.config.auto_advance:
            self._ticker = asyncio.create_task(self._tick(), name="sim-clock")
        log.info("sim.started", root_url=self.root_url, repo=self.config.repo)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.drain)
            await asyncio.to_thread(self._publisher.close)
        log.info("sim.stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        rate = self.config.ci_seconds_per_wall_second
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            now = loop.time()
            try:
                self.world.advance_to(self.world.events.now + (now - last) * rate)
            except Exception:
                # One broken event must not stop the clock of a long-running demo.
                log.exception("sim.event_failed")
            last = now

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        """Virtual CI seconds since simulated time zero."""
        return self.world.events.now

    async def advance(self, seconds: float) -> int:
        """Run `seconds` of CI time; returns how many scheduler events ran."""
        ran = self.world.advance_to(self.world.events.now + seconds)
        await asyncio.sleep(0)
        return ran

    async def run_until_idle(self, limit: float = 7 * 86400.0) -> None:
        """Advance until no event is due within `limit` CI seconds (all pushes done)."""
        end = self.now + limit
        while (due := self.world.events.next_time()) is not None and due <= end:
            self.world.advance_to(due)
        await asyncio.sleep(0)

    async def flush(self) -> None:
        """Wait until every published message has reached the broker."""
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.drain)

    # ------------------------------------------------------------------ URLs & views

    @property
    def base_url(self) -> str:
        if not self.context.base_url:
            raise RuntimeError("simulator not started")
        return self.context.base_url

    @property
    def root_url(self) -> str:
        return self.base_url

    @property
    def hg_url(self) -> str:
        return f"{self.base_url}/hg"

    @property
    def treeherder_url(self) -> str:
        return f"{self.base_url}/treeherder"

    @property
    def pushes(self) -> list[Push]:
        return [push for push in self.world.pushes if push.arrived]

    def task(self, task_id: str) -> SimTask:
        return self.world.tasks[task_id]

    def tasks_of(self, push: Push, label: str | None = None) -> list[SimTask]:
        tasks = [self.world.tasks[t] for t in self.world.task_groups.get(push.task_group_id, [])]
        return [t for t in tasks if label is None or t.label == label]

    def force_outcome(self, task_id_or_label: str, run_id: int, outcome: str) -> None:
        self.world.force(task_id_or_label, run_id, outcome)

    @property
    def hook_triggers(self) -> list[HookTrigger]:
        return list(self.actions.log.triggers)

    @property
    def notifications(self) -> list[Notification]:
        return list(self.context.notifications)

    @property
    def stats(self) -> SimStats:
        notifications: dict[str, int] = {}
        for item in self.context.notifications:
            notifications[item.kind] = notifications.get(item.kind, 0) + 1
        return SimStats(
            hook_triggers=dict(self.actions.log.by_action),
            action_calls=dict(self.actions.log.by_target),
            tasks_created=self.world.tasks_created,
            reruns=self.world.reruns,
            messages_published=self._publisher.counts() if self._publisher else {},
            notifications=notifications,
        )

    def add_message_listener(self, listener: Callable[[PulseMessage], None]) -> None:
        """Also hand every message (built, before publishing) to `listener`."""
        self._message_listeners.append(listener)

    # ------------------------------------------------------------------ internals

    def _on_transition(self, transition: Transition) -> None:
        message = build_message(transition)
        for listener in self._message_listeners:
            listener(message)
        if self._publisher is not None:
            self._publisher.publish(message)

    def _attach_decision_artifacts(self, decision: SimTask) -> None:
        push = decision.push
        assert push is not None
        world = self.world
        run_id = len(decision.runs) - 1
        label_to_taskid = dict(push.label_to_taskid)

        def full_graph() -> bytes:
            graph: dict[str, Any] = {}
            for label, spec in world.graph.specs.items():
                template = (
                    world.tasks[label_to_taskid[label]].definition
                    if label in label_to_taskid
                    else _template_for(world, push, label)
                )
                graph[label] = full_task_graph_entry(spec, template)
            return _dumps(graph)

        def task_graph() -> bytes:
            graph = {}
            for label, task_id in label_to_taskid.items():
                task = world.tasks[task_id]
                graph[task_id] = {
                    "label": label,
                    "task": task.definition,
                    "dependencies": {
                        name: label_to_taskid[dep]
                        for name, dep in world.graph.dependencies(label).items()
                        if dep in label_to_taskid
                    },
                }
            return _dumps(graph)

        artifacts = decision.artifacts.setdefault(run_id, {})
        artifacts["public/actions.json"] = (
            "application/json",
            lambda: _dumps(self.actions.actions_json(push)),
        )
        artifacts["public/label-to-taskid.json"] = (
            "application/json",
            lambda: _dumps(label_to_taskid),
        )
        artifacts["public/full-task-graph.json"] = ("application/json", full_graph)
        artifacts["public/task-graph.json"] = ("application/json", task_graph)
        artifacts["public/parameters.yml"] = (
            "text/yaml",
            lambda: _parameters_yml(world, push).encode(),
        )


def _template_for(world: World, push: Push, label: str) -> dict[str, Any]:
    return task_definition(
        world.graph.specs[label],
        push=world.push_info(push),
        task_group_id=push.task_group_id,
        dependencies=[],
        created=push.date,
        deadline_hours=world.config.deadline_hours,
        retries=world.config.retries,
        rank=int(push.date),
    ) | {"created": iso(push.date)}


def _parameters_yml(world: World, push: Push) -> str:
    info = world.push_info(push)
    lines = [
        f"base_repository: {info.head_repository}",
        f"head_repository: {info.head_repository}",
        f"head_rev: {push.revision}",
        "level: '3'",
        f"owner: {push.user}",
        f"project: {world.config.repo}",
        f"pushlog_id: '{push.push_id}'",
        f"pushdate: {int(push.date)}",
        "tasks_for: hg-push",
        "target_tasks_method: default",
    ]
    return "\n".join(lines) + "\n"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()
