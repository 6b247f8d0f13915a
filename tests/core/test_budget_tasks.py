"""Budgets count tasks, not actions (issue 12 §3.4): what each action costs, and a remedy
sized down to what remains of the tightest budget instead of being allowed whole or refused.

The issue's reproduction: a watch wanting 100 runs with a budget of 1 got 100 tasks from
one action. Now it gets one task, and gives up once that one is in.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mozci_monitor.core.action_tasks import remedy_failed
from mozci_monitor.core.actions import (
    Action,
    ActionKind,
    Allowance,
    charged,
    sized_to,
    tasks_of,
)
from mozci_monitor.core.machine import Decision, check_missing, decide, observe, signature_hit
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
    TimelineEntry,
)

from .builders import LABEL, PUSH, TASK_A, TASK_B, record, request, slug, status

GRAPH = frozenset({LABEL})


def _action(kind: ActionKind, **fields: object) -> Action:
    return Action("k", kind, PUSH, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- what each costs


@pytest.mark.parametrize(
    ("action", "tasks"),
    [
        pytest.param(_action(ActionKind.RETRIGGER, times=1), 1, id="retrigger"),
        pytest.param(_action(ActionKind.RETRIGGER, times=7, labels=(LABEL,)), 7, id="retrigger-7"),
        pytest.param(_action(ActionKind.RERUN, task_id=TASK_A), 1, id="rerun"),
        pytest.param(_action(ActionKind.ADD_NEW_JOBS, labels=(LABEL,)), 1, id="add-1"),
        pytest.param(
            _action(ActionKind.ADD_NEW_JOBS, labels=("a", "b", "c"), times=4), 12, id="add-3x4"
        ),
        pytest.param(
            _action(ActionKind.BACKFILL, labels=(LABEL,), times=3, details={"depth": 5}),
            15,
            id="backfill-depth-x-times",
        ),
        pytest.param(_action(ActionKind.BACKFILL, labels=(LABEL,)), 1, id="backfill-no-depth"),
        pytest.param(
            _action(ActionKind.CONFIRM_FAILURES, task_id=TASK_A, details={"expect": 3}),
            3,
            id="confirm-failures-one-cf-task-per-test",
        ),
        pytest.param(_action(ActionKind.CANCEL, task_id=TASK_A), 0, id="cancel"),
        pytest.param(_action(ActionKind.NOTIFY), 0, id="notify"),
        pytest.param(_action(ActionKind.FETCH_RESULTS, task_id=TASK_A), 0, id="fetch-results"),
    ],
)
def test_tasks_of_each_kind(action: Action, tasks: int) -> None:
    assert tasks_of(action) == tasks


def test_every_kind_has_a_task_count() -> None:
    for kind in ActionKind:
        assert tasks_of(_action(kind, labels=(LABEL,), times=2)) >= 0


def test_charged_counts_one_action_and_its_tasks() -> None:
    req = request(max_actions=10, actions=2, tasks=3)
    after = charged(req, _action(ActionKind.RETRIGGER, times=4))
    assert (after.actions, after.tasks, after.tasks_left) == (3, 7, 3)
    cancelled = charged(req, _action(ActionKind.CANCEL, task_id=TASK_A))
    assert (cancelled.tasks, cancelled.tasks_left) == (3, 7)


# --------------------------------------------------------------------------- what remains


@pytest.mark.parametrize(
    ("tasks", "allowance", "remaining", "why"),
    [
        pytest.param(0, Allowance(), 5, None, id="request-only"),
        pytest.param(4, Allowance(), 1, None, id="request-nearly-spent"),
        pytest.param(5, Allowance(), 0, "per-request budget of 5 tasks spent", id="request"),
        pytest.param(0, Allowance(campaign=2), 2, None, id="campaign-tighter"),
        pytest.param(0, Allowance(campaign=0), 0, "campaign task budget spent", id="campaign"),
        pytest.param(1, Allowance(repo_day=3, campaign=9), 3, None, id="repo-day-tighter"),
        pytest.param(
            0, Allowance(repo_day=-2), 0, "daily task budget for mozilla-central spent", id="day"
        ),
    ],
)
def test_remaining_is_the_tightest_budget(
    tasks: int, allowance: Allowance, remaining: int, why: str | None
) -> None:
    req = request(max_actions=5, tasks=tasks)
    assert allowance.remaining(req) == remaining
    assert allowance.fit(req, 100) == remaining
    assert allowance.fit(req, 1) == min(1, remaining)
    assert allowance.exhausted_by(req) == why


@pytest.mark.parametrize(
    ("action", "left", "labels"),
    [
        pytest.param(_action(ActionKind.ADD_NEW_JOBS, labels=("a", "b", "c")), 3, 3, id="fits"),
        pytest.param(_action(ActionKind.ADD_NEW_JOBS, labels=("a", "b", "c")), 2, 2, id="cut"),
        pytest.param(
            _action(ActionKind.ADD_NEW_JOBS, labels=("a", "b", "c"), times=2), 5, 2, id="cut-x2"
        ),
        pytest.param(
            _action(ActionKind.ADD_NEW_JOBS, labels=("a", "b"), times=2), 1, None, id="none-fits"
        ),
        pytest.param(
            _action(ActionKind.BACKFILL, labels=("a",), details={"depth": 4}), 3, None, id="bf"
        ),
        pytest.param(
            _action(ActionKind.BACKFILL, labels=("a",), details={"depth": 4}), 4, 1, id="bf-fits"
        ),
    ],
)
def test_a_campaign_action_is_cut_to_what_fits(
    action: Action, left: int, labels: int | None
) -> None:
    sized = sized_to(action, left)
    if labels is None:
        assert sized is None
    else:
        assert sized is not None and sized.labels == action.labels[:labels]
        assert tasks_of(sized) <= left


def test_a_confirm_retrigger_is_cut_and_awaits_only_the_runs_it_asks_for() -> None:
    wanted = _action(ActionKind.RETRIGGER, task_id=TASK_A, times=5, details={"expect": 5})
    sized = sized_to(wanted, 2)
    assert sized is not None
    assert (sized.times, sized.details["expect"], tasks_of(sized)) == (2, 2, 2)
    assert sized_to(wanted, 0) is None


def test_confirm_failures_is_sent_whole_or_not_at_all() -> None:
    # gecko picks the tests to rerun; the monitor cannot ask it for fewer -cf tasks
    wanted = _action(ActionKind.CONFIRM_FAILURES, task_id=TASK_A, details={"expect": 4})
    assert sized_to(wanted, 4) is wanted
    assert sized_to(wanted, 3) is None


# --------------------------------------------------------------------------- sized remedies


def _watch(**fields: object) -> Request:
    return request(remedy=RemedyPolicy.WATCH, **fields)  # type: ignore[arg-type]


def test_the_issue_a_watch_of_100_with_a_budget_of_1_gets_1_task() -> None:
    req = _watch(wanted=100, max_actions=1)
    decision = check_missing(req, frozenset(), GRAPH, Allowance())
    (action,) = decision.actions
    assert (action.kind, action.times, tasks_of(action)) == (ActionKind.ADD_NEW_JOBS, 1, 1)
    after = decision.request
    assert (after.actions, after.tasks, after.tasks_left, after.expected_new) == (1, 1, 0, 1)
    assert not after.is_final

    # Its one run is still to come: the spent budget waits for it ...
    assert check_missing(after, frozenset(), GRAPH, Allowance()).actions == ()
    assert not check_missing(after, frozenset(), GRAPH, Allowance()).changed

    # ... and once it is in, the request gives up on the other 99, saying why.
    seen = decide(after, {}, observe(None, status("completed"), LABEL))
    assert seen.request.expected_new == 0 and not seen.request.is_final
    final = check_missing(seen.request, frozenset({LABEL}), GRAPH, Allowance())
    assert final.actions == ()
    why = "per-request budget of 1 tasks spent"
    assert (final.request.state, final.request.failure, final.request.reason) == (
        RequestState.FAILED,
        FailureKind.BUDGET,
        why,
    )
    assert final.timeline[0] == TimelineEntry("gave-up", None, {"wanted": "retrigger", "why": why})


@pytest.mark.parametrize(
    ("phase", "gives_up"),
    [
        pytest.param(Phase.SCHEDULED, False, id="scheduled"),
        pytest.param(Phase.PENDING, False, id="pending"),
        pytest.param(Phase.RUNNING, False, id="running"),
        pytest.param(Phase.RETRYING, False, id="retrying"),
        pytest.param(Phase.COMPLETED, True, id="completed"),
        pytest.param(Phase.ORANGE, True, id="orange"),
    ],
)
def test_a_spent_budget_gives_up_once_the_runs_it_paid_for_finished(
    phase: Phase, gives_up: bool
) -> None:
    """Seen is not enough: a run still open is waited for, so that what it paid for counts
    (a range campaign would answer without it, then cancel it as obsolete)."""
    req = _watch(wanted=10, max_actions=3, tasks=3, actions=1, task_ids=(TASK_A, TASK_B))
    tasks = [record(Phase.COMPLETED, task_id=TASK_A), record(phase, task_id=TASK_B)]
    decision = check_missing(req, frozenset({LABEL}), GRAPH, Allowance(), tasks=tasks)
    assert decision.actions == ()
    assert decision.request.is_final is gives_up
    if gives_up:
        assert decision.request.failure is FailureKind.BUDGET
    else:
        assert decision == Decision(req)


def test_a_replaced_run_still_open_is_not_waited_for() -> None:
    req = _watch(wanted=10, max_actions=1, tasks=1, actions=1, task_ids=(TASK_A, TASK_B))
    req = replace(req, replaced=(TASK_B,))
    tasks = [record(Phase.COMPLETED, task_id=TASK_A), record(Phase.PENDING, task_id=TASK_B)]
    decision = check_missing(req, frozenset({LABEL}), GRAPH, Allowance(), tasks=tasks)
    assert decision.request.failure is FailureKind.BUDGET


@pytest.mark.parametrize(
    ("allowance", "times"),
    [
        pytest.param(Allowance(), 9, id="whole"),
        pytest.param(Allowance(campaign=4), 4, id="campaign-left"),
        pytest.param(Allowance(repo_day=2, campaign=4), 2, id="day-left"),
    ],
)
def test_missing_runs_are_sized_to_what_remains(allowance: Allowance, times: int) -> None:
    req = _watch(wanted=10, max_actions=20, task_ids=(TASK_A,))
    decision = check_missing(req, frozenset({LABEL}), GRAPH, allowance)
    (action,) = decision.actions
    assert (action.kind, action.times) == (ActionKind.RETRIGGER, times)
    assert (decision.request.tasks, decision.request.expected_new) == (times, times)


def test_until_fail_batch_sized_to_what_remains() -> None:
    req = request(
        remedy=RemedyPolicy.UNTIL_FAIL,
        wanted=50,
        batch=5,
        max_actions=53,
        task_ids=(TASK_A,),
    )
    done = record(Phase.COMPLETED)
    update = observe(done, status("completed", "rerun>completed"), LABEL)
    # the task's rerun completed green: the next batch is due, 2 tasks left in the campaign
    decision = decide(req, {TASK_A: done}, update, Allowance(campaign=2))
    (action,) = decision.actions
    assert (action.kind, action.times) == (ActionKind.RETRIGGER, 2)
    assert (decision.request.tasks, decision.request.expected_new) == (2, 2)


def test_a_failed_remedy_is_retried_for_what_remains() -> None:
    task = ActionTask(slug(7), "req-1/action-1", "retrigger-multiple", times=4)
    req = _watch(wanted=5, max_actions=6, actions=1, tasks=4, expected_new=4, action_tasks=(task,))
    decision = remedy_failed(req, task, "action task failed", Allowance())
    (retry,) = decision.actions
    assert (retry.kind, retry.times, retry.labels) == (ActionKind.ADD_NEW_JOBS, 2, (LABEL,))
    # the two runs it could not ask for again are no longer expected
    assert (decision.request.tasks, decision.request.expected_new) == (6, 2)


# --------------------------------------------------------------------------- cancels cost nothing


def test_cancels_are_never_refused_by_a_spent_budget() -> None:
    req = request(
        remedy=RemedyPolicy.UNTIL_SIGNATURE,
        wanted=10,
        batch=2,
        max_actions=2,
        tasks=2,
        task_ids=(TASK_A, TASK_B),
    )
    tasks = {TASK_A: record(Phase.COMPLETED), TASK_B: record(Phase.RUNNING, task_id=TASK_B)}
    decision = signature_hit(req, tasks, TASK_A, 1)
    (cancel,) = decision.actions
    assert (cancel.kind, cancel.task_id, tasks_of(cancel)) == (ActionKind.CANCEL, TASK_B, 0)


def test_a_late_run_of_a_failed_batch_is_cancelled_with_every_budget_spent() -> None:
    failed = request(
        remedy=RemedyPolicy.UNTIL_FAIL,
        wanted=10,
        batch=2,
        max_actions=2,
        tasks=2,
        expected_new=1,
        task_ids=(TASK_A,),
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
    )
    late = observe(None, status("pending", task_id=TASK_B), LABEL)
    decision = decide(failed, {TASK_A: record(Phase.ORANGE)}, late, Allowance(0, 0))
    (cancel,) = decision.actions
    assert (cancel.kind, tasks_of(cancel)) == (ActionKind.CANCEL, 0)
    assert decision.request.tasks == 2
