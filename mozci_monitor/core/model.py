"""The vocabulary of the monitor: tasks as the Taskcluster queue reports them, and requests.

A *request* is an intent ("label L on push P, wanted N times"); the Taskcluster tasks that
serve it are observed through their status snapshots. Everything here is immutable and free
of I/O and clocks so that the state machine can be tested as tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TaskEventKind(StrEnum):
    """Which queue exchange a message came from."""

    DEFINED = "task-defined"
    PENDING = "task-pending"
    RUNNING = "task-running"
    COMPLETED = "task-completed"
    FAILED = "task-failed"
    EXCEPTION = "task-exception"


EXCHANGE_PREFIX = "exchange/taskcluster-queue/v1/"
TASK_EXCHANGES: tuple[str, ...] = tuple(EXCHANGE_PREFIX + kind.value for kind in TaskEventKind)


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EXCEPTION = "exception"


RUN_STATES = frozenset(s.value for s in RunState)
TASK_STATES = RUN_STATES | {"unscheduled"}

REASONS_CREATED = frozenset({"scheduled", "retry", "task-retry", "rerun", "exception"})
REASONS_RESOLVED = frozenset(
    {
        "completed",
        "failed",
        "deadline-exceeded",
        "canceled",
        "superseded",
        "claim-expired",
        "worker-shutdown",
        "malformed-payload",
        "resource-unavailable",
        "internal-error",
        "intermittent-task",
    }
)
# The queue retries these itself (a new run with reasonCreated "retry") while retriesLeft > 0.
AUTO_RETRIED_REASONS = frozenset({"claim-expired", "worker-shutdown", "intermittent-task"})


class Phase(StrEnum):
    """Where one task stands, derived from its latest status snapshot."""

    SCHEDULED = "scheduled"  # defined/unscheduled: waiting for dependencies
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"  # infrastructure exception that the queue is retrying
    COMPLETED = "completed"
    ORANGE = "orange"  # the test ran and failed
    EXCEPTION = "exception"  # infrastructure exception, no automatic retry left
    COALESCED = "coalesced"  # legacy "superseded"
    CANCELED = "canceled"


OPEN_PHASES = frozenset({Phase.SCHEDULED, Phase.PENDING, Phase.RUNNING, Phase.RETRYING})


class RequestState(StrEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    COALESCED = "coalesced"
    FAILED = "failed"
    CANCELED = "canceled"
    BLOCKED = "blocked"  # a task it depends on failed: it cannot run (the reason names it)


FINAL_REQUEST_STATES = frozenset(
    {
        RequestState.COMPLETED,
        RequestState.COALESCED,
        RequestState.FAILED,
        RequestState.CANCELED,
        RequestState.BLOCKED,
    }
)


class FailureKind(StrEnum):
    ORANGE = "orange"  # a test failure
    EXCEPTION = "exception"  # infrastructure: the reason says which
    BUDGET = "budget"  # the monitor gave up: a budget ran out
    ACTION = "action-failed"  # the monitor's remedy could not be performed
    TIMEOUT = "timeout"  # the request reached its bound without an outcome


@dataclass(frozen=True, slots=True)
class Run:
    run_id: int
    state: RunState
    reason_created: str
    reason_resolved: str | None = None
    scheduled: str | None = None
    started: str | None = None
    resolved: str | None = None
    worker_group: str | None = None
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """The queue's view of one task (the `status` object of a message or of queue.status)."""

    task_id: str
    task_group_id: str
    state: str  # unscheduled | pending | running | completed | failed | exception
    retries_left: int
    runs: tuple[Run, ...] = ()
    provisioner_id: str = ""
    worker_type: str = ""
    scheduler_id: str = ""
    deadline: str = ""

    @property
    def last_run(self) -> Run | None:
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One parsed Pulse message from a task exchange."""

    kind: TaskEventKind
    status: TaskStatus
    run_id: int | None = None
    label: str | None = None  # from task.tags.label when the message carries it
    routing_key: str = ""

    @property
    def task_id(self) -> str:
        return self.status.task_id

    @property
    def task_group_id(self) -> str:
        return self.status.task_group_id


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """What the monitor knows of one task: its newest status snapshot and derived phase."""

    task_id: str
    task_group_id: str
    label: str | None
    status: TaskStatus
    phase: Phase
    reason: str | None = None  # reasonResolved of the deciding run, when resolved


@dataclass(frozen=True, slots=True)
class Push:
    repo: str
    revision: str
    task_group_id: str  # the decision task's group, which every task of the push joins


class RemedyPolicy(StrEnum):
    """What the monitor may do for a request when its expectations are not met."""

    RECORD = "record"  # observe and record only
    WATCH = "watch"  # rerun infra failures, reschedule coalesced / missing, retrigger oranges
    # when green runs are required
    UNTIL_FAIL = "until-fail"  # WATCH, plus retrigger in batches until a run fails
    # UNTIL_FAIL judged by a failure signature: an orange run does not end the batches;
    # the run whose test results hit the campaign's signature does (`machine.signature_hit`).
    UNTIL_SIGNATURE = "until-signature"


BATCHED_POLICIES = frozenset({RemedyPolicy.UNTIL_FAIL, RemedyPolicy.UNTIL_SIGNATURE})
# The policies under which the monitor acts (every one but RECORD).
ACTING_POLICIES = frozenset({RemedyPolicy.WATCH, *BATCHED_POLICIES})


@dataclass(frozen=True, slots=True)
class ActionTask:
    """The action task an in-tree action of ours created, followed like any task: until it
    completed, nothing it was asked for exists; if it fails, nothing ever will."""

    task_id: str
    key: str  # the outbox key of the action that created it
    route: str  # the actions.json entry that ran (retrigger-multiple, add-new-jobs, ...)
    times: int = 1  # runs it was asked for
    state: str = "running"  # running | completed | failed
    completed_at: str | None = None  # when it completed: its runs are due from then
    retry_of: str | None = None  # the key of the action this one retries by another route


@dataclass(frozen=True, slots=True)
class Request:
    """An intent: `label` on `push`, wanted `wanted` times."""

    request_id: str
    push: Push
    label: str
    wanted: int = 1
    state: RequestState = RequestState.SCHEDULED
    failure: FailureKind | None = None
    reason: str | None = None
    campaign_id: str | None = None
    task_ids: tuple[str, ...] = ()  # tasks known to serve this request, in order seen
    remedy: RemedyPolicy = field(default_factory=lambda: RemedyPolicy.RECORD)
    require_green: bool = False  # only completed runs count towards `wanted`
    # Per-request budget, in tasks the monitor may schedule (`core.actions.tasks_of`).
    max_actions: int = 0
    actions: int = 0  # monitor actions issued so far (their keys count them)
    tasks: int = 0  # tasks those actions scheduled: what `max_actions` bounds
    expected_new: int = 0  # tasks our actions asked for that have not appeared yet
    awaiting_rerun: tuple[str, ...] = ()  # tasks we asked the queue to rerun
    replaced: tuple[str, ...] = ()  # tasks superseded by a task we scheduled instead
    batch: int = 0  # UNTIL_FAIL: runs triggered at a time
    cancel_on_fail: bool = True  # UNTIL_FAIL: cancel runs still open once one failed
    # Its campaign judges runs by a failure signature: each finished run's test results
    # are read (an outbox `fetch-results`) and judged by the engine.
    judge_by_results: bool = False
    # Derived by settle() from the tasks, kept so campaigns can answer from requests alone.
    runs_green: int = 0
    runs_orange: int = 0
    first_orange: str | None = None  # task id of the first orange run seen
    action_tasks: tuple[ActionTask, ...] = ()  # the action tasks our actions created
    opened_at: str | None = None  # when it was registered: the start of its bound

    @property
    def action_task_ids(self) -> tuple[str, ...]:
        return tuple(task.task_id for task in self.action_tasks)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_REQUEST_STATES

    @property
    def awaits_cancel(self) -> bool:
        """Runs it asked for had not appeared when it ended: they are still to be seen, and
        cancelled. An until-fail request that failed; or one that was cancelled (by the
        user, or as obsolete) while an action of its was in flight (its actions still
        pending are withdrawn instead: `core.withdrawal`, which lowers `expected_new`)."""
        if self.expected_new <= 0:
            return False
        if self.state is RequestState.CANCELED:
            return True
        return (
            self.state is RequestState.FAILED
            and self.failure is FailureKind.ORANGE
            and self.remedy in BATCHED_POLICIES
            and self.cancel_on_fail
        )

    @property
    def is_watching(self) -> bool:
        """Its task group's messages still matter: open, or awaiting runs to cancel."""
        return not self.is_final or self.awaits_cancel

    @property
    def tasks_left(self) -> int:
        return max(0, self.max_actions - self.tasks)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a request's history. The store stamps it with wall time."""

    kind: str  # e.g. "task-seen", "task-phase", "state"
    task_id: str | None = None
    detail: dict[str, str | int | None] = field(default_factory=dict)
