"""Campaigns of every kind and end, built through the core's own campaign logic.

The answers (last good / first bad, change point, until-fail hit) are computed by
`progress_campaign` from requests' runs, as the daemon computes them: nothing here is a
hand-written answer. Used by the page tests (tests/api) and the notification tests
(tests/notify).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from mozci_monitor.api.backend import ActionView, TimelineEntryView
from mozci_monitor.core.by_signature import JUDGED
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignKind,
    CampaignState,
    cancel_campaign,
    progress_campaign,
)
from mozci_monitor.core.confirm import ConfirmTarget
from mozci_monitor.core.errorsummary import ErrorSummary, parse_errorsummary
from mozci_monitor.core.kinds import Budgets, ConfirmParams
from mozci_monitor.core.kinds import confirm as kinds_confirm
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, Request, RequestState
from mozci_monitor.patterns import re2_search

REPO = "autoland"
GROUP = "fQ1YvXN1SDG4IWQyLPAUMQ"
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-e10s-1"
BUILD = "build-linux64/opt"


def revision(n: int) -> str:
    return f"{n:04x}" + "0123456789abcdef0123456789abcdef0123"[: 40 - 4]


def group(n: int) -> str:
    return f"Grp{n:04d}" + "A" * 15  # 22 characters, like a slug id


PUSH = Push(REPO, revision(9), GROUP)


@dataclass
class Sample:
    """A campaign as the API backend would hold it."""

    campaign: Campaign
    requests: list[Request] = field(default_factory=list)
    timelines: dict[str, list[TimelineEntryView]] = field(default_factory=dict)
    actions: list[ActionView] = field(default_factory=list)


def _finish(campaign: Campaign, requests: list[Request]) -> Campaign:
    decision = progress_campaign(campaign, requests)
    assert decision.campaign.is_final, decision.campaign
    return decision.campaign


def _raw_timeline(request: Request, task_id: str, end: str) -> list[TimelineEntryView]:
    """As the store records it: every phase followed by the request state it leads to."""
    return [
        TimelineEntryView(1, "2026-11-22T10:00:00Z", "registered", None, {"wanted": 1}),
        TimelineEntryView(2, "2026-11-22T10:00:01Z", "task-seen", task_id, {"label": LABEL}),
        TimelineEntryView(
            3, "2026-11-22T10:01:00Z", "task-phase", task_id, {"phase": "pending", "run": 0}
        ),
        TimelineEntryView(4, "2026-11-22T10:01:00Z", "state", None, {"state": "pending"}),
        TimelineEntryView(
            5, "2026-11-22T10:02:00Z", "task-phase", task_id, {"phase": "running", "run": 0}
        ),
        TimelineEntryView(6, "2026-11-22T10:02:00Z", "state", None, {"state": "running"}),
        TimelineEntryView(
            7, "2026-11-22T10:30:00Z", "task-phase", task_id, {"phase": end, "run": 0}
        ),
        TimelineEntryView(
            8,
            "2026-11-22T10:30:00Z",
            "state",
            None,
            {"state": "completed"} if end == "completed" else {"state": "failed", "failure": end},
        ),
    ]


def watch(state: CampaignState = CampaignState.FINISHED) -> Sample:
    campaign_id = f"c-watch-{state.value}"
    campaign = Campaign(campaign_id, CampaignKind.WATCH, PUSH, label=LABEL, dry_run=True)
    orange = state is not CampaignState.FINISHED
    request = Request(
        f"{campaign_id}-r1",
        PUSH,
        LABEL,
        state=RequestState.FAILED if orange else RequestState.COMPLETED,
        failure=FailureKind.ORANGE if orange else None,
        reason="test failure" if orange else None,
        campaign_id=campaign.campaign_id,
        task_ids=("TaskWatch0001AAAAAAAAAA",),
        runs_green=0 if orange else 1,
        runs_orange=1 if orange else 0,
    )
    timeline = _raw_timeline(
        request, "TaskWatch0001AAAAAAAAAA", "orange" if orange else "completed"
    )
    key = f"{campaign_id}-r1/action-1"
    timeline.insert(
        6,
        TimelineEntryView(
            6,
            "2026-11-22T10:05:00Z",
            "action",
            "TaskWatch0001AAAAAAAAAA",
            {"action": "retrigger", "key": key, "why": "fewer runs than wanted"},
        ),
    )
    actions = [
        ActionView(key, "retrigger", "done", "fewer runs than wanted", "dry-run: would retrigger")
    ]
    if state is CampaignState.CANCELED:
        finished = cancel_campaign(campaign, "canceled by a sheriff").campaign
    else:
        finished = _finish(campaign, [request])
    return Sample(finished, [request], {request.request_id: timeline}, actions)


def _expanding(kind: CampaignKind, campaign_id: str, label: str | None) -> Sample:
    added = [f"test-linux1804-64/opt-xpcshell-{n}" for n in (1, 2)]
    campaign = Campaign(
        campaign_id, kind, PUSH, label=label, params={"expanded": True, "added": added}
    )
    requests = [
        Request(
            f"{campaign_id}-r{n}", PUSH, name, state=RequestState.COMPLETED, campaign_id=campaign_id
        )
        for n, name in enumerate(added, start=1)
    ]
    return Sample(_finish(campaign, requests), requests)


def downstream() -> Sample:
    return _expanding(CampaignKind.DOWNSTREAM, "c-downstrm01", BUILD)


def fill() -> Sample:
    return _expanding(CampaignKind.FILL, "c-fill000001", None)


def _range(kind: CampaignKind, campaign_id: str, runs: list[tuple[int, int]]) -> Sample:
    """Pushes 101, 102, … with (green, orange) runs each; the last push is the campaign's."""
    entries, requests, timelines = [], [], {}
    for n, (green, orange) in enumerate(runs, start=101):
        request = Request(
            f"{campaign_id}-p{n}",
            Push(REPO, revision(n), group(n)),
            LABEL,
            wanted=green + orange,
            state=RequestState.COMPLETED if green else RequestState.FAILED,
            failure=None if green else FailureKind.ORANGE,
            campaign_id=campaign_id,
            task_ids=tuple(f"Task{n}r{i:02d}" + "B" * 12 for i in range(green + orange)),
            runs_green=green,
            runs_orange=orange,
        )
        requests.append(request)
        timelines[request.request_id] = _raw_timeline(
            request, request.task_ids[0], "completed" if green else "orange"
        )
        entries.append(
            {
                "push_id": n,
                "revision": revision(n),
                "task_group_id": group(n),
                "verdict": "unknown",
                "green": 0,
                "orange": 0,
                "request_id": request.request_id,
            }
        )
    last = len(runs) + 100
    campaign = Campaign(
        campaign_id,
        kind,
        Push(REPO, revision(last), group(last)),
        label=LABEL,
        params={"times": 10, "pushes": entries},
    )
    return Sample(_finish(campaign, requests), requests, timelines)


def backfill() -> Sample:
    """Passes on 101 and 102, not run before the backfill on 103, fails from 103 on."""
    return _range(CampaignKind.BACKFILL, "c-backfill01", [(1, 0), (2, 0), (0, 1), (0, 2), (0, 1)])


def backfill_never_passed() -> Sample:
    return _range(CampaignKind.BACKFILL, "c-backfill02", [(0, 1), (0, 1)])


def bisect() -> Sample:
    """An intermittent at 10 % that rises to about 60 % at push 104."""
    runs = [(9, 1), (9, 1), (10, 0), (4, 6), (3, 7), (4, 6)]
    return _range(CampaignKind.BISECT, "c-bisect0001", runs)


def bisect_no_change() -> Sample:
    return _range(CampaignKind.BISECT, "c-bisect0002", [(9, 1), (9, 1), (8, 2)])


def until_fail(hit: bool = True) -> Sample:
    campaign_id = "c-untilfail1" if hit else "c-untilfail2"
    tasks = tuple(f"TaskUf{n:02d}" + "C" * 14 for n in range(1, 9))
    request = Request(
        f"{campaign_id}-r1",
        PUSH,
        LABEL,
        wanted=50,
        state=RequestState.FAILED if hit else RequestState.COMPLETED,
        failure=FailureKind.ORANGE if hit else None,
        reason="test failure" if hit else None,
        campaign_id=campaign_id,
        task_ids=tasks,
        remedy=RemedyPolicy.UNTIL_FAIL,
        batch=5,
        runs_green=7 if hit else 50,
        runs_orange=1 if hit else 0,
        first_orange=tasks[-1] if hit else None,
    )
    campaign = Campaign(
        campaign_id, CampaignKind.UNTIL_FAIL, PUSH, label=LABEL, params={"batch": 5, "budget": 50}
    )
    timeline = []
    for n, task in enumerate(tasks, start=1):
        phase = "orange" if hit and task == tasks[-1] else "completed"
        timeline.append(
            TimelineEntryView(
                n, f"2026-11-22T11:{n:02d}:00Z", "task-phase", task, {"phase": phase, "run": 0}
            )
        )
    return Sample(_finish(campaign, [request]), [request], {request.request_id: timeline})


def gave_up() -> Sample:
    """A watch whose request spent its budget (in tasks)."""
    sample = watch()
    sample.campaign = replace(sample.campaign, campaign_id="c-watch-gave-up")
    request = replace(
        sample.requests[0],
        state=RequestState.FAILED,
        failure=FailureKind.BUDGET,
        reason="per-request budget of 3 tasks spent",
    )
    campaign = replace(sample.campaign, state=CampaignState.RUNNING, outcome=None, summary={})
    return Sample(_finish(campaign, [request]), [request], sample.timelines, sample.actions)


REGRESSED_TEST = "dom/base/test/browser_regressed.js"
FLAKY_TEST = "dom/base/test/browser_flaky.js"
CONFIRM_MANIFEST = "dom/base/test/browser.toml"
FAILING_TASK = "TaskFailing" + "F" * 11


def _cf_run(test: str, status: str) -> ErrorSummary:
    """A `-cf` run's errorsummary: the one test, every result written."""
    lines = [
        {"action": "test_groups", "groups": [CONFIRM_MANIFEST]},
        *(
            {
                "action": "test_result",
                "test": test,
                "group": CONFIRM_MANIFEST,
                "status": status,
                "expected": "PASS" if status == "FAIL" else "OK",
                "known_intermittent": [],
            }
            for _ in range(5)
        ),
        {"action": "group_result", "group": CONFIRM_MANIFEST, "status": "OK"},
    ]
    return parse_errorsummary("\n".join(json.dumps(line) for line in lines))


def confirm(gave_up: bool = False) -> Sample:
    """A confirm through -cf tasks: one test regressed, one intermittent (or the action
    task failed: nothing to judge, it gave up)."""
    campaign_id = "c-confirm0002" if gave_up else "c-confirm0001"
    params = ConfirmParams(repo=REPO, revision=PUSH.revision, task_id=FAILING_TASK)
    targets = [ConfirmTarget(test, test, CONFIRM_MANIFEST) for test in (REGRESSED_TEST, FLAKY_TEST)]
    campaign, (request,) = kinds_confirm.build(
        params,
        PUSH,
        campaign_id,
        Budgets(3, None),
        failing=kinds_confirm.FailingTask(FAILING_TASK, 0, LABEL, "mochitest-browser-chrome"),
        targets=targets,
        has_confirm_variant=True,
    )
    if gave_up:
        request = replace(
            request,
            state=RequestState.FAILED,
            failure=FailureKind.ACTION,
            reason="confirm-failures produced nothing: action task TaskAction failed",
            campaign_id=campaign_id,
        )
        return Sample(_finish(campaign, [request]), [request])
    tasks = ("TaskCf01" + "D" * 14, "TaskCf02" + "D" * 14)
    request = replace(
        request,
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
        reason="1 of 2 runs failed",
        campaign_id=campaign_id,
        task_ids=tasks,
        runs_green=1,
        runs_orange=1,
        first_orange=tasks[0],
    )
    judged = {}
    for task_id, summary, orange in (
        (tasks[0], _cf_run(REGRESSED_TEST, "FAIL"), True),
        (tasks[1], _cf_run(FLAKY_TEST, "OK"), False),
    ):
        judged[f"{task_id}/0"] = kinds_confirm.judgement(
            campaign, summary, task_id=task_id, run_id=0, orange=orange, match=re2_search
        )
    campaign = replace(campaign, params={**campaign.params, JUDGED: judged})
    return Sample(_finish(campaign, [request]), [request])


def every_kind() -> list[Sample]:
    """One finished campaign of every kind, plus failed, gave-up and canceled ends."""
    return [
        watch(),
        watch(CampaignState.FAILED),
        watch(CampaignState.CANCELED),
        gave_up(),
        downstream(),
        fill(),
        backfill(),
        backfill_never_passed(),
        bisect(),
        bisect_no_change(),
        until_fail(),
        until_fail(hit=False),
        confirm(),
        confirm(gave_up=True),
    ]
