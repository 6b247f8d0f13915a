"""Budgets count tasks through the engine and the store (issue 12 §3.4): the reproduction
(a watch of 100 runs with a budget of 1 got 100 tasks from one action), the daily budget
per repository summed over the outbox's tasks, and campaign budgets that cut a
campaign-level action to what fits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from store.pulse_builder import GROUP, LABEL, OTHER_LABEL, FakeTask, events, make_request, slug

from mozci_monitor.core.actions import Action, ActionKind, tasks_of
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds import budgets_of
from mozci_monitor.core.kinds import watch as watch_kind
from mozci_monitor.core.kinds._expansion import added_request
from mozci_monitor.core.kinds.watch import WatchParams
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, Request, RequestState
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"
DAY = AT[:10]
REPO = "autoland"
PUSH = Push(REPO, "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
GRAPH = frozenset({LABEL, OTHER_LABEL})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "state.sqlite3")
    yield opened
    opened.close()


def _request(store: SqliteStore, request_id: str) -> Request:
    found = store.get_request(request_id)
    assert found is not None
    return found


def _queued(store: SqliteStore, request_id: str) -> list[Action]:
    return [entry.action for entry in store.actions_of(request_id=request_id)]


def _run_once(engine: Engine, task: FakeTask) -> None:
    engine.apply(events(task.lifecycle("completed")), AT)


def _campaign_with_one_run(store: SqliteStore) -> Engine:
    """Campaign c-1 (budget 3 tasks) with request c-1-r1 wanting 10 runs, one run seen."""
    engine = Engine(store)
    campaign = Campaign("c-1", CampaignKind.WATCH, PUSH, label=LABEL, max_actions=3)
    request = make_request("c-1-r1", wanted=10, remedy=RemedyPolicy.WATCH, max_actions=20)
    engine.start_campaign(campaign, [request], AT)
    _run_once(engine, FakeTask(slug(1)))
    return engine


def test_the_issue_a_watch_of_100_runs_with_a_budget_of_1_schedules_1_task(
    store: SqliteStore,
) -> None:
    params = WatchParams(
        repo=REPO,
        revision=PUSH.revision,
        task_group=GROUP,
        label=LABEL,
        times=100,
        max_actions=1,
    )
    campaign, (request,) = watch_kind.build(params, "c-0123456789", budgets_of(params, 20, 0))
    engine = Engine(store, repo_day_budget=200)
    engine.start_campaign(campaign, [request], AT)
    _run_once(engine, FakeTask(slug(1)))  # the push's own run

    engine.check_missing(request.request_id, frozenset({LABEL}), GRAPH, AT)

    (action,) = _queued(store, request.request_id)
    assert (action.kind, action.times, tasks_of(action)) == (ActionKind.RETRIGGER, 1, 1)
    assert store.count_tasks(repo=REPO, day=DAY) == 1
    assert _request(store, request.request_id).tasks == 1

    # Asked again before its one run appeared: the spent budget waits for it.
    engine.check_missing(request.request_id, frozenset({LABEL}), GRAPH, AT)
    assert not _request(store, request.request_id).is_final

    _run_once(engine, FakeTask(slug(2)))  # the retriggered run
    engine.check_missing(request.request_id, frozenset({LABEL}), GRAPH, AT)

    final = _request(store, request.request_id)
    assert (final.state, final.failure, final.reason) == (
        RequestState.FAILED,
        FailureKind.BUDGET,
        "per-request budget of 1 tasks spent",
    )
    assert len(_queued(store, request.request_id)) == 1
    assert store.count_tasks(repo=REPO, day=DAY) == 1
    gave_up = [e.detail for e in store.timeline(request.request_id) if e.kind == "gave-up"]
    assert gave_up == [{"wanted": "retrigger", "why": "per-request budget of 1 tasks spent"}]
    stored = store.get_campaign(campaign.campaign_id)
    assert stored is not None and (stored.actions, stored.tasks) == (1, 1)


def test_the_daily_budget_counts_tasks_across_requests(store: SqliteStore) -> None:
    """5 tasks a day: a retrigger of 4 leaves 1, so the next request's 3 runs are cut to
    1, and a third request is refused, saying the daily budget is spent."""
    engine = Engine(store, repo_day_budget=5)
    first = make_request("a", wanted=5, remedy=RemedyPolicy.WATCH, max_actions=20)
    second = make_request(
        "b", label=OTHER_LABEL, wanted=4, remedy=RemedyPolicy.WATCH, max_actions=20
    )
    for request in (first, second):
        engine.register(request, AT)
    _run_once(engine, FakeTask(slug(1)))
    _run_once(engine, FakeTask(slug(2), label=OTHER_LABEL))

    engine.check_missing("a", frozenset({LABEL, OTHER_LABEL}), GRAPH, AT)
    engine.check_missing("b", frozenset({LABEL, OTHER_LABEL}), GRAPH, AT)

    assert [a.times for a in _queued(store, "a")] == [4]
    assert [a.times for a in _queued(store, "b")] == [1]
    assert store.count_tasks(repo=REPO, day=DAY) == 5

    third = make_request("c", wanted=2, remedy=RemedyPolicy.WATCH, max_actions=20)
    engine.register(third, AT)
    engine.check_missing("c", frozenset({LABEL, OTHER_LABEL}), GRAPH, AT)
    refused = _request(store, "c")
    assert (refused.failure, refused.reason) == (
        FailureKind.BUDGET,
        f"daily task budget for {REPO} spent",
    )
    assert _queued(store, "c") == []
    # A new UTC day brings a fresh budget.
    assert store.count_tasks(repo=REPO, day="2026-11-23") == 0


def test_a_campaign_budget_caps_the_tasks_of_its_requests(store: SqliteStore) -> None:
    engine = _campaign_with_one_run(store)

    engine.check_missing("c-1-r1", frozenset({LABEL}), GRAPH, AT)

    assert [a.times for a in _queued(store, "c-1-r1")] == [3]
    stored = store.get_campaign("c-1")
    assert stored is not None and (stored.actions, stored.tasks, stored.tasks_left) == (1, 3, 0)


def test_a_campaign_add_new_jobs_is_cut_to_the_labels_that_fit(store: SqliteStore) -> None:
    """Downstream finds three tests missing with room for two tasks: two are scheduled,
    the third request ends `failed (budget)` saying why."""
    engine = Engine(store)
    labels = ("test-a", "test-b", "test-c")
    campaign = Campaign("c-2", CampaignKind.DOWNSTREAM, PUSH, max_actions=2)
    engine.start_campaign(campaign, [], AT)
    add = Action(
        key="c-2/downstream/build",
        kind=ActionKind.ADD_NEW_JOBS,
        push=PUSH,
        campaign_id="c-2",
        labels=labels,
        why="build completed; its tests were optimised away",
    )
    requests = [added_request(campaign, label, 3, scheduled=False) for label in labels]

    engine.add_requests("c-2", requests, AT, [add])

    (queued,) = [entry.action for entry in store.actions_of(campaign_id="c-2")]
    assert queued.labels == ("test-a", "test-b")
    by_label = {r.label: r for r in store.campaign_requests("c-2")}
    assert [by_label[label].tasks for label in labels] == [1, 1, 0]
    assert not by_label["test-a"].is_final
    cut = by_label["test-c"]
    assert (cut.failure, cut.reason) == (FailureKind.BUDGET, "campaign task budget spent")
    stored = store.get_campaign("c-2")
    assert stored is not None and stored.tasks == 2


def test_a_backfill_too_big_for_the_budget_falls_back_push_by_push(store: SqliteStore) -> None:
    """Gecko's backfill of 4 pushes x 2 runs is 8 tasks; with 5 left it is not sent: each
    push asks for its own runs instead, sized to what is left (2, 2, 1), and the last
    push gets none, saying why."""
    engine = Engine(store)
    campaign = Campaign(
        "c-3",
        CampaignKind.BACKFILL,
        PUSH,
        label=LABEL,
        params={"backfill_depth": 4, "times": 2},
        max_actions=5,
    )
    requests = [
        make_request(
            f"c-3-p{n}",
            group=slug(3_000 + n),
            wanted=2,
            expected_new=2,
            remedy=RemedyPolicy.WATCH,
            max_actions=20,
        )
        for n in range(4)
    ]

    engine.start_campaign(campaign, requests, AT)

    kinds = [entry.action.kind for entry in store.actions_of(campaign_id="c-3")]
    assert ActionKind.BACKFILL not in kinds
    times = [[a.times for a in _queued(store, r.request_id)] for r in requests]
    assert times == [[2], [2], [1], []]
    assert [_request(store, r.request_id).expected_new for r in requests[:3]] == [2, 2, 1]
    last = _request(store, requests[3].request_id)
    assert last.failure is FailureKind.ACTION
    assert last.reason is not None
    assert "campaign task budget: 5 of the 8 tasks needed left" in last.reason
    assert last.reason.endswith("no retry: campaign task budget spent")
    stored = store.get_campaign("c-3")
    assert stored is not None and stored.tasks == 5


def test_tasks_queued_earlier_in_a_batch_count_for_the_rest_of_it(store: SqliteStore) -> None:
    """Today's 3-run retrigger and one rerun fill a daily budget of 4: in one batch where
    two tasks need a rerun, the first gets it and the second is refused."""
    engine = Engine(store, repo_day_budget=4)
    engine.register(make_request("r3", wanted=4, remedy=RemedyPolicy.WATCH, max_actions=20), AT)
    _run_once(engine, FakeTask(slug(1)))
    engine.check_missing("r3", frozenset({LABEL}), GRAPH, AT)
    assert store.count_tasks(repo=REPO, day=DAY) == 3

    flaky = [FakeTask(slug(10 + n), label=f"test-flaky-{n}") for n in range(2)]
    for n in range(2):
        label = f"test-flaky-{n}"
        engine.register(
            make_request(f"f{n}", label=label, remedy=RemedyPolicy.WATCH, max_actions=20), AT
        )
    batch = [m for task in flaky for m in task.lifecycle("exception", "internal-error")]
    engine.apply(events(batch), AT)

    assert [a.kind for a in _queued(store, "f0")] == [ActionKind.RERUN]
    assert _queued(store, "f1") == []
    assert _request(store, "f1").reason == f"daily task budget for {REPO} spent"
    assert store.count_tasks(repo=REPO, day=DAY) == 4


def test_runs_the_capacity_gate_cut_are_given_back_to_the_budgets_once(
    store: SqliteStore,
) -> None:
    """A retrigger of 3 is performed as 1 (capacity): the request and its campaign were
    charged 3 tasks when it was decided, and only 1 was scheduled."""
    engine = _campaign_with_one_run(store)
    engine.check_missing("c-1-r1", frozenset({LABEL}), GRAPH, AT)
    (decided,) = _queued(store, "c-1-r1")
    before = _request(store, "c-1-r1")
    assert (decided.times, before.tasks) == (3, 3)

    performed = replace(decided, times=1, details={**decided.details, "sized_from": 3})
    for _ in range(2):  # the hook's answer seen twice: given back once
        engine.action_task_created(performed, slug(99), "retrigger-multiple", AT)

    after = _request(store, "c-1-r1")
    stored = store.get_campaign("c-1")
    assert stored is not None
    assert (after.tasks, after.expected_new) == (1, before.expected_new - 2)
    assert (stored.tasks, stored.tasks_left) == (1, 2)
