"""Once a range campaign has its answer, the engine cancels its runs still open (through
until-fail's cancel path) and says so: "cancelled N obsolete runs" on the requests'
timelines and in the campaign's summary (its page and its notification)."""

from __future__ import annotations

from pathlib import Path

from core.builders import bisect_search, record, slug

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.machine import OBSOLETE_BEHIND
from mozci_monitor.core.model import ActionTask, Phase, Push, RemedyPolicy, Request
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-e10s-1"
GROUP = "XrWNyFwpT2in-wLY9frb-w"
PUSH = Push("autoland", "a" * 40, GROUP)
ORANGE, OURS_PENDING, CI_PENDING = slug(1), slug(2), slug(3)
ACTION_TASK = slug(900)


def _campaign(kind: CampaignKind, request_id: str) -> Campaign:
    entry = {
        "push_id": 101,
        "revision": PUSH.revision,
        "task_group_id": GROUP,
        "verdict": "unknown",
        "green": 0,
        "orange": 0,
        "request_id": request_id,
    }
    return Campaign("c-obsolete01", kind, PUSH, label=LABEL, params={"times": 1, "pushes": [entry]})


def _start(tmp_path: Path, kind: CampaignKind) -> SqliteStore:
    store = SqliteStore(tmp_path / "state.sqlite3")
    with store.transaction():
        store.save_tasks(
            [
                record(Phase.ORANGE, task_id=ORANGE, group=GROUP),
                record(Phase.PENDING, task_id=OURS_PENDING, group=GROUP),
                record(Phase.RUNNING, task_id=CI_PENDING, group=GROUP),
            ],
            AT,
        )
    request = Request(
        "c-obsolete01-p101",
        PUSH,
        LABEL,
        wanted=1,
        remedy=RemedyPolicy.WATCH,
        max_actions=3,
        actions=1,
        action_tasks=(ActionTask(ACTION_TASK, "c-obsolete01-p101/action-1", "retrigger"),),
    )
    Engine(store).start_campaign(_campaign(kind, request.request_id), [request], AT)
    return store


def test_an_answered_bisect_cancels_its_runs_still_open(tmp_path: Path) -> None:
    store = _start(tmp_path, CampaignKind.BISECT)
    campaign = store.get_campaign("c-obsolete01")
    assert campaign is not None and campaign.is_final
    cancels = [
        e.action
        for e in store.actions_of(campaign_id="c-obsolete01")
        if e.action.kind is ActionKind.CANCEL
    ]
    # Both open runs are proposed; the actuator cancels only the one our action created.
    assert sorted(a.task_id or "" for a in cancels) == sorted([OURS_PENDING, CI_PENDING])
    assert {a.details["created_by"] for a in cancels} == {ACTION_TASK}
    assert campaign.summary["cleanup"] == "cancelled 2 obsolete runs"
    notes = [e.detail["note"] for e in store.timeline("c-obsolete01-p101") if e.kind == "cleanup"]
    assert notes == ["cancelled 2 obsolete runs"]


def test_other_campaigns_leave_their_runs_alone(tmp_path: Path) -> None:
    store = _start(tmp_path, CampaignKind.WATCH)
    kinds = [e.action.kind for e in store.actions_of(campaign_id="c-obsolete01")]
    assert ActionKind.CANCEL not in kinds


def test_the_campaign_text_says_how_many_runs_went(tmp_path: Path) -> None:
    from mozci_monitor.campaign_text import format_campaign

    store = _start(tmp_path, CampaignKind.BISECT)
    campaign = store.get_campaign("c-obsolete01")
    assert campaign is not None
    detail = {
        "id": campaign.campaign_id,
        "kind": campaign.kind.value,
        "state": campaign.state.value,
        "repo": PUSH.repo,
        "revision": PUSH.revision,
        "task_group_id": GROUP,
        "summary": campaign.summary,
    }
    assert "  cleanup: cancelled 2 obsolete runs" in format_campaign(detail).splitlines()


def _search_campaign(open_request_id: str) -> Campaign:
    """A search over pushes 101-111: 106 passed 10 times, 108 failed (planning found
    them), 109 was probed and its request is still open; 111 is the failing push."""
    runs = [(0, 0)] * 5 + [(10, 0), (0, 0), (0, 1), (0, 0), (0, 0), (2, 1)]
    return bisect_search("c-behind0001", runs, open_request_id, LABEL)


def test_a_search_cancels_the_runs_of_a_push_left_behind_before_its_answer(
    tmp_path: Path,
) -> None:
    """Push 108 failed after 109 was probed: 109's runs still out are cancelled (the ones
    our action created), its request ends, and the campaign goes on below 108, saying
    how many runs went."""
    store = SqliteStore(tmp_path / "state.sqlite3")
    group = slug(508)
    green, held_1, held_2 = slug(11), slug(12), slug(13)
    with store.transaction():
        store.save_tasks(
            [
                record(Phase.COMPLETED, task_id=green, group=group),
                record(Phase.PENDING, task_id=held_1, group=group),
                record(Phase.PENDING, task_id=held_2, group=group),
            ],
            AT,
        )
    probed = Request(
        "c-behind0001-p109-n3",
        Push("autoland", f"{109:040x}", group),
        LABEL,
        wanted=3,
        remedy=RemedyPolicy.WATCH,
        max_actions=3,
        actions=1,
        campaign_id="c-behind0001",
        action_tasks=(ActionTask(ACTION_TASK, "c-behind0001-p109-n3/action-1", "retrigger"),),
    )
    Engine(store).start_campaign(_search_campaign(probed.request_id), [probed], AT)

    campaign = store.get_campaign("c-behind0001")
    assert campaign is not None and not campaign.is_final
    ended = store.get_request(probed.request_id)
    assert ended is not None
    assert (ended.state.value, ended.reason) == ("canceled", OBSOLETE_BEHIND)
    cancels = [
        e.action
        for e in store.actions_of(request_id=probed.request_id)
        if e.action.kind is ActionKind.CANCEL
    ]
    assert sorted(a.task_id or "" for a in cancels) == sorted([held_1, held_2])
    assert {a.details["created_by"] for a in cancels} == {ACTION_TASK}
    notes = [e.detail["note"] for e in store.timeline(probed.request_id) if e.kind == "cleanup"]
    assert notes == ["cancelled 2 obsolete runs (newer than the first bad push)"]
    assert campaign.summary["cleanup"] == "cancelled 2 obsolete runs"
    # The search went on below the first bad push without waiting for 109.
    sampled = [step["push_id"] for step in campaign.params["search_steps"]]
    assert sampled and sampled[-1] < 108
