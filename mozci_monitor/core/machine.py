"""The state machine: task status snapshots in, request states and timeline entries out.

Delivery is at least once and messages of one task may arrive out of order, so a task only
ever moves forward: every snapshot is ranked by how far the task has progressed (how many
runs exist, how far the last one got) and anything not strictly further is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mozci_monitor.core.actions import (
    RETRIGGER_REASONS,
    UNLIMITED,
    Action,
    ActionKind,
    Allowance,
    Remedy,
    build_action,
    charged,
    fetch_results_action,
    remedy_for,
)
from mozci_monitor.core.evolve import evolve
from mozci_monitor.core.model import (
    ACTING_POLICIES,
    AUTO_RETRIED_REASONS,
    BATCHED_POLICIES,
    OPEN_PHASES,
    FailureKind,
    Phase,
    RemedyPolicy,
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
    actions: tuple[Action, ...] = ()
    changed: bool = False


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
        previous = evolve(previous, label=label)
    return TaskUpdate(previous, Change.DUPLICATE if ahead == known else Change.STALE, previous)


def matches(request: Request, record: TaskRecord) -> bool:
    """Does this task serve this request? Known task ids always do; else group and label."""
    if record.task_id in request.task_ids:
        return True
    return (
        request.is_watching
        and record.task_group_id == request.push.task_group_id
        and record.label is not None
        and record.label == request.label
    )


def decide(
    request: Request,
    tasks: Mapping[str, TaskRecord],
    update: TaskUpdate,
    allowance: Allowance = UNLIMITED,
) -> Decision:
    """Apply a task update to a request it serves.

    `tasks` holds the request's tasks as known before the update; the update's record
    replaces or joins them. Returns the new request, the timeline entries to append and,
    under the WATCH remedy policy, the actions that set right what went wrong.
    """
    if not update.moved and update.record.task_id in request.task_ids:
        return Decision(request)
    if request.awaits_cancel and update.record.task_id not in request.task_ids:
        return _cancel_late_run(request, update.record)
    original = request
    record = update.record
    entries: list[TimelineEntry] = []
    joined = record.task_id not in request.task_ids
    if joined:
        # A task the request set aside before it showed up (a confirm's failing task, not
        # judged) is none of the new runs its actions asked for, whenever it is seen.
        stands_in = record.task_id not in request.replaced
        request = evolve(
            request,
            task_ids=(*request.task_ids, record.task_id),
            expected_new=max(0, request.expected_new - stands_in),
        )
        entries.append(
            TimelineEntry("task-seen", record.task_id, {"label": record.label or ""}),
        )
    previous_phase = update.previous.phase if update.previous else None
    fresh = update.moved or joined  # news for this request, if not for the task
    if joined or (update.moved and (record.phase != previous_phase or _new_run(update))):
        entries.append(_phase_entry(record))
        if record.task_id in request.awaiting_rerun:
            awaiting = tuple(t for t in request.awaiting_rerun if t != record.task_id)
            request = evolve(request, awaiting_rerun=awaiting)
    actions: list[Action] = []
    acting = request.remedy in ACTING_POLICIES
    if fresh and acting and not request.is_final:
        request = _remedy(request, record, allowance, entries, actions)
    if fresh and request.judge_by_results and record.task_id not in request.replaced:
        fetch = fetch_results_action(request, record)
        if fetch is not None:
            actions.append(fetch)
    current = {**tasks, record.task_id: record}
    records = [current[t] for t in request.task_ids if t in current]
    settled = settle(request, records)
    if settled.remedy in BATCHED_POLICIES:
        settled = _until_fail(settled, records, allowance, entries, actions)
    if (settled.state, settled.failure, settled.reason) != (
        original.state,
        original.failure,
        original.reason,
    ):
        entries.append(_state_entry(settled))
    return Decision(settled, tuple(entries), tuple(actions), bool(entries) or settled != original)


def _remedy(
    request: Request,
    record: TaskRecord,
    allowance: Allowance,
    entries: list[TimelineEntry],
    actions: list[Action],
) -> Request:
    remedy = remedy_for(request, record)
    if remedy is None:
        return request
    refusal = allowance.exhausted_by(request)
    if refusal is not None:
        entries.append(
            TimelineEntry("gave-up", record.task_id, {"wanted": remedy.kind.value, "why": refusal})
        )
        return evolve(
            request, state=RequestState.FAILED, failure=FailureKind.BUDGET, reason=refusal
        )
    action = build_action(request, remedy, record)
    actions.append(action)
    entries.append(
        TimelineEntry(
            "action",
            record.task_id,
            {"action": action.kind.value, "key": action.key, "why": action.why},
        )
    )
    return evolve(
        charged(request, action),
        expected_new=request.expected_new + (0 if remedy.awaits_rerun else 1),
        replaced=(*request.replaced, record.task_id) if remedy.replaces_task else request.replaced,
        awaiting_rerun=(
            (*request.awaiting_rerun, record.task_id)
            if remedy.awaits_rerun
            else request.awaiting_rerun
        ),
    )


def _cancel_extra_run(
    request: Request,
    task_id: str,
    why: str = "a run failed: the extra runs are not needed",
    details: dict[str, str | int | None] | None = None,
) -> Action:
    return Action(
        key=f"{request.request_id}/cancel/{task_id}",
        kind=ActionKind.CANCEL,
        push=request.push,
        request_id=request.request_id,
        campaign_id=request.campaign_id,
        task_id=task_id,
        why=why,
        details=details or {},
    )


def _cancel_open_runs(request: Request, counted: Iterable[TaskRecord]) -> list[Action]:
    if not request.cancel_on_fail:
        return []
    return [
        _cancel_extra_run(request, record.task_id)
        for record in counted
        if record.phase in OPEN_PHASES
    ]


def signature_hit(
    request: Request, tasks: Mapping[str, TaskRecord], task_id: str, runs: int
) -> Decision:
    """An until-signature request's run `task_id` hit the signature (the `runs`-th run
    judged): the batches end there, and the runs still open are cancelled."""
    if request.remedy is not RemedyPolicy.UNTIL_SIGNATURE or request.is_final:
        return Decision(request)
    failed = evolve(
        request,
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
        reason=f"signature hit on run {runs}: task {task_id}",
    )
    counted = [tasks[t] for t in request.task_ids if t in tasks and t not in request.replaced]
    cancels = _cancel_open_runs(failed, counted)
    entries = [TimelineEntry("signature-hit", task_id, {"run": runs}), _state_entry(failed)]
    entries.extend(
        TimelineEntry("action", action.task_id, {"action": "cancel", "key": action.key})
        for action in cancels
    )
    return Decision(failed, tuple(entries), tuple(cancels), True)


def _cancel_late_run(request: Request, record: TaskRecord) -> Decision:
    """A run the request asked for shows up after it ended: it is not needed any more.
    A failed until-fail batch cancels it; a request cancelled (by the user, or as
    obsolete) only if one of its own action tasks created it (`created_by`, as
    `retire_obsolete`): the run of its label may be one CI scheduled for the push."""
    request_after = evolve(
        request,
        task_ids=(*request.task_ids, record.task_id),
        expected_new=request.expected_new - 1,
    )
    entries = [TimelineEntry("task-seen", record.task_id, {"label": record.label or ""})]
    actions: list[Action] = []
    ended_early = request.state is RequestState.CANCELED
    if record.phase in OPEN_PHASES and ended_early and request.action_tasks:
        why = f"late run of an ended request: {request.reason or 'canceled'}"
        created_by: dict[str, str | int | None] = {"created_by": ",".join(request.action_task_ids)}
        actions.append(_cancel_extra_run(request, record.task_id, why=why, details=created_by))
    elif record.phase in OPEN_PHASES and not ended_early:
        actions.append(_cancel_extra_run(request, record.task_id))
    entries.extend(
        TimelineEntry("action", record.task_id, {"action": "cancel", "key": action.key})
        for action in actions
    )
    return Decision(request_after, tuple(entries), tuple(actions), True)


def _until_fail(
    request: Request,
    records: list[TaskRecord],
    allowance: Allowance,
    entries: list[TimelineEntry],
    actions: list[Action],
) -> Request:
    """Keep a batch of runs going until one fails; then cancel what is still open."""
    counted = [r for r in records if r.task_id not in request.replaced]
    if request.state is RequestState.FAILED and request.failure is FailureKind.ORANGE:
        actions.extend(_cancel_open_runs(request, counted))
        return request
    if request.is_final:
        return request
    in_flight = sum(1 for r in counted if r.phase in OPEN_PHASES) + request.expected_new
    total = len(counted) + request.expected_new
    if in_flight or total >= request.wanted or not counted:
        return request
    refusal = allowance.exhausted_by(request)
    if refusal is not None:
        entries.append(TimelineEntry("gave-up", None, {"wanted": "retrigger", "why": refusal}))
        failed = evolve(
            request, state=RequestState.FAILED, failure=FailureKind.BUDGET, reason=refusal
        )
        entries.append(_state_entry(failed))
        return failed
    # The batch, sized down to what the budgets leave (the next batch is then refused).
    times = allowance.fit(request, min(max(request.batch, 1), request.wanted - total))
    source = counted[0]  # the task the batches started from: each batch clones it
    remedy = Remedy(ActionKind.RETRIGGER, f"no failure in {total} runs: {times} more", False, False)
    action = evolve(build_action(request, remedy, source), task_id=source.task_id, times=times)
    actions.append(action)
    entries.append(
        TimelineEntry(
            "action",
            source.task_id,
            {"action": action.kind.value, "key": action.key, "why": action.why},
        )
    )
    return evolve(
        charged(request, action),
        expected_new=request.expected_new + times,
        state=RequestState.PENDING,
    )


def settle(request: Request, tasks: Iterable[TaskRecord]) -> Request:
    """Derive the request's state from its tasks. Final states never move again.

    Tasks replaced by a task the monitor scheduled do not count; tasks awaiting a rerun and
    tasks the monitor asked for but not yet seen keep the request open.
    """
    if request.is_final:
        return request
    records = [record for record in tasks if record.task_id not in request.replaced]
    phases = [record.phase for record in records]
    green = phases.count(Phase.COMPLETED)
    oranges = [record for record in records if record.phase is Phase.ORANGE]
    first_orange = request.first_orange or (oranges[0].task_id if oranges else None)
    counts = {"runs_green": green, "runs_orange": len(oranges), "first_orange": first_orange}
    if request.remedy is RemedyPolicy.UNTIL_FAIL and oranges:
        return _changed(
            request,
            **counts,
            state=RequestState.FAILED,
            failure=FailureKind.ORANGE,
            reason=f"failed on run {green + len(oranges)}: task {first_orange}",
        )
    waiting = bool(request.awaiting_rerun) or request.expected_new > 0
    # An expired task waits for the judgement of its dependencies (core.upstream).
    acting = request.remedy in (RemedyPolicy.WATCH, RemedyPolicy.UNTIL_FAIL)
    waiting = waiting or (
        acting
        and any(r.phase is Phase.EXCEPTION and r.reason in RETRIGGER_REASONS for r in records)
    )
    still_open = not OPEN_PHASES.isdisjoint(phases)
    # Judged by a signature, an orange run is a run like a green one: the budget is spent
    # once `wanted` runs finished either way (a hit ends it sooner: `signature_hit`).
    ran = green + (len(oranges) if request.remedy is RemedyPolicy.UNTIL_SIGNATURE else 0)
    if ran >= request.wanted:
        return _changed(request, **counts, state=RequestState.COMPLETED, failure=None, reason=None)
    if records and not still_open and not waiting and len(records) >= request.wanted:
        return _outcome(_changed(request, **counts), records)
    if Phase.RUNNING in phases:
        state = RequestState.RUNNING
    elif request.awaiting_rerun or Phase.PENDING in phases or Phase.RETRYING in phases:
        state = RequestState.PENDING
    else:
        state = RequestState.SCHEDULED
    return _changed(request, **counts, state=state, failure=None, reason=None)


def _changed(request: Request, **fields: Any) -> Request:
    """`replace`, without its cost (a new object, every field copied) when nothing changes:
    settling a request on each of its tasks' messages mostly changes nothing."""
    for name, value in fields.items():
        if getattr(request, name) != value:
            return evolve(request, **fields)
    return request


def check_missing(
    request: Request,
    scheduled_labels: frozenset[str],
    graph_labels: frozenset[str],
    allowance: Allowance = UNLIMITED,
    *,
    tasks: Iterable[TaskRecord] = (),
) -> Decision:
    """The push's decision task has finished: make sure `wanted` runs will exist.

    A label that never appeared is scheduled with add-new-jobs (`times=wanted`); a label
    with fewer tasks than wanted is retriggered for the difference. `scheduled_labels` are
    the labels with a task in the push's group, `graph_labels` those of its full task graph
    (what could have been scheduled at all). Call it after the group's tasks were fed in,
    so the request has adopted the tasks that exist. Either is sized down to the tasks the
    budgets leave (`Allowance.fit`); once none are left the request gives up, after the
    runs it already asked for are in: seen, and finished (`tasks`, the request's tasks as
    known, say which still run).
    """
    if request.is_final or request.remedy is RemedyPolicy.RECORD:
        return Decision(request)
    counted = [t for t in request.task_ids if t not in request.replaced]
    if request.remedy in BATCHED_POLICIES and counted:
        return Decision(request)  # its batches are driven by its own runs (decide)
    have = len(counted) + request.expected_new
    if have >= request.wanted:
        return Decision(request)
    if not counted and request.label in scheduled_labels:
        return Decision(request)  # its task exists but was not adopted yet: wait for it
    if not counted and request.label not in graph_labels:
        failed = evolve(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.EXCEPTION,
            reason="label is not in the push's task graph",
        )
        return Decision(failed, (_state_entry(failed),), (), True)
    missing = request.wanted - have
    if request.remedy in BATCHED_POLICIES:
        missing = min(missing, max(request.batch, 1))  # one batch at a time
    kind = ActionKind.RETRIGGER if counted else ActionKind.ADD_NEW_JOBS
    refusal = allowance.exhausted_by(request)
    if refusal is not None:
        if request.expected_new or request.awaiting_rerun or _runs_open(request, tasks):
            # The runs asked for before the budget ran out count: wait until they finished.
            # Given up earlier, a range campaign would answer without them and then cancel
            # them as obsolete: tasks the budget paid for, thrown away.
            return Decision(request)
        failed = evolve(
            request, state=RequestState.FAILED, failure=FailureKind.BUDGET, reason=refusal
        )
        gave_up = TimelineEntry("gave-up", None, {"wanted": kind.value, "why": refusal})
        return Decision(failed, (gave_up, _state_entry(failed)), (), True)
    # What the budgets leave: maybe fewer runs than wanted; once they are in, the next
    # call finds a budget spent and gives up (or, the next day, a fresh daily budget).
    missing = allowance.fit(request, missing)
    if counted:
        remedy = Remedy(kind, f"{missing} more run(s) wanted", False, False)
        # Any task of the label can be retriggered; the smallest id makes the choice the
        # same whichever order the tasks were seen in (several daemons, replays).
        source_task: str | None = min(counted)
    else:
        remedy = Remedy(kind, "never scheduled", False, False)
        source_task = None
    action = evolve(build_action(request, remedy, None), task_id=source_task, times=missing)
    entry = TimelineEntry(
        "action", source_task, {"action": action.kind.value, "key": action.key, "why": action.why}
    )
    scheduled = evolve(charged(request, action), expected_new=request.expected_new + missing)
    return Decision(scheduled, (entry,), (action,), True)


def _runs_open(request: Request, tasks: Iterable[TaskRecord]) -> bool:
    """Is a run the request counts still to finish?"""
    return any(
        record.phase in OPEN_PHASES
        for record in tasks
        if record.task_id in request.task_ids and record.task_id not in request.replaced
    )


OBSOLETE = "obsolete: the campaign has its answer"
# Before the answer: a search's push newer than the first bad one (core.search).
OBSOLETE_BEHIND = "obsolete: newer than the first bad push"


def retire_obsolete(
    request: Request, tasks: Iterable[TaskRecord], reason: str = OBSOLETE
) -> Decision:
    """The request's campaign has its answer (or, `OBSOLETE_BEHIND`, left its push
    behind): the runs of its label on its push still open (`tasks`: the push's known
    tasks) no longer matter and are cancelled, as until-fail cancels the rest of a batch;
    a request still open ends, saying `reason`. A final request
    may leave runs open too: those it did not need (more runs came than it wanted).
    Only runs its own actions created may go: each cancel names the request's action
    tasks (`created_by`), and the actuator leaves alone a task whose definition names
    none of them as its parent (a run CI scheduled for the push)."""
    ended = request
    entries: list[TimelineEntry] = []
    if not request.is_final:
        # `expected_new` stays: the runs of an action already in flight are cancelled as
        # they appear (`_cancel_late_run`); its actions still pending are withdrawn.
        ended = evolve(request, state=RequestState.CANCELED, failure=None, reason=reason)
        entries.append(_state_entry(ended))
    cancels: list[Action] = []
    if request.action_tasks:
        created_by = ",".join(request.action_task_ids)
        cancels = [
            _cancel_extra_run(ended, task_id, why=reason, details={"created_by": created_by})
            for task_id in sorted(
                record.task_id
                for record in tasks
                if record.label == request.label
                and record.task_group_id == request.push.task_group_id
                and record.phase in OPEN_PHASES
            )
        ]
    entries.extend(
        TimelineEntry("action", action.task_id, {"action": "cancel", "key": action.key})
        for action in cancels
    )
    return Decision(ended, tuple(entries), tuple(cancels), bool(entries))


def cancel(request: Request, reason: str) -> Decision:
    """The user withdrew the request."""
    if request.is_final:
        return Decision(request)
    canceled = evolve(request, state=RequestState.CANCELED, failure=None, reason=reason)
    return Decision(canceled, (_state_entry(canceled),), (), True)


def _outcome(request: Request, finished: list[TaskRecord]) -> Request:
    by_phase = {record.phase: record for record in finished}
    # Judged by a signature, an orange run is not the request's failure (only a hit is).
    judged_by_colour = request.remedy is not RemedyPolicy.UNTIL_SIGNATURE
    if Phase.ORANGE in by_phase and judged_by_colour:
        oranges = sum(1 for record in finished if record.phase is Phase.ORANGE)
        return evolve(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.ORANGE,
            reason=f"{oranges} of {len(finished)} runs failed",
        )
    if Phase.EXCEPTION in by_phase:
        return evolve(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.EXCEPTION,
            reason=by_phase[Phase.EXCEPTION].reason,
        )
    if Phase.COALESCED in by_phase:
        return evolve(request, state=RequestState.COALESCED, failure=None, reason="superseded")
    # What is left is canceled: an all-green set would have satisfied the request already.
    return evolve(request, state=RequestState.CANCELED, failure=None, reason="canceled")


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


def action_failed(request: Request, key: str, error: str) -> Decision:
    """A remedy could not be performed: the request ends, saying why."""
    if request.is_final:
        return Decision(request)
    failed = evolve(
        request,
        state=RequestState.FAILED,
        failure=FailureKind.ACTION,
        reason=f"action {key} failed: {error}"[:500],
        expected_new=0,
        awaiting_rerun=(),
    )
    entry = TimelineEntry("action-failed", None, {"key": key, "error": error[:500]})
    return Decision(failed, (entry, _state_entry(failed)), (), True)
