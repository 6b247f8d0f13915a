"""An action that schedules tasks, still pending in the outbox when what it was for ended,
is withdrawn by the actuator, not performed: for each ending (the user cancels the
campaign, a range campaign answers and retires its requests as obsolete, an until-fail
batch fails), the engine queues a remedy, the request ends, then the actuator drains the
outbox over a queue that records every call. The outbox, the request's timeline and the
metrics say why; the campaign's notification and the cancels still go out. A request
ended while its action was already in flight cancels the runs that action creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from core.builders import GROUP, LABEL, PUSH, bisect_search, record, slug, status

from mozci_monitor import planner
from mozci_monitor.actuator import Actuator
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.errors import NotFound
from mozci_monitor.core.machine import OBSOLETE
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    Push,
    RemedyPolicy,
    Request,
    RequestState,
    Run,
    RunState,
    TaskEvent,
    TaskEventKind,
    TaskRecord,
    TaskStatus,
)
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
CAMPAIGN = "c-0123456789"
REQUEST = f"{CAMPAIGN}-p101"
EXPIRED, CI_RUN, LATE_RUN, ORANGE = slug(1), slug(2), slug(3), slug(4)
ACTION_TASK = slug(900)


class Queue:
    """Taskcluster as far as the actuator reaches it: every call is recorded; a late run
    names our action task as its parent (taskgraph's `extra.parent`)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def task(self, task_id: str) -> dict[str, Any]:
        self.calls.append(("task", task_id))
        if task_id == LATE_RUN:
            return {"extra": {"parent": ACTION_TASK}, "dependencies": [ACTION_TASK]}
        return {}

    async def rerun_task(self, task_id: str) -> TaskStatus:
        self.calls.append(("rerun", task_id))
        return status("exception:claim-expired", "rerun>pending", task_id=task_id)

    async def find_decision_task(self, repo: str, revision: str) -> str:
        self.calls.append(("find_decision_task", revision))
        raise NotFound("no decision task here", source="test")

    async def cancel_task(self, task_id: str) -> TaskStatus:
        self.calls.append(("cancel", task_id))
        runs = (Run(0, RunState.EXCEPTION, "scheduled", "canceled"),)
        return TaskStatus(task_id, GROUP, "exception", 0, runs)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.store = SqliteStore(tmp_path / "state.sqlite3")
        self.engine = Engine(self.store)
        self.queue = Queue()
        self.results: list[tuple[str, str]] = []
        self.abandoned: list[str] = []

        async def in_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        async def abandoned(action: Action, error: str) -> None:
            self.abandoned.append(action.key)
            self.engine.action_failed(action, error, AT)

        async def withdrawn(action: Action, why: str) -> None:
            self.engine.action_withdrawn(action, why, AT)

        self.actuator = Actuator(
            in_store=in_store,
            store=self.store,
            taskcluster=self.queue,  # type: ignore[arg-type]
            render=lambda *a, **k: None,  # type: ignore[arg-type,return-value]
            sinks=(),
            on_permanent_failure=abandoned,
            on_result=lambda kind, result: self.results.append((kind, result)),
            on_withdrawn=withdrawn,
            now=lambda: AT,
        )

    def entries(
        self, kind: ActionKind, campaign_id: str = CAMPAIGN
    ) -> list[tuple[str, str | None]]:
        return [
            (entry.state, entry.result)
            for entry in self.store.actions_of(campaign_id=campaign_id)
            if entry.action.kind is kind
        ]

    def request(self, request_id: str = REQUEST) -> Request:
        found = self.store.get_request(request_id)
        assert found is not None
        return found

    def withdrawn_notes(self, request_id: str = REQUEST) -> list[Any]:
        return [e.detail["note"] for e in self.store.timeline(request_id) if e.kind == "withdrawn"]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def _expired(group: str = GROUP) -> TaskRecord:
    """A task whose run was lost with no automatic retry left: the remedy is a rerun."""
    return record(
        Phase.EXCEPTION, task_id=EXPIRED, group=group, reason="claim-expired", retries_left=0
    )


def _pending(task_id: str) -> TaskEvent:
    """A new run of the label shows up on the push left behind."""
    return TaskEvent(
        TaskEventKind.PENDING, status("pending", task_id=task_id, group=PROBED_GROUP), 0, LABEL
    )


def _start_with_a_pending_rerun(harness: Harness) -> None:
    """A watch whose task's run was lost: the rerun waits in the outbox."""
    with harness.store.transaction():
        harness.store.save_tasks([_expired()], AT)
    campaign = Campaign(CAMPAIGN, CampaignKind.WATCH, PUSH, label=LABEL)
    request = Request(REQUEST, PUSH, LABEL, wanted=1, remedy=RemedyPolicy.WATCH, max_actions=3)
    harness.engine.start_campaign(campaign, [request], AT)


SEARCH = "c-behind0001"
PROBED = f"{SEARCH}-p109-n3"
PROBED_GROUP = slug(508)


def _search_answered(harness: Harness, **fields: Any) -> None:
    """A bisect search over pushes 101-111 (as tests/test_engine_obsolete_runs.py), whose
    planning found 106 passing 40 times and 107 failing 4 times: the answer is there as the
    campaign starts, and the request probing 109 ends obsolete; its run lost on 109 had
    queued a rerun just before."""
    runs = [(0, 0)] * 5 + [(40, 0), (0, 4), (0, 0), (0, 0), (0, 0), (2, 1)]
    campaign = bisect_search(SEARCH, runs, PROBED, LABEL)
    with harness.store.transaction():
        harness.store.save_tasks([_expired(group=PROBED_GROUP)], AT)
    probed = Request(
        PROBED,
        Push("autoland", f"{109:040x}", PROBED_GROUP),
        LABEL,
        wanted=3,
        remedy=RemedyPolicy.WATCH,
        max_actions=3,
        **fields,
    )
    harness.engine.start_campaign(campaign, [probed], AT)


async def test_a_user_cancel_withdraws_the_pending_rerun(harness: Harness) -> None:
    _start_with_a_pending_rerun(harness)
    assert harness.entries(ActionKind.RERUN) == [("pending", None)]
    harness.engine.cancel_campaign(CAMPAIGN, "cancelled by sheriff", AT)

    assert await harness.actuator.drain() is False

    assert harness.queue.calls == []  # nothing reached Taskcluster
    why = "withdrawn: request ended (cancelled by sheriff)"
    assert harness.entries(ActionKind.RERUN) == [("withdrawn", why)]
    assert harness.withdrawn_notes() == [why]
    assert ("rerun", "withdrawn") in harness.results
    # The campaign's end is still told.
    assert harness.entries(ActionKind.NOTIFY) == [("done", "notified via no sink")]
    request = harness.request()
    assert request.awaiting_rerun == () and not request.is_watching


async def test_an_obsolete_end_withdraws_the_pending_rerun(harness: Harness) -> None:
    _search_answered(harness)
    ended = harness.request(PROBED)
    assert (ended.state, ended.reason) == (RequestState.CANCELED, OBSOLETE)
    assert harness.entries(ActionKind.RERUN, SEARCH) == [("pending", None)]

    assert await harness.actuator.drain() is False

    assert [call for call in harness.queue.calls if call[0] == "rerun"] == []
    why = f"withdrawn: request ended ({OBSOLETE})"
    assert harness.entries(ActionKind.RERUN, SEARCH) == [("withdrawn", why)]
    assert harness.withdrawn_notes(PROBED) == [why]
    assert ("rerun", "withdrawn") in harness.results
    assert harness.request(PROBED).awaiting_rerun == ()


async def test_a_failed_until_fail_batch_withdraws_its_next_retrigger(harness: Harness) -> None:
    plan = planner.plan_until_fail(PUSH, label=LABEL, batch=2, budget=10)
    campaign = Campaign(CAMPAIGN, plan.campaign.kind, PUSH, label=LABEL, params={})
    (request,) = plan.requests
    request = Request(
        REQUEST,
        PUSH,
        LABEL,
        wanted=request.wanted,
        remedy=request.remedy,
        max_actions=request.max_actions,
        batch=request.batch,
    )
    harness.engine.start_campaign(campaign, [request], AT)

    def event(kind: TaskEventKind, task_id: str, run: str) -> TaskEvent:
        return TaskEvent(kind, status(run, task_id=task_id, group=GROUP), 0, LABEL)

    harness.engine.apply([event(TaskEventKind.COMPLETED, EXPIRED, "completed")], AT)
    assert harness.entries(ActionKind.RETRIGGER) == [("pending", None)]
    # Before the actuator got to it, another run of the label failed: the batches end.
    harness.engine.apply([event(TaskEventKind.FAILED, CI_RUN, "failed")], AT)
    ended = harness.request()
    assert (ended.state, ended.failure, ended.expected_new) == (
        RequestState.FAILED,
        FailureKind.ORANGE,
        1,  # the failed run counts as one of the batch's (it may be: a run of the label)
    )
    assert ended.awaits_cancel  # the batch it asked for, were it made, would be cancelled

    assert await harness.actuator.drain() is False

    assert harness.queue.calls == []
    (entry,) = harness.entries(ActionKind.RETRIGGER)
    assert entry[0] == "withdrawn"
    assert entry[1] == f"withdrawn: request ended ({ended.reason})"
    assert ("retrigger", "withdrawn") in harness.results
    # Its runs will not come: the request stops watching for them.
    after = harness.request()
    assert after.expected_new == 0 and not after.is_watching


async def test_an_action_in_flight_at_an_obsolete_end_has_its_late_run_cancelled(
    harness: Harness,
) -> None:
    # The retrigger was performed before the answer: its action task is known, its run not.
    _search_answered(
        harness,
        actions=1,
        expected_new=2,  # the lost run on the push, adopted, counts as one of them
        action_tasks=(ActionTask(ACTION_TASK, f"{PROBED}/action-1", "retrigger"),),
    )
    retired = harness.request(PROBED)
    assert (retired.state, retired.reason) == (RequestState.CANCELED, OBSOLETE)
    assert retired.awaits_cancel

    run = TaskEvent(
        TaskEventKind.PENDING, status("pending", task_id=LATE_RUN, group=PROBED_GROUP), 0, LABEL
    )
    harness.engine.apply([run], AT)
    assert await harness.actuator.drain() is False

    assert ("cancel", LATE_RUN) in harness.queue.calls
    assert [call for call in harness.queue.calls if call[0] == "rerun"] == []
    cancels = [
        e
        for e in harness.store.actions_of(request_id=PROBED)
        if e.action.kind is ActionKind.CANCEL and e.action.task_id == LATE_RUN
    ]
    assert [(e.state, e.result) for e in cancels] == [("done", f"canceled {LATE_RUN}")]
    assert cancels[0].action.details["created_by"] == ACTION_TASK
    after = harness.request(PROBED)
    assert after.expected_new == 0 and not after.is_watching


async def test_a_late_run_ci_scheduled_itself_is_left_alone(harness: Harness) -> None:
    _search_answered(
        harness,
        actions=1,
        expected_new=2,  # the lost run on the push, adopted, counts as one of them
        action_tasks=(ActionTask(ACTION_TASK, f"{PROBED}/action-1", "retrigger"),),
    )
    run = TaskEvent(
        TaskEventKind.PENDING, status("pending", task_id=CI_RUN, group=PROBED_GROUP), 0, LABEL
    )
    harness.engine.apply([run], AT)
    assert await harness.actuator.drain() is False
    assert ("cancel", CI_RUN) not in harness.queue.calls
    results = [
        e.result
        for e in harness.store.actions_of(request_id=PROBED)
        if e.action.kind is ActionKind.CANCEL and e.action.task_id == CI_RUN
    ]
    assert results == [f"left {CI_RUN} alone: none of our action tasks created it"]


async def test_an_open_request_keeps_its_action(harness: Harness) -> None:
    _start_with_a_pending_rerun(harness)
    assert await harness.actuator.drain() is False
    assert ("rerun", EXPIRED) in harness.queue.calls
    assert harness.entries(ActionKind.RERUN)[0][0] == "done"
    assert harness.store.get_campaign(CAMPAIGN).state is CampaignState.RUNNING  # type: ignore[union-attr]
