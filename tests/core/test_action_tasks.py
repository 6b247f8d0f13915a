"""Action tasks followed to their end, and the bound on open requests (core.action_tasks)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.builders import LABEL, PUSH, TASK_B, record, request
from mozci_monitor.core.action_tasks import (
    Bounds,
    action_task_changed,
    action_task_created,
    check_bounds,
    log_path,
)
from mozci_monitor.core.actions import Action, ActionKind, Allowance
from mozci_monitor.core.campaign import Campaign, CampaignKind, backfill_action
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
)

ACTION_TASK = TASK_B
T0 = "2026-12-06T04:00:00+00:00"
BOUNDS = Bounds(run_appear_seconds=600.0, open_seconds=3600.0)


def at(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2026-12-06T{4 + hours:02d}:{minutes:02d}:{secs:02d}+00:00"


def retrigger(key: str = "req-1/action-1", times: int = 2, **details: str) -> Action:
    return Action(
        key=key,
        kind=ActionKind.RETRIGGER,
        push=PUSH,
        request_id="req-1",
        labels=(LABEL,),
        times=times,
        details=dict(details),
    )


def watching(**fields: Any) -> Request:
    base: dict[str, Any] = {
        "remedy": RemedyPolicy.WATCH,
        "max_actions": 3,
        "actions": 1,
        "expected_new": 2,
        "opened_at": T0,
    }
    base.update(fields)
    return request(**base)


def followed(route: str = "retrigger-multiple", **fields: Any) -> Request:
    started = action_task_created(watching(**fields), retrigger(), ACTION_TASK, route)
    return started.request


def test_the_created_action_task_is_followed_once():
    first = action_task_created(watching(), retrigger(), ACTION_TASK, "retrigger-multiple")
    assert first.request.action_tasks == (
        ActionTask(ACTION_TASK, "req-1/action-1", "retrigger-multiple", times=2),
    )
    assert [(e.kind, e.task_id) for e in first.timeline] == [("action-task", ACTION_TASK)]
    again = action_task_created(first.request, retrigger(), ACTION_TASK, "retrigger-multiple")
    assert not again.changed


@pytest.mark.parametrize(
    ("times", "sized_from", "expected_new", "tasks"),
    [
        (2, None, 2, 2),  # performed as decided: both runs expected, both charged
        (1, 2, 1, 1),  # capacity cut one run: not waited for, not charged (asked again)
        (1, 5, 0, 0),  # never below nothing
    ],
)
def test_runs_cut_for_capacity_are_not_waited_for_nor_charged(
    times, sized_from, expected_new, tasks
):
    details = {} if sized_from is None else {"sized_from": sized_from}
    action = replace(retrigger(times=times), details=details)
    before = watching(expected_new=2, actions=1, tasks=2)
    decided = action_task_created(before, action, ACTION_TASK, "retrigger")
    assert (decided.request.expected_new, decided.request.tasks) == (expected_new, tasks)
    assert decided.request.actions == 1  # the action still counts as one


def test_a_campaign_level_action_cut_gives_back_runs_not_budget():
    """Its requests were not charged for it by `charged`: only the wait shrinks."""
    action = replace(retrigger(times=1), request_id=None, details={"sized_from": 3})
    decided = action_task_created(watching(expected_new=3, tasks=1), action, ACTION_TASK, "x")
    assert (decided.request.expected_new, decided.request.tasks) == (1, 1)


@pytest.mark.parametrize("phase", [Phase.SCHEDULED, Phase.PENDING, Phase.RUNNING])
def test_an_open_action_task_changes_nothing(phase):
    req = followed()
    decision = action_task_changed(req, record(phase, task_id=ACTION_TASK), at(60))
    assert not decision.changed


def test_a_completed_action_task_starts_the_wait_for_its_runs():
    decision = action_task_changed(followed(), record(Phase.COMPLETED, task_id=ACTION_TASK), at(90))
    (task,) = decision.request.action_tasks
    assert (task.state, task.completed_at) == ("completed", at(90))
    assert decision.request.state is RequestState.SCHEDULED
    assert decision.actions == ()


# (route, retry_of, failing phase / reason) -> expected: a fallback action, or the give-up
FAILURES = [
    ("retrigger-multiple", None, Phase.ORANGE, None, "fallback"),
    ("retrigger", None, Phase.EXCEPTION, "malformed-payload", "fallback"),
    ("backfill", None, Phase.ORANGE, None, "fallback"),  # add-new-jobs on each push
    ("add-new-jobs", None, Phase.ORANGE, None, "give-up"),
    ("retrigger-multiple", "req-1/action-0", Phase.ORANGE, None, "give-up"),  # already a retry
]


@pytest.mark.parametrize("route, retry_of, phase, reason, expected", FAILURES)
def test_a_failed_action_task_fails_the_remedy(route, retry_of, phase, reason, expected):
    details = {"retry_of": retry_of} if retry_of else {}
    req = action_task_created(watching(), retrigger(**details), ACTION_TASK, route).request
    failing = record(phase, task_id=ACTION_TASK, reason=reason)
    decision = action_task_changed(req, failing, at(120), root_url="https://tc.example")
    (task,) = decision.request.action_tasks
    assert task.state == "failed"
    (failure,) = [e for e in decision.timeline if e.kind == "action-failed"]
    log = "https://tc.example" + log_path(ACTION_TASK, 0)
    assert log in str(failure.detail["error"])
    if expected == "fallback":
        (action,) = decision.actions
        assert (action.kind, action.labels, action.times) == (ActionKind.ADD_NEW_JOBS, (LABEL,), 2)
        assert action.details == {"retry_of": "req-1/action-1"}
        assert decision.request.actions == 2  # counted in the budget
        assert decision.request.expected_new == 2  # the retry stands for the same runs
        assert not decision.request.is_final
    else:
        assert decision.actions == ()
        final = decision.request
        assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.ACTION)
        assert final.reason is not None and route in final.reason and log in final.reason
        assert final.expected_new == 0


def test_no_fallback_when_the_budget_is_spent():
    req = followed(actions=1, tasks=3)
    failing = record(Phase.ORANGE, task_id=ACTION_TASK)
    decision = action_task_changed(req, failing, at(120), Allowance())
    assert decision.actions == ()
    assert decision.request.failure is FailureKind.ACTION
    assert "per-request budget of 3 tasks spent" in (decision.request.reason or "")


def test_a_late_message_of_a_judged_action_task_changes_nothing():
    req = followed()
    failed = action_task_changed(req, record(Phase.ORANGE, task_id=ACTION_TASK), at(120))
    later = action_task_changed(
        failed.request, record(Phase.COMPLETED, task_id=ACTION_TASK), at(130)
    )
    assert not later.changed


def completed_at(seconds: int, **fields: Any) -> Request:
    req = followed(**fields)
    return action_task_changed(
        req, record(Phase.COMPLETED, task_id=ACTION_TASK), at(seconds)
    ).request


# (seconds since T0 when checked, runs still expected) -> verdict
BOUND_TABLE = [
    (100 + 599, 2, "wait"),  # runs not yet due
    (100 + 600, 2, "fallback"),  # due and absent: the remedy failed
    (100 + 600, 0, "wait"),  # they came
    (3599, 2, "fallback"),
    (3600, 2, "timeout"),  # the request's own bound comes first
    (3600, 0, "timeout"),
]


@pytest.mark.parametrize("seconds, expected_new, verdict", BOUND_TABLE)
def test_bounds(seconds, expected_new, verdict):
    req = replace(completed_at(100), expected_new=expected_new)
    decision = check_bounds(req, at(seconds), BOUNDS)
    if verdict == "wait":
        assert not decision.changed
    elif verdict == "fallback":
        (action,) = decision.actions
        assert action.kind is ActionKind.ADD_NEW_JOBS
        assert "no new run appeared within 600 s" in action.why
    else:
        final = decision.request
        assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.TIMEOUT)
        assert final.reason is not None and final.reason.startswith("no outcome 1 h after")


def test_a_running_action_task_is_not_judged_by_time():
    req = followed()
    assert not check_bounds(req, at(3000), BOUNDS).changed


def test_every_open_request_has_a_bound():
    # Nothing asked for, nothing seen: still resolved with a reason at its bound.
    lone = request(opened_at=T0)
    assert not check_bounds(lone, at(3599), BOUNDS).changed
    final = check_bounds(lone, at(3600), BOUNDS).request
    assert final.failure is FailureKind.TIMEOUT
    assert "still scheduled" in (final.reason or "")


def test_a_final_request_is_left_alone():
    done = request(opened_at=T0, state=RequestState.COMPLETED)
    assert not check_bounds(done, at(10_000), BOUNDS).changed


def test_a_backfill_campaign_starts_with_one_in_tree_backfill():
    push_requests = [
        replace(request(expected_new=2, opened_at=T0), request_id=f"c-1-p{n}") for n in (7, 8)
    ]
    campaign = Campaign(
        "c-1",
        CampaignKind.BACKFILL,
        PUSH,
        label=LABEL,
        params={"times": 2, "backfill_depth": 3},
    )
    action = backfill_action(campaign, push_requests)
    assert action is not None
    assert (action.key, action.kind, action.labels, action.times) == (
        "campaign:c-1:backfill",
        ActionKind.BACKFILL,
        (LABEL,),
        2,
    )
    assert action.details == {"depth": 3, "requests": "c-1-p7,c-1-p8"}
    add_new_jobs_per_push = replace(campaign, params={"times": 2})
    assert backfill_action(add_new_jobs_per_push, push_requests) is None
