"""Actions the monitor decides on, and the remedy policy that picks them.

An action carries an idempotency key derived from the state that decided it (the request's
action counter), so the same decision taken twice — a redelivered message, a replay after
a crash — yields the same key, and the outbox performs it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from mozci_monitor.core.model import Phase, Push, Request, TaskRecord


class ActionKind(StrEnum):
    RETRIGGER = "retrigger"  # in-tree action: a new task with the same label
    RERUN = "rerun"  # queue.rerunTask: a new run of the same task
    ADD_NEW_JOBS = "add-new-jobs"  # in-tree action: schedule labels from the full graph
    CANCEL = "cancel"  # queue.cancelTask
    BACKFILL = "backfill"  # in-tree action: a task's label on the pushes before its own
    # in-tree action: a failing test task's failing tests rerun alone, in `-cf` tasks
    CONFIRM_FAILURES = "confirm-failures"
    NOTIFY = "notify"
    # Read a finished run's test results (errorsummary, else Treeherder's failure lines)
    # into the store: a read, so neither a budget's action nor affected by a dry run.
    FETCH_RESULTS = "fetch-results"


# Kinds that act on Firefox CI (a campaign's `actions` counts them): all but the
# notification and the reads. What the budgets count is not actions but `tasks_of` them.
CI_ACTION_KINDS = frozenset(ActionKind) - {ActionKind.NOTIFY, ActionKind.FETCH_RESULTS}
# The ones that put tasks on worker pools (a capacity check admits them): all but the
# cancel, which frees one. How many each schedules is `tasks_of`'s.
SCHEDULING_KINDS = CI_ACTION_KINDS - {ActionKind.CANCEL}


# The queue resolved these as exceptions; a rerun is worth trying.
RERUNNABLE_REASONS = frozenset(
    {
        "claim-expired",
        "worker-shutdown",
        "intermittent-task",
        "resource-unavailable",
        "internal-error",
    }
)
# After its deadline a task is immutable: only a new task (retrigger) can replace it.
RETRIGGER_REASONS = frozenset({"deadline-exceeded"})


@dataclass(frozen=True, slots=True)
class Action:
    key: str
    kind: ActionKind
    push: Push | None
    request_id: str | None = None
    campaign_id: str | None = None
    task_id: str | None = None
    labels: tuple[str, ...] = ()
    times: int = 1
    why: str = ""
    details: dict[str, str | int | None] = field(default_factory=dict)


def tasks_of(action: Action) -> int:
    """The tasks an action schedules on Firefox CI: what every budget counts.

    A retrigger makes `times` new tasks; add-new-jobs `times` of each label; a rerun one
    new run of the same task (a machine all the same). Gecko's backfill schedules `times`
    runs on each of the `depth` pushes before the task's: counted as `depth` x `times`, the
    most it may schedule (a push whose actions.json ignores `retrigger: false` gets them
    even when it ran the label). A cancel frees a machine, a notification or a read uses
    none: 0, and no budget ever refuses them.
    """
    if action.kind is ActionKind.RERUN:
        return 1
    if action.kind is ActionKind.RETRIGGER:
        return action.times
    if action.kind is ActionKind.ADD_NEW_JOBS:
        return len(action.labels) * action.times
    if action.kind is ActionKind.BACKFILL:
        return int(action.details.get("depth") or 1) * action.times
    if action.kind is ActionKind.CONFIRM_FAILURES:
        # gecko makes one `-cf` task per failing test it reruns (`expect`, at most 11)
        return int(action.details.get("expect") or 1) * action.times
    return 0


@dataclass(frozen=True, slots=True)
class Allowance:
    """Tasks still allowed beyond the request's own budget; None means no limit.

    A remedy is sized to what remains of the tightest budget (`fit`); only when nothing
    remains is it refused, and `exhausted_by` says which budget is spent.
    """

    campaign: int | None = None
    repo_day: int | None = None

    def remaining(self, request: Request) -> int:
        """How many more tasks may be scheduled for the request."""
        limits = [request.tasks_left]
        limits.extend(left for left in (self.campaign, self.repo_day) if left is not None)
        return max(0, min(limits))

    def fit(self, request: Request, wanted: int) -> int:
        """`wanted` tasks, sized down to what remains (0: refused, see `exhausted_by`)."""
        return min(wanted, self.remaining(request))

    def exhausted_by(self, request: Request) -> str | None:
        """Why no task at all may be scheduled for the request, if so."""
        if request.tasks_left <= 0:
            return f"per-request budget of {request.max_actions} tasks spent"
        if self.campaign is not None and self.campaign <= 0:
            return "campaign task budget spent"
        if self.repo_day is not None and self.repo_day <= 0:
            return f"daily task budget for {request.push.repo} spent"
        return None


UNLIMITED = Allowance()


def sized_to(action: Action, left: int) -> Action | None:
    """A campaign-level action (downstream's or fill's add-new-jobs, the backfill) within
    `left` tasks: whole when it fits; add-new-jobs cut to the labels that fit (in order);
    a retrigger (confirm's fallback) cut to `left` runs; else None (the backfill's pushes
    then fall back one by one, each sized on its own; confirm-failures gives up)."""
    if tasks_of(action) <= left:
        return action
    if action.kind is ActionKind.ADD_NEW_JOBS and left >= action.times:
        return replace(action, labels=action.labels[: left // action.times])
    if action.kind is ActionKind.RETRIGGER and left > 0:
        details = dict(action.details)
        if "expect" in details:  # the runs awaited shrink with the retrigger
            details["expect"] = left
        return replace(action, times=left, details=details)
    return None


@dataclass(frozen=True, slots=True)
class Remedy:
    kind: ActionKind
    why: str
    replaces_task: bool  # the task stops counting: a new task will stand in for it
    awaits_rerun: bool  # the same task will get a new run


def remedy_for(request: Request, record: TaskRecord) -> Remedy | None:
    """What, if anything, the monitor should do about this task of this request."""
    if record.task_id in request.replaced or record.task_id in request.awaiting_rerun:
        return None
    if record.phase is Phase.EXCEPTION and record.reason in RERUNNABLE_REASONS:
        return Remedy(ActionKind.RERUN, f"infrastructure exception: {record.reason}", False, True)
    # deadline-exceeded is not judged here: it is retriggered only once every dependency
    # completed, else the request is blocked (core.upstream, from the REST catch-up).
    if record.phase is Phase.COALESCED:
        return Remedy(ActionKind.ADD_NEW_JOBS, "coalesced (superseded)", True, False)
    if record.phase is Phase.ORANGE and request.require_green:
        return Remedy(ActionKind.RETRIGGER, "orange, green runs required", False, False)
    return None


def fetch_results_action(request: Request, record: TaskRecord) -> Action | None:
    """Read the test results of the record's finished run, once per run (the key is the
    run's, so requests sharing the task share the fetch)."""
    last = record.status.last_run
    if last is None or record.phase not in (Phase.COMPLETED, Phase.ORANGE):
        return None
    return Action(
        key=f"results:{record.task_id}:{last.run_id}",
        kind=ActionKind.FETCH_RESULTS,
        push=request.push,
        request_id=request.request_id,
        campaign_id=request.campaign_id,
        task_id=record.task_id,
        why=f"judge run {last.run_id} by its test results",
        details={"run": last.run_id, "orange": int(record.phase is Phase.ORANGE)},
    )


def served_requests(action: Action) -> list[str]:
    """The requests a campaign-level action (no request of its own) brings runs to."""
    if action.request_id is not None:
        return [action.request_id]
    return [i for i in str(action.details.get("requests") or "").split(",") if i]


def action_key(request: Request) -> str:
    """The key of the request's next action: stable for the same request state."""
    return f"{request.request_id}/action-{request.actions + 1}"


def charged(request: Request, action: Action) -> Request:
    """The request once `action` is queued for it: one action more (its next action gets
    the next key) and the action's tasks counted against its budget."""
    return replace(request, actions=request.actions + 1, tasks=request.tasks + tasks_of(action))


def build_action(request: Request, remedy: Remedy, record: TaskRecord | None) -> Action:
    # A retrigger names its label too: the route chosen at the edge may be label-based
    # (retrigger-multiple, add-new-jobs) rather than task-based.
    with_label = (ActionKind.ADD_NEW_JOBS, ActionKind.RETRIGGER)
    labels = (request.label,) if remedy.kind in with_label else ()
    return Action(
        key=action_key(request),
        kind=remedy.kind,
        push=request.push,
        request_id=request.request_id,
        campaign_id=request.campaign_id,
        task_id=record.task_id if record is not None else None,
        labels=labels,
        times=1,
        why=remedy.why,
        # What the task looked like when we decided: lets a restart tell whether a rerun
        # it is unsure about already happened (the run count grew).
        details={"runs": len(record.status.runs)} if record is not None else {},
    )
