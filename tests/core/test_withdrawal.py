"""core.withdrawal as tables: which outbox actions still serve a live intent when the
actuator claims them (the others are withdrawn, with the reason), the runs a withdrawn one
no longer brings, and the late-run rule for a request ended while its action was in flight
(core.machine) with its bound (core.action_tasks)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.builders import PUSH, TASK_A, TASK_B, record, request, slug
from mozci_monitor.core.action_tasks import DEFAULT_BOUNDS, check_bounds, remedy_failed
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.machine import OBSOLETE, Change, TaskUpdate, decide
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    RemedyPolicy,
    RequestState,
)
from mozci_monitor.core.withdrawal import expected_runs, withdrawal, withdrawn

CAMPAIGN = Campaign("c-0123456789", CampaignKind.BISECT, PUSH)
ENDED = replace(CAMPAIGN, state=CampaignState.CANCELED, outcome="by sheriff")
OPEN = request(state=RequestState.RUNNING)
CANCELLED = request(state=RequestState.CANCELED, reason="cancelled by sheriff")
OBSOLETED = request(state=RequestState.CANCELED, reason=OBSOLETE)
FAILED = request(state=RequestState.FAILED, failure=FailureKind.ORANGE, reason="run 3 failed")
ACTION_TASK = slug(900)


def _action(kind: ActionKind, **fields: object) -> Action:
    return Action("req-1/action-1", kind, PUSH, request_id="req-1", task_id=TASK_A, **fields)  # type: ignore[arg-type]


def _campaign_action(kind: ActionKind, requests: str, expect: int = 2) -> Action:
    details: dict[str, str | int | None] = {"requests": requests, "expect": expect}
    return Action("c-1/start", kind, PUSH, campaign_id="c-1", details=details)


def _other(request_id: str, state: RequestState) -> object:
    return replace(request(state=state), request_id=request_id)


@pytest.mark.parametrize(
    ("kind", "requests", "campaign", "why"),
    [
        # The request is open: every action goes on.
        (ActionKind.RETRIGGER, [OPEN], CAMPAIGN, None),
        (ActionKind.RERUN, [OPEN], None, None),
        # Ended, each way: what schedules tasks is withdrawn, saying how it ended.
        (
            ActionKind.RERUN,
            [CANCELLED],
            ENDED,
            "withdrawn: request ended (cancelled by sheriff)",
        ),
        (ActionKind.RETRIGGER, [OBSOLETED], CAMPAIGN, f"withdrawn: request ended ({OBSOLETE})"),
        (ActionKind.ADD_NEW_JOBS, [FAILED], None, "withdrawn: request ended (run 3 failed)"),
        (
            ActionKind.RETRIGGER,
            [request(state=RequestState.COMPLETED)],
            None,
            "withdrawn: request ended (completed)",
        ),
        # The campaign has its answer, the request not closed (yet): nobody wants the runs.
        (ActionKind.RETRIGGER, [OPEN], ENDED, "withdrawn: campaign ended (canceled: by sheriff)"),
        # Telling, cleaning up and reading are never withdrawn.
        (ActionKind.NOTIFY, [CANCELLED], ENDED, None),
        (ActionKind.CANCEL, [OBSOLETED], ENDED, None),
        (ActionKind.FETCH_RESULTS, [FAILED], ENDED, None),
        # A request the store does not have: never guessed ended.
        (ActionKind.RETRIGGER, [], CAMPAIGN, None),
    ],
)
def test_a_request_action_is_withdrawn_once_what_it_serves_ended(
    kind: ActionKind, requests: list[object], campaign: Campaign | None, why: str | None
) -> None:
    assert withdrawal(_action(kind), requests, campaign) == why  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("states", "withdrawn_"),
    [
        ((RequestState.CANCELED, RequestState.CANCELED), True),
        # One push of the backfill still wants its runs: the action goes on.
        ((RequestState.CANCELED, RequestState.PENDING), False),
        ((RequestState.PENDING, RequestState.PENDING), False),
    ],
)
@pytest.mark.parametrize("kind", [ActionKind.BACKFILL, ActionKind.CONFIRM_FAILURES])
def test_a_campaign_action_is_withdrawn_once_every_request_it_serves_ended(
    kind: ActionKind, states: tuple[RequestState, RequestState], withdrawn_: bool
) -> None:
    served = [_other("r-1", states[0]), _other("r-2", states[1])]
    why = withdrawal(_campaign_action(kind, "r-1,r-2"), served, CAMPAIGN)  # type: ignore[arg-type]
    assert (why is not None) is withdrawn_


@pytest.mark.parametrize(
    ("action", "runs"),
    [
        (_action(ActionKind.RETRIGGER, times=3), 3),
        (_action(ActionKind.ADD_NEW_JOBS, times=2, labels=("x",)), 2),
        (_action(ActionKind.RERUN), 0),  # awaited as the task's new run instead
        (_campaign_action(ActionKind.BACKFILL, "r-1", expect=5), 5),
    ],
)
def test_the_runs_a_withdrawn_action_no_longer_brings(action: Action, runs: int) -> None:
    assert expected_runs(action) == runs


def test_a_withdrawn_action_is_on_the_timeline_and_its_runs_are_no_longer_awaited() -> None:
    ended = replace(FAILED, expected_new=3, remedy=RemedyPolicy.UNTIL_FAIL)
    assert ended.awaits_cancel
    decision = withdrawn(ended, _action(ActionKind.RETRIGGER, times=3), "why")
    assert decision.request.expected_new == 0 and not decision.request.is_watching
    (entry,) = decision.timeline
    assert (entry.kind, entry.detail["note"], entry.detail["key"]) == (
        "withdrawn",
        "why",
        "req-1/action-1",
    )


def test_a_withdrawn_rerun_is_no_longer_awaited() -> None:
    waiting = replace(OPEN, awaiting_rerun=(TASK_A, TASK_B))
    decision = withdrawn(waiting, _action(ActionKind.RERUN), "why")
    assert decision.request.awaiting_rerun == (TASK_B,)


FOLLOWED = (ActionTask(ACTION_TASK, "req-1/action-1", "retrigger", times=1),)


@pytest.mark.parametrize(
    ("ended", "cancelled", "details"),
    [
        # Cancelled (by the user, or as obsolete) with its action in flight: the late run
        # goes, only if our action task created it (the actuator checks `created_by`).
        (
            replace(CANCELLED, expected_new=1, action_tasks=FOLLOWED),
            True,
            {"created_by": ACTION_TASK},
        ),
        (
            replace(OBSOLETED, expected_new=1, action_tasks=FOLLOWED),
            True,
            {"created_by": ACTION_TASK},
        ),
        # No action task of its known: nothing proves the run ours, it is left alone.
        (replace(CANCELLED, expected_new=1), False, None),
        # A failed until-fail batch: as before, any late run of the batch goes.
        (replace(FAILED, expected_new=1, remedy=RemedyPolicy.UNTIL_FAIL), True, {}),
    ],
)
def test_a_late_run_of_an_ended_request(
    ended: object, cancelled: bool, details: dict[str, str] | None
) -> None:
    late = record(Phase.PENDING, task_id=TASK_B)
    decision = decide(ended, {}, TaskUpdate(late, Change.NEW))  # type: ignore[arg-type]
    assert decision.request.expected_new == 0
    assert TASK_B in decision.request.task_ids
    assert [a.kind for a in decision.actions] == ([ActionKind.CANCEL] if cancelled else [])
    if cancelled:
        assert dict(decision.actions[0].details) == details


def test_an_ended_request_does_not_await_runs_that_cannot_come() -> None:
    opened = "2026-11-22T10:00:00.000Z"
    done = replace(FOLLOWED[0], state="completed", completed_at="2026-11-22T10:00:00.000Z")
    ended = replace(CANCELLED, expected_new=1, action_tasks=(done,), opened_at=opened)
    assert ended.is_watching
    # Within the bound its runs may still appear.
    assert check_bounds(ended, "2026-11-22T10:30:00.000Z", DEFAULT_BOUNDS).request == ended
    later = check_bounds(ended, "2026-11-22T11:00:01.000Z", DEFAULT_BOUNDS)
    assert later.request.expected_new == 0 and not later.request.is_watching
    assert [e.kind for e in later.timeline] == ["late-runs"]
    # No action task known (its hook never answered): the request's own bound.
    orphan = replace(CANCELLED, expected_new=1, opened_at=opened)
    assert check_bounds(orphan, "2026-11-23T09:00:00.000Z", DEFAULT_BOUNDS).request == orphan
    assert (
        check_bounds(orphan, "2026-11-24T10:00:00.000Z", DEFAULT_BOUNDS).request.expected_new == 0
    )
    # Its action task failed: nothing will come.
    failed = remedy_failed(
        replace(CANCELLED, expected_new=1, action_tasks=FOLLOWED), FOLLOWED[0], "x"
    )
    assert failed.request.expected_new == 0
