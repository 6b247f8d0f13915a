"""The engine over either store: one message history, the same requests, timeline, outbox.

The contract tests pin each method; this pins what the daemon actually does with them
(one transaction per batch, remedies queued under their keys, campaigns progressed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from store.pulse_builder import GROUP, LABEL, OTHER_LABEL, FakeTask, events, make_request, slug

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import Push, RemedyPolicy, TaskEvent
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore
from store_contract.conftest import AnyStore

AT = "2026-11-22T10:00:00.000Z"
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)


def _history() -> list[list[TaskEvent | Rejection]]:
    """Batches as the daemon would get them: a watched label, an infra exception, noise."""
    watched = FakeTask(slug(1))
    flaky = FakeTask(slug(2), label=OTHER_LABEL)
    noise = FakeTask(slug(3), label="test-unwatched")
    first: list[TaskEvent | Rejection] = [
        *events([watched.pending(), flaky.pending(), noise.pending()])
    ]
    second: list[TaskEvent | Rejection] = [*events([watched.running(), flaky.running()])]
    third: list[TaskEvent | Rejection] = [
        *events([watched.resolve("completed"), flaky.resolve("exception", "internal-error")]),
        Rejection("exchange/x", "rk", "not json", b"{"),
    ]
    fourth: list[TaskEvent | Rejection] = [*events([noise.running(), noise.resolve("completed")])]
    return [first, second, [], third, fourth]


def _state(store: AnyStore, campaign_id: str) -> dict[str, Any]:
    requests = store.campaign_requests(campaign_id)
    return {
        "campaign": store.get_campaign(campaign_id),
        "requests": requests,
        "timeline": {
            r.request_id: [(e.kind, e.task_id, e.detail) for e in store.timeline(r.request_id)]
            for r in requests
        },
        "outbox": [
            (e.key, e.action, e.state)
            for r in requests
            for e in store.actions_of(request_id=r.request_id)
        ]
        + [(e.key, e.action, e.state) for e in store.actions_of(campaign_id=campaign_id)],
        "tasks": store.tasks_in_group(GROUP),
        "rejections": store.count_rejections(),
    }


def _run(store: AnyStore) -> dict[str, Any]:
    engine = Engine(store, repo_day_budget=10)
    campaign = Campaign("c-1", CampaignKind.WATCH, PUSH, label=LABEL, max_actions=5)
    requests = [
        make_request("c-1-a", label=LABEL, wanted=2, remedy=RemedyPolicy.WATCH, max_actions=3),
        make_request("c-1-b", label=OTHER_LABEL, remedy=RemedyPolicy.WATCH, max_actions=3),
    ]
    engine.start_campaign(campaign, requests, AT)
    for batch in _history():
        engine.apply(batch, AT)
    engine.apply(_history()[0], AT, dry_run=True)
    return _state(store, "c-1")


def test_the_same_history_gives_the_same_state_on_both_stores(
    store: AnyStore, tmp_path: Path
) -> None:
    ours = _run(store)
    reference_store = SqliteStore(tmp_path / "reference.sqlite3")
    try:
        reference = _run(reference_store)
    finally:
        reference_store.close()
    assert ours == reference
    # And the history did something worth comparing: remedies were queued, states moved.
    assert {action.kind.value for _, action, _ in ours["outbox"]} == {"rerun"}
    adopted = {r.request_id: r.task_ids for r in ours["requests"]}
    assert adopted == {"c-1-a": (slug(1),), "c-1-b": (slug(2),)}
    assert [r.awaiting_rerun for r in ours["requests"]] == [(), (slug(2),)]
    assert ours["rejections"] == 1
