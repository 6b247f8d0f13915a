"""A confirm campaign in the engine, on a real store: its start action and the runs it
awaits, and the bounds that end it when gecko's action produces nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from core.builders import GROUP, LABEL, PUSH, record, slug, status

from mozci_monitor.core.action_tasks import Bounds
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.confirm import ConfirmTarget
from mozci_monitor.core.kinds import Budgets, ConfirmParams
from mozci_monitor.core.kinds import confirm as kind
from mozci_monitor.core.model import FailureKind, Phase, RequestState, TaskEvent, TaskEventKind
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-12-06T05:00:00.000Z"
LATER = "2026-12-06T07:00:00.000Z"  # two hours on: past the bound below
FAILING = slug(1)
TARGETS = [
    ConfirmTarget("dom/base/test/test_a.html", "dom/base/test/test_a.html", "a.toml"),
    ConfirmTarget("dom/base/test/test_b.html", "dom/base/test/test_b.html", "a.toml"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def _start(engine: Engine, store: SqliteStore, *, has_variant: bool) -> str:
    """A confirm of FAILING (orange, already known to the store); returns its id."""
    with store.transaction():
        store.save_task(record(Phase.ORANGE, task_id=FAILING), AT)
    params = ConfirmParams(repo=PUSH.repo, revision=PUSH.revision, task_id=FAILING, times=4)
    campaign, requests = kind.build(
        params,
        PUSH,
        "c-confirm001",
        Budgets(per_request=3, per_campaign=None),
        failing=kind.FailingTask(FAILING, 0, LABEL, "mochitest-browser-chrome"),
        targets=TARGETS,
        has_confirm_variant=has_variant,
    )
    engine.start_campaign(campaign, requests, AT)
    return campaign.campaign_id


def _start_action(store: SqliteStore, campaign_id: str) -> Action:
    (entry,) = [
        e for e in store.actions_of(campaign_id=campaign_id) if e.action.kind.value != "notify"
    ]
    return entry.action


def test_confirm_failures_is_queued_once_and_its_cf_tasks_awaited(store: SqliteStore) -> None:
    engine = Engine(store, results=store)
    campaign_id = _start(engine, store, has_variant=True)

    action = _start_action(store, campaign_id)
    assert (action.kind, action.task_id, action.key) == (
        ActionKind.CONFIRM_FAILURES,
        FAILING,
        f"campaign:{campaign_id}:confirm-failures",
    )
    (request,) = store.campaign_requests(campaign_id)
    # the failing task is not a -cf task: nothing adopted, one -cf task awaited per test
    assert (request.label, request.task_ids, request.expected_new) == (LABEL + "-cf", (), 2)
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and campaign.actions == 1  # counted in its budget


def test_retriggers_are_awaited_beside_the_failing_task_it_adopted(store: SqliteStore) -> None:
    engine = Engine(store, results=store)
    campaign_id = _start(engine, store, has_variant=False)

    action = _start_action(store, campaign_id)
    assert (action.kind, action.task_id, action.times) == (ActionKind.RETRIGGER, FAILING, 4)
    (request,) = store.campaign_requests(campaign_id)
    # adopting the failing task took nothing off the runs the retriggers bring
    assert (request.task_ids, request.replaced, request.expected_new) == (
        (FAILING,),
        (FAILING,),
        4,
    )
    assert not request.is_final


def _action_task_event(task_id: str, state: str) -> TaskEvent:
    kind = TaskEventKind.FAILED if state == "failed" else TaskEventKind.COMPLETED
    return TaskEvent(kind, status(state, task_id=task_id, group=GROUP), 0, "action-callback")


def test_a_failed_action_task_gives_up_without_a_retry_by_label(store: SqliteStore) -> None:
    engine = Engine(store, results=store)
    campaign_id = _start(engine, store, has_variant=True)
    action = _start_action(store, campaign_id)
    action_task = slug(9)

    engine.action_task_created(action, action_task, "confirm-failures", AT)
    engine.apply([_action_task_event(action_task, "failed")], AT)

    (request,) = store.campaign_requests(campaign_id)
    assert (request.state, request.failure) == (RequestState.FAILED, FailureKind.ACTION)
    assert request.reason is not None and f"action task {action_task} failed" in request.reason
    # add-new-jobs of the -cf label would run the whole chunk: never tried
    kinds = [e.action.kind.value for e in store.actions_of(request_id=request.request_id)]
    assert "add-new-jobs" not in kinds
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and campaign.state is CampaignState.GAVE_UP
    assert campaign.outcome is not None and campaign.outcome.endswith(
        "cannot tell for 2 test(s) (by -cf tasks)"
    )


def test_cf_tasks_that_never_appear_end_the_campaign_at_the_bound(store: SqliteStore) -> None:
    engine = Engine(store, results=store, bounds=Bounds(run_appear_seconds=3600.0))
    campaign_id = _start(engine, store, has_variant=True)
    action = _start_action(store, campaign_id)
    action_task = slug(9)
    engine.action_task_created(action, action_task, "confirm-failures", AT)
    engine.apply([_action_task_event(action_task, "completed")], AT)

    engine.check_bounds(GROUP, AT)  # not yet
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and not campaign.is_final
    engine.check_bounds(GROUP, LATER)

    (request,) = store.campaign_requests(campaign_id)
    assert (request.state, request.failure) == (RequestState.FAILED, FailureKind.ACTION)
    assert request.reason is not None and "no new run appeared" in request.reason
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and campaign.state is CampaignState.GAVE_UP
