"""Following the action tasks our remedies create, and the bound on every open request.

A triggered hook only creates an *action task* in the push's group; what the remedy asked
for exists once that task ran its callback, and never if it failed (gecko's callbacks exit
1 on input they refuse). So a remedy is done only when its runs appear:

- its action task failed or ended in exception: the remedy failed — recorded with the
  reason and its log, counted in the budget, and retried once by another route where one
  exists (retrigger-multiple or retrigger → add-new-jobs); else the request gives up;
- its action task completed but no run appeared within `Bounds.run_appear_seconds`: the
  same;
- whatever happens, an open request is resolved with a reason `Bounds.open_seconds` after
  it was registered: no request waits forever.

Pure: the clock is passed in (`at`, ISO 8601), as every other input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from mozci_monitor.core.actions import (
    UNLIMITED,
    Action,
    ActionKind,
    Allowance,
    action_key,
    charged,
    tasks_of,
)
from mozci_monitor.core.machine import Decision
from mozci_monitor.core.model import (
    OPEN_PHASES,
    ActionTask,
    FailureKind,
    Phase,
    Request,
    RequestState,
    TaskRecord,
    TimelineEntry,
)

# Routes that have another way to the same runs: add-new-jobs schedules any label.
RETRIABLE_ROUTES = frozenset({"retrigger-multiple", "retrigger", "backfill"})
FALLBACK_ROUTE = "add-new-jobs"
LOG_ARTIFACT = "public/logs/live_backing.log"


@dataclass(frozen=True, slots=True)
class Bounds:
    run_appear_seconds: float = 3600.0  # after its action task completed
    open_seconds: float = 48 * 3600.0  # after the request was registered


DEFAULT_BOUNDS = Bounds()


def log_path(task_id: str, run_id: int) -> str:
    """Where the action task's log is, relative to the Taskcluster root URL."""
    return f"/api/queue/v1/task/{task_id}/runs/{run_id}/artifacts/{LOG_ARTIFACT}"


def action_task_created(
    request: Request, action: Action, action_task_id: str, route: str
) -> Decision:
    """The hook answered with the action task it created: follow it."""
    if action_task_id in request.action_task_ids:
        return Decision(request)
    retry_of = action.details.get("retry_of")
    task = ActionTask(
        task_id=action_task_id,
        key=action.key,
        route=route,
        times=action.times,
        retry_of=str(retry_of) if retry_of else None,
    )
    entry = TimelineEntry(
        "action-task", action_task_id, {"key": action.key, "route": route, "state": task.state}
    )
    followed = replace(request, action_tasks=(*request.action_tasks, task))
    # Performed with fewer runs than decided (capacity): those cut will not come; the
    # request's next decision asks for them again, and is charged for them then.
    cut = sized_off(action)
    if cut > 0:
        followed = replace(followed, expected_new=max(0, followed.expected_new - cut))
        if action.request_id == request.request_id:
            # Its own action was charged to its budget as decided (`charged`); a
            # campaign-level one was not charged to it that way and gives nothing back here.
            followed = replace(followed, tasks=max(0, followed.tasks - sized_off_tasks(action)))
    return Decision(followed, (entry,), (), True)


def sized_off(action: Action) -> int:
    """The runs the capacity gate cut from `action` (its `sized_from`), 0 if none."""
    return max(0, int(action.details.get("sized_from") or action.times) - action.times)


def sized_off_tasks(action: Action) -> int:
    """The tasks of the runs `sized_off` counts: what the budgets were charged for them."""
    cut = sized_off(action)
    return tasks_of(replace(action, times=action.times + cut)) - tasks_of(action) if cut else 0


def action_task_changed(
    request: Request,
    record: TaskRecord,
    at: str,
    allowance: Allowance = UNLIMITED,
    *,
    root_url: str = "",
) -> Decision:
    """An action task of this request moved: completed, or failed (the remedy failed)."""
    task = _action_task(request, record.task_id)
    if task is None or task.state != "running" or record.phase in OPEN_PHASES:
        return Decision(request)
    if record.phase is Phase.COMPLETED:
        done = replace(task, state="completed", completed_at=at)
        entry = TimelineEntry(
            "action-task",
            task.task_id,
            {"key": task.key, "route": task.route, "state": "completed"},
        )
        return Decision(_with(request, done), (entry,), (), True)
    run = record.status.last_run
    run_id = run.run_id if run is not None else 0
    outcome = "failed" if record.phase is Phase.ORANGE else f"{record.phase.value}"
    if record.reason and record.reason != outcome:
        outcome += f" ({record.reason})"
    why = f"action task {task.task_id} {outcome}; log: {root_url}{log_path(task.task_id, run_id)}"
    return remedy_failed(request, task, why, allowance)


def remedy_failed(
    request: Request, task: ActionTask, why: str, allowance: Allowance = UNLIMITED
) -> Decision:
    """The remedy behind `task` produced nothing: retry by another route, or give up."""
    request = _with(request, replace(task, state="failed"))
    entries = [
        TimelineEntry(
            "action-failed", task.task_id, {"key": task.key, "route": task.route, "error": why}
        )
    ]
    if request.is_final:
        # Its runs will never come: an ended request awaiting them (to cancel) stops.
        request = replace(request, expected_new=max(0, request.expected_new - task.times))
        return Decision(request, tuple(entries), (), True)
    if task.route in RETRIABLE_ROUTES and task.retry_of is None:
        refusal = allowance.exhausted_by(request)
        if refusal is None:
            # Sized to what the budgets leave: the runs it cannot ask for are not expected.
            times = allowance.fit(request, task.times)
            action = Action(
                key=action_key(request),
                kind=ActionKind.ADD_NEW_JOBS,
                push=request.push,
                request_id=request.request_id,
                campaign_id=request.campaign_id,
                labels=(request.label,),
                times=times,
                why=f"{task.route} failed, retried by {FALLBACK_ROUTE}: {why}",
                details={"retry_of": task.key},
            )
            entries.append(
                TimelineEntry(
                    "action",
                    None,
                    {"action": action.kind.value, "key": action.key, "why": action.why},
                )
            )
            # The retry stands for the same runs: what is expected does not grow.
            retried = replace(
                charged(request, action),
                expected_new=max(0, request.expected_new - (task.times - times)),
            )
            return Decision(retried, tuple(entries), (action,), True)
        why = f"{why}; no retry: {refusal}"
    return _give_up(request, FailureKind.ACTION, f"{task.route} produced nothing: {why}", entries)


def check_bounds(
    request: Request, at: str, bounds: Bounds, allowance: Allowance = UNLIMITED
) -> Decision:
    """Time has passed: remedies whose runs never came, and requests open too long."""
    if request.is_final:
        return _late_runs_bound(request, at, bounds) if request.awaits_cancel else Decision(request)
    now = _seconds(at)
    if request.opened_at is not None and now - _seconds(request.opened_at) >= bounds.open_seconds:
        hours = bounds.open_seconds / 3600
        waiting = f", {request.expected_new} run(s) asked for never appeared" * bool(
            request.expected_new
        )
        why = f"no outcome {hours:g} h after it was opened (still {request.state.value}{waiting})"
        return _give_up(request, FailureKind.TIMEOUT, why, [])
    running = any(task.state == "running" for task in request.action_tasks)
    if request.expected_new <= 0 or running:
        return Decision(request)
    lapsed = [
        task
        for task in request.action_tasks
        if task.state == "completed"
        and task.completed_at is not None
        and now - _seconds(task.completed_at) >= bounds.run_appear_seconds
    ]
    if not lapsed:
        return Decision(request)
    task = lapsed[-1]
    # The others are overtaken by this verdict: they will not be judged again.
    for other in lapsed[:-1]:
        request = _with(request, replace(other, state="failed"))
    why = (
        f"action task {task.task_id} completed at {task.completed_at} but no new run appeared"
        f" within {bounds.run_appear_seconds:g} s"
    )
    return remedy_failed(request, task, why, allowance)


def _late_runs_bound(request: Request, at: str, bounds: Bounds) -> Decision:
    """An ended request awaiting late runs to cancel (`Request.awaits_cancel`) stops
    awaiting them when they cannot be expected any more: its action tasks completed
    `run_appear_seconds` ago with no run of theirs seen, or `open_seconds` after it was
    opened (an action in flight whose hook never answered): no request waits forever."""
    now = _seconds(at)
    too_old = (
        request.opened_at is not None and now - _seconds(request.opened_at) >= bounds.open_seconds
    )
    running = any(task.state == "running" for task in request.action_tasks)
    completed = [t.completed_at for t in request.action_tasks if t.state == "completed"]
    lapsed = (
        bool(completed)
        and not running
        and all(
            done is not None and now - _seconds(done) >= bounds.run_appear_seconds
            for done in completed
        )
    )
    if not (too_old or lapsed):
        return Decision(request)
    note = f"stopped awaiting {request.expected_new} late run(s) to cancel: none appeared in time"
    stopped = replace(request, expected_new=0)
    return Decision(stopped, (TimelineEntry("late-runs", None, {"note": note}),), (), True)


def _give_up(
    request: Request, failure: FailureKind, why: str, entries: list[TimelineEntry]
) -> Decision:
    failed = replace(
        request,
        state=RequestState.FAILED,
        failure=failure,
        reason=why[:500],
        expected_new=0,
        awaiting_rerun=(),
    )
    detail: dict[str, str | int | None] = {
        "state": failed.state.value,
        "failure": failure.value,
        "reason": failed.reason,
    }
    entries.append(TimelineEntry("state", None, detail))
    return Decision(failed, tuple(entries), (), True)


def _action_task(request: Request, task_id: str) -> ActionTask | None:
    return next((task for task in request.action_tasks if task.task_id == task_id), None)


def _with(request: Request, task: ActionTask) -> Request:
    tasks = tuple(task if t.task_id == task.task_id else t for t in request.action_tasks)
    return replace(request, action_tasks=tasks)


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
