"""A campaign budget spent while the runs it paid for are still running: the request waits
for them before it gives up, so its range campaign's answer counts them and the clean-up
after the answer has nothing of ours to cancel.

The race this pins down (tests/sheriff/test_bisect.py's budget test failed about one run in
six): the reconciler's periodic pass asks `check_missing` again between the retriggered
runs appearing and finishing. The request gave up there, the bisect ended with an answer
that left those runs out, and `_retire_obsolete` cancelled the runs the budget had paid for
(each cancel one more action on the campaign). Here the events come in that order, every
time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store.pulse_builder import GROUP, LABEL, FakeTask, events, make_request, slug

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, RequestState
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
GRAPH = frozenset({LABEL})
CAMPAIGN = "c-inflight01"
REQUEST = f"{CAMPAIGN}-p101"
ACTION_TASK = slug(900)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "state.sqlite3")
    yield opened
    opened.close()


def _bisect(budget: int) -> Campaign:
    """A sweep bisect of one push wanting 10 runs, with a campaign budget in tasks."""
    entry = {
        "push_id": 101,
        "revision": PUSH.revision,
        "task_group_id": GROUP,
        "verdict": "unknown",
        "green": 0,
        "orange": 0,
        "request_id": REQUEST,
    }
    params = {"strategy": "sweep", "times": 10, "pushes": [entry]}
    return Campaign(
        CAMPAIGN, CampaignKind.BISECT, PUSH, label=LABEL, params=params, max_actions=budget
    )


def _reconcile(engine: Engine) -> None:
    """What the reconciler's periodic pass asks of every open request of the group."""
    engine.check_missing(REQUEST, frozenset({LABEL}), GRAPH, AT)


def _cancels(store: SqliteStore) -> list[Action]:
    return [
        entry.action
        for entry in store.actions_of(campaign_id=CAMPAIGN)
        if entry.action.kind is ActionKind.CANCEL
    ]


def test_a_spent_campaign_budget_waits_for_the_runs_it_paid_for(store: SqliteStore) -> None:
    engine = Engine(store)
    request = make_request(REQUEST, wanted=10, remedy=RemedyPolicy.WATCH, max_actions=20)
    engine.start_campaign(_bisect(budget=3), [request], AT)
    engine.apply(events(FakeTask(slug(1)).lifecycle("completed")), AT)  # the push's own run

    _reconcile(engine)  # 9 runs missing, 3 left in the campaign's budget
    (retrigger,) = [e.action for e in store.actions_of(request_id=REQUEST)]
    assert (retrigger.kind, retrigger.times) == (ActionKind.RETRIGGER, 3)
    engine.action_task_created(retrigger, ACTION_TASK, "retrigger-multiple", AT)
    runs = [FakeTask(slug(n)) for n in (2, 3, 4)]
    engine.apply(events([run.pending() for run in runs]), AT)  # all three appeared
    engine.apply(events([run.running() for run in runs]), AT)
    engine.apply(events([runs[0].resolve("completed")]), AT)  # one of them is in

    # The race: the periodic pass comes while two paid runs still run.
    _reconcile(engine)

    waiting = store.get_request(REQUEST)
    assert waiting is not None and not waiting.is_final
    campaign = store.get_campaign(CAMPAIGN)
    assert campaign is not None and not campaign.is_final
    assert _cancels(store) == []

    engine.apply(events([run.resolve("completed") for run in runs[1:]]), AT)
    _reconcile(engine)  # every run asked for is in: now the request gives up

    final = store.get_request(REQUEST)
    assert final is not None
    assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.BUDGET)
    answered = store.get_campaign(CAMPAIGN)
    assert answered is not None and answered.state is CampaignState.GAVE_UP
    (row,) = answered.summary["answer"]["revisions"]
    assert (row["runs"], row["failures"]) == (4, 0)  # its own run and the three paid for
    assert _cancels(store) == []
    assert "cleanup" not in answered.summary
    assert (answered.actions, answered.tasks) == (1, 3)
