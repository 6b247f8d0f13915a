"""The engine's `apply_results` on a real store: a run's test results kept once, the run
judged once, a hit ending the batches once, whatever the outbox replays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from core.builders import LABEL, PUSH, record, slug

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.by_signature import JUDGED
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.errorsummary import parse_errorsummary, summary_to_json
from mozci_monitor.core.kinds import Budgets, UntilFailParams, until_fail
from mozci_monitor.core.model import Phase, RequestState
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-12-06T05:00:00.000Z"
GROUP = "dom/base/test/mochitest.toml"
TEST = "dom/base/test/test_planted.html"
OTHER = "dom/base/test/test_flaky.html"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def _results(*failing: str) -> tuple[str, dict[str, object]]:
    lines: list[dict[str, object]] = [{"action": "test_groups", "groups": [GROUP]}]
    for test in failing:
        lines.append(
            {
                "action": "test_result",
                "test": test,
                "group": GROUP,
                "status": "FAIL",
                "expected": "PASS",
                "known_intermittent": [],
                "message": "",
            }
        )
    status = "ERROR" if failing else "OK"
    lines.append({"action": "group_result", "group": GROUP, "status": status})
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return "errorsummary", summary_to_json(parse_errorsummary(body))


def _start(engine: Engine, store: SqliteStore, tasks: list[str]) -> str:
    """An until-fail by TEST whose request serves `tasks` (the first orange, the rest
    running); returns the campaign id."""
    params = UntilFailParams(
        repo=PUSH.repo, revision=PUSH.revision, label=LABEL, test=TEST, batch=2, budget=10
    )
    campaign, requests = until_fail.build(
        params, PUSH, "c-results1", Budgets(per_request=5, per_campaign=None)
    )
    for index, task_id in enumerate(tasks):
        phase = Phase.ORANGE if index == 0 else Phase.RUNNING
        with store.transaction():
            store.save_task(record(phase, task_id=task_id), AT)
    engine.start_campaign(campaign, [replace(requests[0], task_ids=tuple(tasks))], AT)
    return campaign.campaign_id


def _fetch(campaign_id: str, task_id: str) -> Action:
    return Action(
        key=f"results:{task_id}:0",
        kind=ActionKind.FETCH_RESULTS,
        push=PUSH,
        request_id=f"{campaign_id}-r1",
        campaign_id=campaign_id,
        task_id=task_id,
        details={"run": 0, "orange": 1},
    )


def test_a_hit_is_judged_once_and_ends_the_batches_once(store: SqliteStore) -> None:
    engine = Engine(store, results=store)
    tasks = [slug(1), slug(2)]
    campaign_id = _start(engine, store, tasks)

    first = engine.apply_results(_fetch(campaign_id, tasks[0]), _results(TEST, OTHER), AT)
    # replayed by the outbox (a crash before "done"), with other results this time
    again = engine.apply_results(_fetch(campaign_id, tasks[0]), _results(), AT)

    (request,) = store.campaign_requests(campaign_id)
    assert request.state is RequestState.FAILED
    assert request.reason == f"signature hit on run 1: task {tasks[0]}"
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and campaign.state is CampaignState.FINISHED
    judged = campaign.params[JUDGED]
    assert list(judged) == [f"{tasks[0]}/0"]
    assert judged[f"{tasks[0]}/0"]["verdict"] == "hit"
    assert judged[f"{tasks[0]}/0"]["others"] == [f"test:{OTHER}"]
    # the first results kept win
    kept = store.task_results(tasks[0], 0)
    assert kept is not None and TEST in json.dumps(kept[1])
    # the open run was cancelled once: the replay queued nothing
    cancels = [
        e
        for e in store.actions_of(request_id=request.request_id)
        if e.action.kind.value == "cancel"
    ]
    assert [e.action.task_id for e in cancels] == [tasks[1]]
    assert again.actions == 0 and first.actions >= 2  # the cancel and the notification


def test_results_that_could_not_be_read_are_a_run_without_the_test(store: SqliteStore) -> None:
    engine = Engine(store, results=store)
    tasks = [slug(1), slug(2)]
    campaign_id = _start(engine, store, tasks)

    engine.apply_results(_fetch(campaign_id, tasks[0]), None, AT)

    campaign = store.get_campaign(campaign_id)
    assert campaign is not None and campaign.state is CampaignState.RUNNING
    assert campaign.params[JUDGED][f"{tasks[0]}/0"]["verdict"] == "not-run"
    assert store.task_results(tasks[0], 0) is None
    (request,) = store.campaign_requests(campaign_id)
    assert not request.is_final
