"""Actions the monitor decides on, and the remedy policy that picks them.

An action carries an idempotency key derived from the state that decided it (the request's
action counter), so the same decision taken twice — a redelivered message, a replay after
a crash — yields the same key, and the outbox performs it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


# Kinds that act on Firefox CI, and so count against the action budgets: all but the
# notification and the reads.
BUDGETED_KINDS = frozenset(ActionKind) - {ActionKind.NOTIFY, ActionKind.FETCH_RESULTS}


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


@dataclass(frozen=True, slots=True)
class Allowance:
    """Actions still allowed beyond the request's own budget; None means no limit."""

    campaign: int | None = None
    repo_day: int | None = None

    def exhausted_by(self, request: Request) -> str | None:
        if request.actions_left <= 0:
            return f"per-request budget of {request.max_actions} actions used up"
        if self.campaign is not None and self.campaign <= 0:
            return "campaign action budget used up"
        if self.repo_day is not None and self.repo_day <= 0:
            return f"daily action budget for {request.push.repo} used up"
        return None


UNLIMITED = Allowance()


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
