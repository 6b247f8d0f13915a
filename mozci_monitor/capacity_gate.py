"""Admits each action that schedules tasks within the configured capacity ([capacity]).

The decision is `core.capacity.admit`'s; this module gathers what it decides on: where
the action's tasks go (the pool its task's definition names, the label's platform), what
this monitor scheduled today on each pool and platform (the outbox, counted by the store)
and how many tasks wait in the pool (`queue.taskQueueCounts`, reused for a short while so
that a burst of actions asks the queue once). The actuator calls it just before it
performs an action, never in the per-message decisions.

The actuator performs several actions at once: admissions are taken one at a time, and
what was admitted counts (reserved here) until the actuator releases it, when the
outbox's count has it (done) or it was not performed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from mozci_monitor.core.actions import Action, tasks_of
from mozci_monitor.core.capacity import CapacityPolicy, admit, pool_of
from mozci_monitor.ports.sources import PendingCounts, SourceError
from mozci_monitor.ports.store import CapacityStore, ScheduledTasks

log = structlog.get_logger(__name__)

InStore = Callable[..., Awaitable[Any]]
# A push's full task graph (`public/full-task-graph.json` of its decision task), by group.
Graph = Callable[[str], Awaitable[Any]]
GRAPHS_KEPT = 4  # label -> pool maps of this many pushes are kept


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the actuator does now: perform `action` (maybe sized down from what was
    decided), or nothing, for `reason`: it waits (deferred) or never runs (excluded)."""

    action: Action | None
    reason: str = ""
    excluded: bool = False


@dataclass(frozen=True)
class GateSettings:
    policy: CapacityPolicy
    max_deferral: float = 21600.0  # seconds since the action was decided
    pending_refresh: float = 60.0  # seconds a pool's pending count is reused


class CapacityGate:
    def __init__(
        self,
        settings: GateSettings,
        *,
        in_store: InStore,
        store: CapacityStore,
        pending: PendingCounts | None,
        graph: Graph | None = None,
        owner: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._graph = graph
        # task group -> label -> pool, from the push's full task graph (a few groups only)
        self._graph_pools: dict[str, dict[str, str]] = {}
        self._owner = owner  # this instance's name in outbox claims
        self._lock = asyncio.Lock()
        self._reserved: dict[str, list[ScheduledTasks]] = {}  # action key -> its tasks
        self._in_store = in_store
        self._store = store
        self._pending = pending
        self._monotonic = monotonic
        self._pending_seen: dict[str, tuple[float, int | None]] = {}

    async def admit(self, action: Action, *, day: str) -> Verdict:
        """The action as it may run now (sized down), or why it may not (`day`: today, UTC).
        What is admitted stays reserved until `release(action.key)`."""
        if tasks_of(action) <= 0:
            return Verdict(action)
        async with self._lock:
            verdict, destinations = await self._decide(action, day)
            granted = verdict.action
            if granted is not None:
                # Read again only when sized down: the tasks go where they went, fewer.
                same = granted is action
                self._reserved[action.key] = (
                    destinations if same else await self._destinations(granted)
                )
            return verdict

    def release(self, key: str) -> None:
        """The admitted action was performed (the outbox counts it now) or was not."""
        self._reserved.pop(key, None)

    async def _destinations(self, action: Action) -> list[ScheduledTasks]:
        """Where the action's tasks go. A label no known task ran (add-new-jobs of a job
        the push never scheduled, or nothing read yet) has its pool in the push's full
        task graph, where add-new-jobs itself takes the definition from."""
        parts: list[ScheduledTasks] = await self._in_store(self._store.tasks_of_action, action)
        if action.push is None or all(part.pool for part in parts):
            return parts
        pools = await self._pools_in_graph(action.push.task_group_id)
        return [part if part.pool else replace(part, pool=pools.get(part.label)) for part in parts]

    async def _pools_in_graph(self, group: str) -> dict[str, str]:
        if group in self._graph_pools:
            return self._graph_pools[group]
        pools: dict[str, str] = {}
        if self._graph is not None:
            try:
                graph = await self._graph(group)
            except SourceError as error:
                log.warning("full task graph unreadable", group=group, error=str(error))
                return pools  # not kept: asked again next time
            if isinstance(graph, Mapping):
                for label, node in graph.items():
                    task = node.get("task") if isinstance(node, Mapping) else None
                    pool = pool_of(task) if isinstance(task, Mapping) else None
                    if pool:
                        pools[str(label)] = pool
        while len(self._graph_pools) >= GRAPHS_KEPT:
            del self._graph_pools[next(iter(self._graph_pools))]
        self._graph_pools[group] = pools
        return pools

    async def _decide(self, action: Action, day: str) -> tuple[Verdict, list[ScheduledTasks]]:
        """The verdict, and where the whole action's tasks would go."""
        destinations = await self._destinations(action)
        return await self._verdict(action, day, destinations), destinations

    async def _verdict(
        self, action: Action, day: str, destinations: list[ScheduledTasks]
    ) -> Verdict:
        parts = _by_destination(destinations)
        done = await self._in_store(self._store.tasks_scheduled_on, day, owner=self._owner)
        used = _used([*done, *(part for parts in self._reserved.values() for part in parts)])
        policy = self.settings.policy
        fraction, reasons = 1.0, []
        for (pool, platform), tasks in parts.items():
            pending = await self._pending_in(pool) if pool else None
            admission = admit(
                policy,
                wanted=tasks,
                pool=pool or "",
                platform=platform,
                used_today=used,
                pending=pending,
            )
            if admission.excluded:
                return Verdict(None, admission.reason, excluded=True)
            if admission.deferred:
                reasons.append(admission.reason)
                fraction = min(fraction, admission.granted / tasks)
        if not reasons:
            return Verdict(action)
        times = int(action.times * fraction)
        if times <= 0 or tasks_of(replace(action, times=times)) <= 0:
            return Verdict(None, "; ".join(reasons))
        # `sized_from`: the request expects the runs it decided on; it stops waiting for
        # the ones cut here (`core.action_tasks.action_task_created`) and asks again.
        sized = replace(action, times=times, details={**action.details, "sized_from": action.times})
        return Verdict(sized, "; ".join(reasons))

    def overdue(self, decided_at: str, now: str) -> str | None:
        """Why a deferred action stops waiting (decided longer ago than `max_deferral`)."""
        waited = (_moment(now) - _moment(decided_at)).total_seconds()
        if waited < self.settings.max_deferral:
            return None
        return (
            f"deferred too long: waited {waited / 3600:.1f} h for capacity"
            f" (capacity.max_deferral {self.settings.max_deferral / 3600:.1f} h)"
        )

    async def _pending_in(self, pool: str) -> int | None:
        """The pool's pending count, None when it cannot be read (quotas still apply)."""
        if self._pending is None or self.settings.policy.max_pending is None:
            return None
        now = self._monotonic()
        seen = self._pending_seen.get(pool)
        if seen is not None and now - seen[0] < self.settings.pending_refresh:
            return seen[1]
        count: int | None
        try:
            count = await self._pending.pending_tasks(pool)
        except SourceError as error:
            log.warning("pending count unreadable; quotas only", pool=pool, error=str(error))
            count = None
        self._pending_seen[pool] = (now, count)
        return count


def _by_destination(parts: list[ScheduledTasks]) -> dict[tuple[str | None, str], int]:
    found: dict[tuple[str | None, str], int] = {}
    for part in parts:
        key = (part.pool, part.platform)
        found[key] = found.get(key, 0) + part.tasks
    return found


def _used(parts: list[ScheduledTasks]) -> dict[str, int]:
    """Tasks scheduled today, keyed by pool and by platform (quotas name either)."""
    used: dict[str, int] = {}
    for part in parts:
        for key in (part.pool, part.platform):
            if key:
                used[key] = used.get(key, 0) + part.tasks
    return used


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def policy_of(
    daily_quota: Mapping[str, int], max_pending: int, excluded_pools: Iterable[str]
) -> CapacityPolicy:
    """The settings' [capacity] as the core's policy (max_pending 0: no limit)."""
    return CapacityPolicy(
        daily_quota=dict(daily_quota),
        max_pending=max_pending or None,
        excluded_pools=frozenset(excluded_pools),
    )
