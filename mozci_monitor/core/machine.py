"""The state machine: task status snapshots in, request states and timeline entries out.

Delivery is at least once and messages of one task may arrive out of order, so a task only
ever moves forward: every snapshot is ranked by how far the task has progressed (how many
runs exist, how far the last one got) and anything not strictly further is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from mozci_monitor.core.model import (
    AUTO_RETRIED_REASONS,
    OPEN_PHASES,
    FailureKind,
    Phase,
    Request,
    RequestState,
    RunState,
    TaskRecord,
    TaskStatus,
    TimelineEntry,
)

_RUN_RANK = {RunState.PENDING: 1, RunState.RUNNING: 2}
_RESOLVED_RANK = 3


class Change(StrEnum):
    NEW = "new"  # first snapshot of this task
    ADVANCED = "advanced"  # further than what we had
    DUPLICATE = "duplicate"  # exactly as far as what we had
    STALE = "stale"  # behind what we had (late delivery)


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    record: TaskRecord  # the record to keep (the previous one unless NEW/ADVANCED)
    change: Change
    previous: TaskRecord | None = None

    @property
    def moved(self) -> bool:
        return self.change in (Change.NEW, Change.ADVANCED)


@dataclass(frozen=True, slots=True)
class Decision:
    request: Request
    timeline: tuple[TimelineEntry, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.timeline)


def progress(status: TaskStatus) -> tuple[int, int]:
    """How far a task has got: (number of runs, rank of the last run's state)."""
    last = status.last_run
    if last is None:
        return (0, 0)
    return (len(status.runs), _RUN_RANK.get(last.state, _RESOLVED_RANK))


def phase_of(status: TaskStatus) -> tuple[Phase, str | None]:
    """The phase of a task and, once resolved, the reason that decided it."""
    last = status.last_run
    if last is None:
        return Phase.SCHEDULED, None
    if last.state is RunState.PENDING:
        return Phase.PENDING, None
    if last.state is RunState.RUNNING:
        return Phase.RUNNING, None
    reason = last.reason_resolved
    if last.state is RunState.COMPLETED:
        return Phase.COMPLETED, reason
    if last.state is RunState.FAILED:
        return Phase.ORANGE, reason
    if reason == "superseded":
        return Phase.COALESCED, reason
    if reason == "canceled":
        return Phase.CANCELED, reason
    if reason in AUTO_RETRIED_REASONS and status.retries_left > 0:
        return Phase.RETRYING, reason
    return Phase.EXCEPTION, reason


def observe(previous: TaskRecord | None, status: TaskStatus, label: str | None) -> TaskUpdate:
    """Fold one status snapshot into what we knew of the task."""
    if previous is not None and label is None:
        label = previous.label
    if previous is None:
        phase, reason = phase_of(status)
        record = TaskRecord(status.task_id, status.task_group_id, label, status, phase, reason)
        return TaskUpdate(record, Change.NEW)
    ahead, known = progress(status), progress(previous.status)
    if ahead > known:
        phase, reason = phase_of(status)
        record = TaskRecord(status.task_id, status.task_group_id, label, status, phase, reason)
        return TaskUpdate(record, Change.ADVANCED, previous)
    if label is not None and previous.label is None:
        # A late message may still teach us the label; progress stays where it was.
        previous = replace(previous, label=label)
    return TaskUpdate(previous, Change.DUPLICATE if ahead == known else Change.STALE, previous)


def matches(request: Request, record: TaskRecord) -> bool:
    """Does this task serve this request? Known task ids always do; else group and label."""
    if record.task_id in request.task_ids:
        return True
    return (
        not request.is_final
        and record.task_group_id == request.push.task_group_id
        and record.label is not None
        and record.label == request.label
    )


def decide(request: Request, tasks: Mapping[str, TaskRecord], update: TaskUpdate) -> Decision:
    """Apply a task update to a request it serves.

    `tasks` holds the request's tasks as known before the update; the update's record
    replaces or joins them. Returns the new request and the timeline entries to append.
    """
    if not update.moved and update.record.task_id in request.task_ids:
        return Decision(request)
    record = update.record
    entries: list[TimelineEntry] = []
    task_ids = request.task_ids
    if record.task_id not in task_ids:
        task_ids = (*task_ids, record.task_id)
        entries.append(
            TimelineEntry("task-seen", record.task_id, {"label": record.label or ""}),
        )
    previous_phase = update.previous.phase if update.previous else None
    if update.moved and (record.phase != previous_phase or _new_run(update)):
        entries.append(_phase_entry(record))
    current = {**tasks, record.task_id: record}
    request = replace(request, task_ids=task_ids)
    settled = settle(request, (current[t] for t in task_ids if t in current))
    if (settled.state, settled.failure, settled.reason) != (
        request.state,
        request.failure,
        request.reason,
    ):
        entries.append(_state_entry(settled))
    return Decision(settled, tuple(entries))


def settle(request: Request, tasks: Iterable[TaskRecord]) -> Request:
    """Derive the request's state from its tasks. Final states never move again."""
    if request.is_final:
        return request
    records = list(tasks)
    phases = [record.phase for record in records]
    green = phases.count(Phase.COMPLETED)
    finished = [record for record in records if record.phase not in OPEN_PHASES]
    if green >= request.wanted:
        return replace(request, state=RequestState.COMPLETED, failure=None, reason=None)
    if records and len(finished) >= request.wanted and len(finished) == len(records):
        return _outcome(request, finished)
    if Phase.RUNNING in phases:
        state = RequestState.RUNNING
    elif any(phase in (Phase.PENDING, Phase.RETRYING) for phase in phases):
        state = RequestState.PENDING
    else:
        state = RequestState.SCHEDULED
    return replace(request, state=state, failure=None, reason=None)


def cancel(request: Request, reason: str) -> Decision:
    """The user withdrew the request."""
    if request.is_final:
        return Decision(request)
    canceled = replace(request, state=RequestState.CANCELED, failure=None, reason=reason)
    return Decision(canceled, (_state_entry(canceled),))


def _outcome(request: Request, finished: list[TaskRecord]) -> Request:
    by_phase = {record.phase: record for record in finished}
    if Phase.ORANGE in by_phase:
        oranges = sum(1 for record in finished if record.phase is Phase.ORANGE)
        return replace(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.ORANGE,
            reason=f"{oranges} of {len(finished)} runs failed",
        )
    if Phase.EXCEPTION in by_phase:
        return replace(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.EXCEPTION,
            reason=by_phase[Phase.EXCEPTION].reason,
        )
    if Phase.COALESCED in by_phase:
        return replace(request, state=RequestState.COALESCED, failure=None, reason="superseded")
    # What is left is canceled: an all-green set would have satisfied the request already.
    return replace(request, state=RequestState.CANCELED, failure=None, reason="canceled")


def _new_run(update: TaskUpdate) -> bool:
    if update.previous is None:
        return False
    return len(update.record.status.runs) != len(update.previous.status.runs)


def _phase_entry(record: TaskRecord) -> TimelineEntry:
    last = record.status.last_run
    detail: dict[str, str | int | None] = {"phase": record.phase.value}
    if last is not None:
        detail["run"] = last.run_id
        detail["created"] = last.reason_created
    if record.reason is not None:
        detail["reason"] = record.reason
    return TimelineEntry("task-phase", record.task_id, detail)


def _state_entry(request: Request) -> TimelineEntry:
    detail: dict[str, str | int | None] = {"state": request.state.value}
    if request.failure is not None:
        detail["failure"] = request.failure.value
    if request.reason is not None:
        detail["reason"] = request.reason
    return TimelineEntry("state", None, detail)
