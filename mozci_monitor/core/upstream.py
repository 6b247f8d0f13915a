"""Failed upstreams: a task that cannot run because a task it depends on failed.

In a real task group a failed build leaves its tests `unscheduled` until their deadline,
then they resolve `exception: deadline-exceeded`. Retriggering such a test spends an
action on a task that is blocked by the same failed build (mozilla/mozci PR 1167 stopped
retriggering deadline-exceeded for that reason). So:

- a request whose task waits (unscheduled) or expired while one of its dependencies
  failed or ended in exception ends `blocked`, naming that upstream task and its result;
- `deadline-exceeded` is retriggered only once every dependency completed.

Pure: the dependencies' states are given (the REST catch-up reads them from the group).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mozci_monitor.core.actions import (
    RETRIGGER_REASONS,
    UNLIMITED,
    Action,
    ActionKind,
    Allowance,
    Remedy,
    build_action,
    charged,
)
from mozci_monitor.core.machine import Decision
from mozci_monitor.core.model import (
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TimelineEntry,
)

FAILED_STATES = frozenset({"failed", "exception"})


@dataclass(frozen=True, slots=True)
class Upstream:
    """A dependency of a request's task, as the queue reports it now."""

    task_id: str
    label: str
    state: str  # unscheduled | pending | running | completed | failed | exception
    reason: str | None = None  # reasonResolved of its last run

    @property
    def result(self) -> str:
        return (
            f"{self.state} ({self.reason})"
            if self.reason and self.reason != self.state
            else self.state
        )


def judge_upstreams(
    request: Request,
    record: TaskRecord,
    upstreams: Sequence[Upstream],
    allowance: Allowance = UNLIMITED,
) -> Decision:
    """The request's task `record` waits or expired: block, retrigger, or wait."""
    acting = request.remedy in (RemedyPolicy.WATCH, RemedyPolicy.UNTIL_FAIL)
    if request.is_final or not acting or record.task_id not in request.task_ids:
        return Decision(request)
    if record.task_id in request.replaced:
        return Decision(request)
    expired = record.phase is Phase.EXCEPTION and record.reason in RETRIGGER_REASONS
    waiting = record.phase is Phase.SCHEDULED
    if not (expired or waiting):
        return Decision(request)
    failed = [up for up in upstreams if up.state in FAILED_STATES]
    if failed:
        return _blocked(request, record, failed[0])
    if expired and all(up.state == "completed" for up in upstreams):
        return _retrigger(request, record, allowance)
    return Decision(request)  # its dependencies are still on their way


def _blocked(request: Request, record: TaskRecord, upstream: Upstream) -> Decision:
    why = f"blocked by {upstream.label} ({upstream.task_id}): {upstream.result}"
    blocked = replace(
        request,
        state=RequestState.BLOCKED,
        failure=None,
        reason=why,
        expected_new=0,
        awaiting_rerun=(),
    )
    entries = (
        TimelineEntry(
            "blocked",
            record.task_id,
            {"upstream": upstream.task_id, "label": upstream.label, "result": upstream.result},
        ),
        TimelineEntry("state", None, {"state": blocked.state.value, "reason": why}),
    )
    return Decision(blocked, entries, (), True)


def _retrigger(request: Request, record: TaskRecord, allowance: Allowance) -> Decision:
    remedy = Remedy(ActionKind.RETRIGGER, f"exception: {record.reason}", True, False)
    return _act(request, record, remedy, build_action(request, remedy, record), allowance)


def _act(
    request: Request, record: TaskRecord, remedy: Remedy, action: Action, allowance: Allowance
) -> Decision:
    refusal = allowance.exhausted_by(request)
    if refusal is not None:
        gave_up = replace(
            request, state=RequestState.FAILED, failure=FailureKind.BUDGET, reason=refusal
        )
        entries = (
            TimelineEntry("gave-up", record.task_id, {"wanted": remedy.kind.value, "why": refusal}),
            TimelineEntry(
                "state", None, {"state": "failed", "failure": "budget", "reason": refusal}
            ),
        )
        return Decision(gave_up, entries, (), True)
    acted = replace(
        charged(request, action),
        expected_new=request.expected_new + (0 if remedy.awaits_rerun else 1),
        replaced=(*request.replaced, record.task_id) if remedy.replaces_task else request.replaced,
    )
    entry = TimelineEntry(
        "action",
        action.task_id,
        {"action": action.kind.value, "key": action.key, "why": action.why},
    )
    return Decision(acted, (entry,), (action,), True)
