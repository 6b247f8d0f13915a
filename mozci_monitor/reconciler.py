"""Brings the store up to date from Taskcluster's REST API when Pulse cannot.

Pulse is at-least-once only while the queue exists and is bound: a request registered after
its tasks started, a queue deleted by PulseGuardian, a daemon that was down — each leaves
transitions nobody delivered. The reconciler lists the watched task groups, feeds every
task's status through the same engine as Pulse messages (duplicates are no-ops), and, once
a push's decision task is done, finds watched labels that were never scheduled and the
tests a finished build should have triggered (downstream campaigns).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.confirm import is_confirm_label
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.kinds import downstream, fill
from mozci_monitor.core.kinds._expansion import Expansion
from mozci_monitor.core.model import (
    ACTING_POLICIES,
    Request,
    TaskEvent,
    TaskEventKind,
)
from mozci_monitor.core.upstream import Upstream
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.ports.sources import GroupSource, SourceError, TaskGroupMember
from mozci_monitor.ports.store import ReconcileStore
from mozci_monitor.submissions import compile_user_pattern

log = structlog.get_logger(__name__)

_KIND_OF_STATE = {
    "unscheduled": TaskEventKind.DEFINED,
    "pending": TaskEventKind.PENDING,
    "running": TaskEventKind.RUNNING,
    "completed": TaskEventKind.COMPLETED,
    "failed": TaskEventKind.FAILED,
    "exception": TaskEventKind.EXCEPTION,
}


InStore = Callable[..., Awaitable[Any]]


def event_from_member(member: TaskGroupMember) -> TaskEvent:
    """A listTaskGroup entry as if it had come from Pulse (its latest transition)."""
    status = member.status
    kind = _KIND_OF_STATE[status.state]
    run_id = status.runs[-1].run_id if status.runs else None
    return TaskEvent(kind=kind, status=status, run_id=run_id, label=member.label)


class Reconciler:
    def __init__(
        self,
        *,
        engine: Engine,
        store: ReconcileStore,
        in_store: InStore,
        taskcluster: GroupSource,
        now: Callable[[], str],
        on_outcome: Callable[[BatchOutcome], Awaitable[None]],
        concurrency: int = 8,
        owner: str = "local",
        lease_seconds: float = 240.0,
    ) -> None:
        self._owner = owner
        self._lease = lease_seconds
        self._engine = engine
        self._store = store
        self._in_store = in_store
        self._tc = taskcluster
        self._now = now
        self._on_outcome = on_outcome
        self._limit = asyncio.Semaphore(concurrency)
        self._graphs: dict[str, Mapping[str, Sequence[str]]] = {}  # group -> label -> deps
        self._builds: dict[str, list[str]] = {}  # group -> build labels of its full graph
        self.groups_reconciled = 0

    # -- whole groups ---------------------------------------------------------------------

    async def reconcile_all(self, *, force: bool = True) -> None:
        groups = await self._in_store(self._store.open_task_groups)
        await self.reconcile_groups(groups, force=force)

    async def reconcile_groups(self, groups: Iterable[str], *, force: bool = True) -> None:
        await asyncio.gather(*(self._reconcile_one(group, force=force) for group in sorted(groups)))

    async def _reconcile_one(self, group: str, *, force: bool) -> None:
        # Several daemons on one store: the periodic pass over a group is done by one of
        # them per period. Catch-ups (start, reconnect, a new binding, a finished decision
        # task) are forced: they are about what this instance may have missed, and the
        # engine's writes are idempotent, so doing one twice costs only a REST call.
        leased = await self._in_store(
            self._store.try_lease, f"reconcile/{group}", self._owner, self._lease
        )
        if not leased and not force:
            return
        async with self._limit:
            try:
                members = await self._tc.list_task_group(group)
            except SourceError as error:
                log.warning("cannot list task group", group=group, error=str(error))
                return
        events = [event_from_member(member) for member in members]
        outcome = await self._in_store(self._engine.apply, events, self._now())
        # Action tasks are group members like any task: the catch-up above followed them.
        # Then time: remedies whose runs never came, requests open past their bound.
        await self._judge_upstreams(group, members)
        outcome.add(await self._in_store(self._engine.check_bounds, group, self._now()))
        self.groups_reconciled += 1
        if outcome.applied:
            log.info(
                "reconciled task group", group=group, tasks=len(events), caught_up=outcome.applied
            )
        await self._on_outcome(outcome)
        decision = next((m for m in members if m.task_id == group), None)
        if decision is None or decision.status.state != "completed":
            return  # the graph is not known until the decision task is done
        await self._check_missing(group, members)
        await self._expand_downstream(group, members)
        await self._expand_fill(group, members)

    async def _judge_upstreams(self, group: str, members: Sequence[TaskGroupMember]) -> None:
        """Requests whose task waits (unscheduled) or expired: blocked by a failed
        dependency, or (expired, every dependency completed) retriggered."""
        by_id = {member.task_id: member for member in members}
        for request in await self._in_store(self._open_requests, group):
            if request.remedy not in ACTING_POLICIES:
                continue
            for task_id in request.task_ids:
                member = by_id.get(task_id)
                if task_id in request.replaced or member is None or not _stuck(member):
                    continue
                upstreams = [
                    _upstream(by_id, dep)
                    for dep in member.task.get("dependencies") or ()
                    if dep != group  # the decision task: done, since the task exists
                ]
                outcome = await self._in_store(
                    self._engine.judge_upstreams,
                    request.request_id,
                    task_id,
                    upstreams,
                    self._now(),
                )
                await self._on_outcome(outcome)

    async def _check_missing(self, group: str, members: Sequence[TaskGroupMember]) -> None:
        requests = [
            r
            for r in await self._in_store(self._open_requests, group)
            if r.remedy in ACTING_POLICIES
            and len(set(r.task_ids) - set(r.replaced)) + r.expected_new < r.wanted
        ]
        if not requests:
            return
        graph = await self._graph(group)
        if graph is None:
            return
        scheduled = frozenset(m.label for m in members if m.label)
        for request in requests:
            outcome = await self._in_store(
                self._engine.check_missing,
                request.request_id,
                scheduled,
                frozenset(graph),
                self._now(),
            )
            await self._on_outcome(outcome)

    def _open_requests(self, group: str) -> list[Request]:
        """Every open request of the group, however many (paged, on the store thread)."""
        return list(self._store.iter_requests(open_only=True, task_group_id=group))

    def _open_campaigns(self, group: str) -> list[Campaign]:
        return list(self._store.iter_campaigns(open_only=True, task_group_id=group))

    def forget_unwatched(self, watched: set[str]) -> None:
        """Drop the task graphs of groups no longer watched: a long-running daemon sees
        thousands of pushes, and each graph is megabytes."""
        for cache in (self._graphs, self._builds):
            for group in [group for group in cache if group not in watched]:
                del cache[group]

    async def _graph(self, group: str) -> Mapping[str, Sequence[str]] | None:
        if group not in self._graphs:
            try:
                graph = await self._tc.artifact_json(group, "public/full-task-graph.json")
            except SourceError as error:
                log.warning("cannot read the full task graph", group=group, error=str(error))
                return None
            # `-cf` labels are in the full graph for gecko's confirm-failures only: no push
            # schedules them, and scheduled by label they would run a whole chunk as tier 2.
            self._graphs[group] = {
                label: _dependency_labels(entry, graph)
                for label, entry in graph.items()
                if not is_confirm_label(label)
            }
            self._builds[group] = sorted(
                label
                for label, entry in graph.items()
                if isinstance(entry, Mapping) and entry.get("kind") == "build"
            )
        return self._graphs[group]

    # -- downstream -----------------------------------------------------------------------

    async def _expand_downstream(self, group: str, members: Sequence[TaskGroupMember]) -> None:
        campaigns = [
            c
            for c in await self._in_store(self._open_campaigns, group)
            if c.kind is CampaignKind.DOWNSTREAM
        ]
        if not campaigns:
            return
        graph = await self._graph(group)
        if graph is None:
            return
        by_label: dict[str, list[TaskGroupMember]] = {}
        for member in members:
            if member.label:
                by_label.setdefault(member.label, []).append(member)
        for campaign in campaigns:
            await self._expand(campaign, graph, by_label)

    async def _expand(
        self,
        campaign: Campaign,
        graph: Mapping[str, Sequence[str]],
        by_label: Mapping[str, list[TaskGroupMember]],
    ) -> None:
        group = campaign.push.task_group_id
        builds = [campaign.label] if campaign.label else self._builds.get(group, [])
        completed = [
            build
            for build in builds
            if any(m.status.state == "completed" for m in by_label.get(build, ()))
        ]
        coalesced = frozenset(
            label
            for label, tasks in by_label.items()
            if tasks
            and all(
                t.status.runs and t.status.runs[-1].reason_resolved == "superseded" for t in tasks
            )
        )
        expansion = downstream.expand(
            campaign, builds, completed, graph, frozenset(by_label), coalesced
        )
        if expansion is None:
            return
        for build, missing in expansion.found.items():
            log.info(
                "downstream of a finished build",
                campaign=campaign.campaign_id,
                build=build,
                missing=list(missing),
            )
        await self._add(expansion)

    async def _add(self, expansion: Expansion) -> None:
        outcome = await self._in_store(
            self._engine.add_requests,
            expansion.campaign.campaign_id,
            list(expansion.requests),
            self._now(),
            list(expansion.actions),
            expansion.campaign,
        )
        await self._on_outcome(outcome)

    async def _expand_fill(self, group: str, members: Sequence[TaskGroupMember]) -> None:
        campaigns = [
            c
            for c in await self._in_store(self._open_campaigns, group)
            if c.kind is CampaignKind.FILL and not c.params.get("expanded")
        ]
        if not campaigns:
            return
        graph = await self._graph(group)
        if graph is None:
            return
        scheduled = {m.label for m in members if m.label}
        never_ran = sorted(label for label in graph if label not in scheduled)
        for campaign in campaigns:
            try:
                include, exclude = (
                    [compile_user_pattern(str(p), name) for p in campaign.params.get(name, ())]
                    for name in ("include", "exclude")
                )
            except SubmissionError as error:
                # Stored before patterns were checked with RE2: end it, never replay it.
                await self._fail_campaign(campaign, f"cannot be filled: {error}")
                continue
            expansion = fill.expand(campaign, never_ran, include, exclude)
            log.info("fill planned", campaign=campaign.campaign_id, added=len(expansion.requests))
            await self._add(expansion)

    async def _fail_campaign(self, campaign: Campaign, reason: str) -> None:
        log.warning("campaign failed", campaign=campaign.campaign_id, reason=reason)
        outcome = await self._in_store(
            self._engine.fail_campaign, campaign.campaign_id, reason, self._now()
        )
        await self._on_outcome(outcome)

    # -- labels -----------------------------------------------------------------------------

    async def resolve_labels(self, task_ids: Iterable[str]) -> None:
        """Messages without `task.tags` (older Pulse payloads): ask the queue for the label."""

        async def one(task_id: str) -> None:
            async with self._limit:
                try:
                    definition = await self._tc.task(task_id)
                except SourceError as error:
                    log.warning("cannot read task definition", task=task_id, error=str(error))
                    return
            label = (definition.get("tags") or {}).get("label") or (
                definition.get("metadata") or {}
            ).get("name")
            if label:
                outcome = await self._in_store(
                    self._engine.learn_label, task_id, str(label), self._now()
                )
                await self._on_outcome(outcome)

        await asyncio.gather(*(one(task_id) for task_id in dict.fromkeys(task_ids)))


def _stuck(member: TaskGroupMember) -> bool:
    """Waiting for its dependencies, or expired while waiting."""
    status = member.status
    if status.state == "unscheduled":
        return True
    last = status.runs[-1] if status.runs else None
    return (
        status.state == "exception"
        and last is not None
        and (last.reason_resolved == "deadline-exceeded")
    )


def _upstream(by_id: Mapping[str, TaskGroupMember], task_id: str) -> Upstream:
    member = by_id.get(task_id)
    if member is None:
        # A dependency outside the push's group is a task reused through the index
        # (docker images, toolchains): only completed tasks are indexed.
        return Upstream(task_id, task_id, "completed")
    last = member.status.runs[-1] if member.status.runs else None
    return Upstream(
        task_id,
        member.label or task_id,
        member.status.state,
        last.reason_resolved if last is not None else None,
    )


def _dependency_labels(entry: Any, graph: Mapping[str, Any]) -> list[str]:
    """full-task-graph.json maps label -> {task, dependencies: {name: label}}."""
    if not isinstance(entry, Mapping):
        return []
    deps = entry.get("dependencies") or {}
    values = deps.values() if isinstance(deps, Mapping) else deps
    return [str(d) for d in values if str(d) in graph]
