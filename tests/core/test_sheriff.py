"""Sheriff answers as tables: verdicts, backfill windows and answers, failure-rate intervals,
change points, label selection, and how each sheriff campaign ends.

Expected values are written out by hand (Wilson bounds computed independently, culprit
pushes picked by the reader), so the tables are a spec rather than a replay of the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignDecision,
    CampaignKind,
    CampaignState,
    progress_campaign,
)
from mozci_monitor.core.kinds.fill import select_labels
from mozci_monitor.core.model import (
    FailureKind,
    Push,
    RemedyPolicy,
    Request,
    RequestState,
)
from mozci_monitor.core.sheriff import (
    PushResult,
    Verdict,
    backfill_answer,
    change_point,
    fisher_greater,
    plan_backfill,
    verdict_of,
    wilson_interval,
)

from .builders import GROUP, LABEL, PUSH, slug


def _rev(push_id: int) -> str:
    """A revision whose first 12 characters name its push (summaries show 12)."""
    return f"{push_id}".ljust(40, "a")


P, F, N, U, S = Verdict.PASSED, Verdict.FAILED, Verdict.NOT_RUN, Verdict.UNKNOWN, Verdict.SKIPPED

# --------------------------------------------------------------------------- verdict_of


@pytest.mark.parametrize(
    ("green", "orange", "open_runs", "tasks", "verdict"),
    [
        # no task of the label at all
        pytest.param(0, 0, 0, 0, N, id="no-task"),
        # one green run is enough, whatever else happened
        pytest.param(1, 0, 0, 1, P, id="green"),
        pytest.param(1, 1, 0, 2, P, id="green-and-orange"),
        pytest.param(1, 0, 1, 2, P, id="green-and-open"),
        pytest.param(1, 1, 1, 3, P, id="green-orange-open"),
        pytest.param(2, 3, 0, 6, P, id="greens-oranges-and-an-exception"),
        # no green: open runs leave it undecided
        pytest.param(0, 0, 1, 1, U, id="open"),
        pytest.param(0, 1, 1, 2, U, id="orange-and-open"),
        # no green, nothing open
        pytest.param(0, 1, 0, 1, F, id="orange"),
        pytest.param(0, 2, 0, 3, F, id="oranges-and-an-exception"),
        pytest.param(0, 0, 0, 1, U, id="only-exceptions"),
        pytest.param(0, 0, 0, 2, U, id="only-exceptions-or-coalesced"),
    ],
)
def test_verdict_of(green: int, orange: int, open_runs: int, tasks: int, verdict: Verdict) -> None:
    assert verdict_of(green, orange, open_runs, tasks) is verdict


@pytest.mark.parametrize("green", [0, 1, 3])
@pytest.mark.parametrize("orange", [0, 1, 2])
@pytest.mark.parametrize("open_runs", [0, 1])
@pytest.mark.parametrize("exceptions", [0, 1])
def test_verdict_of_every_combination(
    green: int, orange: int, open_runs: int, exceptions: int
) -> None:
    tasks = green + orange + open_runs + exceptions
    if green:
        expected = P
    elif tasks == 0:
        expected = N
    elif open_runs:
        expected = U
    elif orange:
        expected = F
    else:
        expected = U
    assert verdict_of(green, orange, open_runs, tasks) is expected


# --------------------------------------------------------------------------- plan_backfill


def _results(verdicts: str, first_id: int = 100) -> list[PushResult]:
    """Pushes from a string of verdict letters, oldest first: P F N U S."""
    letters = {"P": P, "F": F, "N": N, "U": U, "S": S}
    return [
        PushResult(
            first_id + i,
            _rev(first_id + i),
            letters[c],
            green=1 if c == "P" else 0,
            orange=1 if c == "F" else 0,
        )
        for i, c in enumerate(verdicts)
    ]


def _newest_first(verdicts: str) -> list[PushResult]:
    return list(reversed(_results(verdicts)))


@pytest.mark.parametrize(
    ("oldest_first", "last_good_id", "to_fill"),
    [
        # the last good is the newest passing push; only not-run pushes after it are filled
        pytest.param("NPNNFN", 101, [105, 103, 102], id="last-good-found"),
        pytest.param("PPP", 102, [], id="last-good-is-the-previous-push"),
        pytest.param("PNFUSN", 100, [105, 101], id="failed-unknown-skipped-not-refilled"),
        # nothing passed: every not-run push of the range is filled
        pytest.param("NFNN", None, [103, 102, 100], id="never-passed"),
        pytest.param("FFF", None, [], id="never-passed-never-missing"),
        # not-run pushes before the last good are outside the window
        pytest.param("NNPN", 102, [103], id="older-not-run-left-alone"),
        pytest.param("", None, [], id="nothing-before-the-failing-push"),
    ],
)
def test_plan_backfill(oldest_first: str, last_good_id: int | None, to_fill: list[int]) -> None:
    newest_first = _newest_first(oldest_first)
    index, fill = plan_backfill(newest_first)
    if last_good_id is None:
        assert index is None
    else:
        assert index is not None
        assert newest_first[index].push_id == last_good_id
    assert [p.push_id for p in fill] == to_fill
    assert all(p.verdict is N for p in fill)


# --------------------------------------------------------------------------- backfill_answer


def _push(push_id: int, verdict: Verdict, green: int = 0, orange: int = 0) -> PushResult:
    return PushResult(push_id, _rev(push_id), verdict, green, orange)


def test_backfill_answer_clean_regression() -> None:
    pushes = [
        _push(100, P, green=1),
        _push(101, P, green=2),
        _push(102, F, orange=1),
        _push(103, F, orange=2),
    ]
    answer = backfill_answer(pushes)
    assert answer["last_good"] == {"push_id": 101, "revision": _rev(101)}
    assert answer["first_bad"] == {"push_id": 102, "revision": _rev(102)}
    assert answer["unknown_between"] == []
    assert answer["summary"] == (
        f"last good {_rev(101)[:12]} (push 101), first bad {_rev(102)[:12]} (push 102)"
    )
    assert [(p["push_id"], p["verdict"], p["green"], p["orange"]) for p in answer["pushes"]] == [
        (100, "passed", 1, 0),
        (101, "passed", 2, 0),
        (102, "failed", 0, 1),
        (103, "failed", 0, 2),
    ]


def test_backfill_answer_reports_undecided_pushes_between_last_good_and_first_bad() -> None:
    pushes = [
        _push(100, P, green=1),
        PushResult(101, _rev(101), S, note="no decision task"),
        _push(102, U),
        _push(103, F, orange=1),
    ]
    answer = backfill_answer(pushes)
    assert answer["last_good"]["push_id"] == 100
    assert answer["first_bad"]["push_id"] == 103
    assert answer["unknown_between"] == [_rev(101), _rev(102)]
    assert answer["pushes"][1]["note"] == "no decision task"
    assert "note" not in answer["pushes"][0]


def test_backfill_answer_never_passed_in_range() -> None:
    pushes = [_push(100, N), _push(101, F, orange=1), _push(102, F, orange=1)]
    answer = backfill_answer(pushes)
    assert answer["last_good"] is None
    assert answer["first_bad"] == {"push_id": 101, "revision": _rev(101)}
    assert answer["summary"] == (
        f"never passed in the 3 pushes analysed; earliest failure {_rev(101)[:12]}"
    )


def test_backfill_answer_no_failure_after_the_last_good() -> None:
    pushes = [_push(100, F, orange=1), _push(101, P, green=1), _push(102, U)]
    answer = backfill_answer(pushes)
    assert answer["last_good"]["push_id"] == 101
    assert answer["first_bad"] is None
    assert answer["unknown_between"] == []
    assert answer["summary"] == f"last good {_rev(101)[:12]}; no failing push after it"


def test_backfill_answer_intermittent_noise_before_the_last_good_is_ignored() -> None:
    # An orange on an old push that later passed again is noise: the answer is the last
    # good push and the first failure after it.
    pushes = [
        _push(100, P, green=3),
        _push(101, F, orange=1),
        _push(102, P, green=2, orange=1),  # passed despite one orange
        _push(103, P, green=1),
        _push(104, F, orange=2),
        _push(105, F, orange=1),
    ]
    answer = backfill_answer(pushes)
    assert answer["last_good"]["push_id"] == 103
    assert answer["first_bad"]["push_id"] == 104


def test_backfill_answer_nothing_known() -> None:
    answer = backfill_answer([_push(100, N), _push(101, U)])
    assert (answer["last_good"], answer["first_bad"]) == (None, None)
    assert answer["summary"] == "never passed in the 2 pushes analysed; earliest failure none"


# --------------------------------------------------------------------------- wilson_interval


@pytest.mark.parametrize(
    ("failures", "runs", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (1, 10, 0.0179, 0.4042),
        (3, 10, 0.1078, 0.6032),
        (0, 1, 0.0, 0.7935),
        (1, 1, 0.2065, 1.0),
        (6, 50, 0.0562, 0.238),
        (30, 100, 0.2189, 0.3958),
    ],
)
def test_wilson_interval_known_values(failures: int, runs: int, low: float, high: float) -> None:
    got = wilson_interval(failures, runs)
    assert (round(got[0], 4), round(got[1], 4)) == (low, high)
    assert 0.0 <= got[0] <= failures / runs <= got[1] <= 1.0


def test_wilson_interval_of_an_always_failing_label_reaches_one() -> None:
    low, high = wilson_interval(10, 10)
    assert low < 1.0
    assert high == 1.0


@pytest.mark.parametrize("runs", [0, -1])
def test_wilson_interval_without_runs_is_everything(runs: int) -> None:
    assert wilson_interval(0, runs) == (0.0, 1.0)


def test_wilson_interval_narrows_with_more_runs() -> None:
    widths = [high - low for low, high in (wilson_interval(n // 4, n) for n in (4, 40, 400, 4000))]
    assert widths == sorted(widths, reverse=True)


# --------------------------------------------------------------------------- change_point


def _rates(counts: Sequence[tuple[int, int]], first_id: int = 200) -> list[PushResult]:
    """(failures, runs) per push, oldest first."""
    return [
        PushResult(first_id + i, _rev(first_id + i), P, green=runs - fails, orange=fails)
        for i, (fails, runs) in enumerate(counts)
    ]


def _first_worse(counts: Sequence[tuple[int, int]]) -> int | None:
    worse = change_point(_rates(counts))["first_worse"]
    return None if worse is None else int(worse["push_id"])


@pytest.mark.parametrize(
    ("counts", "push_id"),
    [
        pytest.param([(0, 10)] * 3 + [(10, 10)] * 3, 203, id="permanent-from-203"),
        pytest.param([(0, 10)] * 4 + [(6, 10)] * 4, 204, id="sixty-percent-from-204"),
        pytest.param([(1, 20)] * 3 + [(12, 20)] * 2, 203, id="five-to-sixty-percent"),
        pytest.param([(0, 10), (6, 10)], 201, id="two-pushes"),
        pytest.param([(0, 10)] * 5 + [(8, 10)], 205, id="rise-at-the-newest-push"),
    ],
)
def test_change_point_finds_a_clean_rise(counts: list[tuple[int, int]], push_id: int) -> None:
    answer = change_point(_rates(counts))
    assert answer["first_worse"]["push_id"] == push_id
    assert answer["first_worse"]["revision"] == _rev(push_id)
    assert answer["first_worse"]["z"] >= 1.96
    assert answer["summary"].startswith(
        f"failure rate rises at {_rev(push_id)[:12]} (push {push_id})"
    )


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param([(0, 10)] * 6, id="never-fails"),
        pytest.param([(10, 10)] * 6, id="always-fails"),
        pytest.param([(3, 10)] * 6, id="steady-thirty-percent"),
        pytest.param([(6, 10)] * 3 + [(0, 10)] * 3, id="rate-falls"),
        pytest.param([(0, 10)], id="one-push"),
        pytest.param([], id="no-push"),
        pytest.param([(0, 0)] * 4, id="no-runs"),
    ],
)
def test_change_point_without_a_rise(counts: list[tuple[int, int]]) -> None:
    answer = change_point(_rates(counts))
    assert answer["first_worse"] is None
    assert answer["summary"] == "no significant rise of the failure rate in the range"
    assert len(answer["revisions"]) == len(counts)


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param([(0, 10)] * 3 + [(1, 10)] + [(0, 10)] * 2, id="middle"),
        pytest.param([(1, 10)] + [(0, 10)] * 5, id="oldest"),
        pytest.param([(0, 10)] * 2 + [(1, 1)] + [(0, 10)] * 3, id="middle-single-run"),
    ],
)
def test_change_point_one_run_blip_is_not_significant(counts: list[tuple[int, int]]) -> None:
    assert _first_worse(counts) is None


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param([(0, 10)] * 5 + [(1, 10)], id="newest-1-of-10"),
        pytest.param([(0, 10)] * 5 + [(1, 1)], id="newest-1-of-1"),
    ],
)
def test_change_point_one_run_blip_on_the_newest_push_is_not_significant(
    counts: list[tuple[int, int]],
) -> None:
    assert _first_worse(counts) is None


@pytest.mark.parametrize(
    ("counts", "push_id"),
    [
        # two failures in ten after fifty clean runs: Fisher p = 90/3540 = 0.025
        pytest.param([(0, 10)] * 5 + [(2, 10)], 205, id="two-of-ten-at-the-newest"),
        pytest.param([(0, 10)] * 5 + [(2, 2)], 205, id="two-of-two-at-the-newest"),
    ],
)
def test_change_point_two_failures_can_be_a_rise(
    counts: list[tuple[int, int]], push_id: int
) -> None:
    answer = change_point(_rates(counts))
    assert answer["first_worse"]["push_id"] == push_id
    assert answer["first_worse"]["p"] < 0.05


@pytest.mark.parametrize(
    "counts",
    [
        # z = 2.27; one failure is no rate, and Fisher's p = 5/30 = 0.17
        pytest.param([(0, 5)] * 5 + [(1, 5)], id="one-of-five-at-the-newest"),
        # two of two after two clean runs: z = 2.45, but Fisher's p = 1/6
        pytest.param([(0, 2), (2, 2)], id="tiny-counts"),
    ],
)
def test_change_point_needs_fisher_to_agree(counts: list[tuple[int, int]]) -> None:
    assert _first_worse(counts) is None


@pytest.mark.parametrize(
    ("fail_a", "runs_a", "fail_b", "runs_b", "p"),
    [
        (0, 10, 1, 10, 0.5),  # 10/20
        (0, 50, 1, 10, 10 / 60),
        (0, 50, 2, 10, 90 / 3540),
        (0, 10, 10, 10, 1 / 184756),  # 1 / C(20, 10)
        (5, 10, 0, 10, 1.0),  # a fall: every table is at least as extreme
        (0, 0, 0, 0, 1.0),
    ],
)
def test_fisher_greater_known_values(
    fail_a: int, runs_a: int, fail_b: int, runs_b: int, p: float
) -> None:
    assert fisher_greater(fail_a, runs_a, fail_b, runs_b) == pytest.approx(p, rel=1e-12)


def test_change_point_prefers_the_maximum_likelihood_split_over_an_earlier_significant_one() -> (
    None
):
    counts = [(0, 20), (2, 20), (2, 20), (15, 20), (15, 20)]
    # Splitting after the first push is already a significant rise (0/20 vs 34/80) ...
    answer = change_point(_rates([*counts[:1], (34, 80)]))
    assert answer["first_worse"] is not None
    # ... but the split that best explains the runs is at 203, where 10% becomes 75%.
    assert _first_worse(counts) == 203


def test_change_point_reports_each_revision_with_its_interval() -> None:
    answer = change_point(_rates([(0, 10), (5, 10), (0, 0)]))
    assert answer["revisions"] == [
        {
            "push_id": 200,
            "revision": _rev(200),
            "runs": 10,
            "failures": 0,
            "rate": 0.0,
            "interval": [0.0, 0.2775],
        },
        {
            "push_id": 201,
            "revision": _rev(201),
            "runs": 10,
            "failures": 5,
            "rate": 0.5,
            "interval": [0.2366, 0.7634],
        },
        {
            "push_id": 202,
            "revision": _rev(202),
            "runs": 0,
            "failures": 0,
            "rate": None,
            "interval": [0.0, 1.0],
        },
    ]


# --------------------------------------------------------------------------- select_labels

LABELS = [
    "build-linux64/opt",
    "test-linux1804-64/opt-xpcshell-1",
    "test-linux1804-64/debug-xpcshell-2",
    "test-windows11-64/opt-xpcshell-1",
    "test-windows11-64/opt-reftest-1",
    "test-macosx1015-64/opt-mochitest-plain-1",
]


@pytest.mark.parametrize(
    ("include", "exclude", "chosen"),
    [
        pytest.param([], [], LABELS, id="everything"),
        pytest.param(["xpcshell"], [], [LABELS[1], LABELS[2], LABELS[3]], id="one-include"),
        pytest.param(["xpcshell", "linux"], [], [LABELS[1], LABELS[2]], id="includes-all-match"),
        pytest.param(["xpcshell"], ["debug"], [LABELS[1], LABELS[3]], id="include-and-exclude"),
        pytest.param([], ["^test-"], [LABELS[0]], id="exclude-anchored"),
        pytest.param([], ["debug", "windows"], [LABELS[0], LABELS[1], LABELS[5]], id="excl-any"),
        pytest.param(["^test-.*-1$"], [], [LABELS[1], LABELS[3], LABELS[4], LABELS[5]], id="re"),
        pytest.param(["nothing-like-it"], [], [], id="no-match"),
        pytest.param(["xpcshell"], ["xpcshell"], [], id="exclude-wins"),
    ],
)
def test_select_labels(include: list[str], exclude: list[str], chosen: list[str]) -> None:
    # The core takes compiled patterns; the daemon compiles users' with RE2.
    compiled = [re.compile(p) for p in include], [re.compile(p) for p in exclude]
    assert select_labels(LABELS, *compiled) == chosen


# --------------------------------------------------------------------------- progress_campaign


def _request(
    request_id: str,
    state: RequestState,
    *,
    failure: FailureKind | None = None,
    green: int = 0,
    orange: int = 0,
    tasks: int | None = None,
    **extra: Any,
) -> Request:
    count = green + orange if tasks is None else tasks
    return Request(
        request_id=request_id,
        push=PUSH,
        label=LABEL,
        state=state,
        failure=failure,
        task_ids=tuple(slug(1000 + i) for i in range(count)),
        runs_green=green,
        runs_orange=orange,
        remedy=RemedyPolicy.WATCH,
        **extra,
    )


def _entry(push_id: int, verdict: Verdict, request_id: str | None = None, **counts: int) -> Any:
    entry: dict[str, Any] = {
        "push_id": push_id,
        "revision": _rev(push_id),
        "task_group_id": GROUP,
        "verdict": verdict.value,
        "green": counts.get("green", 0),
        "orange": counts.get("orange", 0),
    }
    if request_id is not None:
        entry["request_id"] = request_id
    return entry


def _campaign(kind: CampaignKind, **params: Any) -> Campaign:
    return Campaign("c-test", kind, PUSH, label=LABEL, params=params)


def _assert_finished_once(decision: CampaignDecision, state: CampaignState) -> dict[str, Any]:
    assert decision.changed
    campaign = decision.campaign
    assert campaign.state is state
    (action,) = decision.actions
    assert action.kind is ActionKind.NOTIFY
    assert action.key == "campaign:c-test:finished"
    assert action.campaign_id == "c-test"
    assert action.details["state"] == state.value
    assert action.details["kind"] == campaign.kind.value
    assert action.why == campaign.outcome
    # once final, nothing more happens: no second notification
    again = progress_campaign(campaign, [])
    assert (again.actions, again.changed, again.campaign) == ((), False, campaign)
    return dict(campaign.summary)


def _backfill_campaign() -> Campaign:
    return _campaign(
        CampaignKind.BACKFILL,
        pushes=[
            _entry(100, P, green=1),
            _entry(101, N, request_id="r101"),
            _entry(102, N, request_id="r102"),
            {**_entry(103, S), "note": "no decision task"},
            _entry(104, F, orange=1),
        ],
    )


def test_backfill_waits_for_every_push() -> None:
    campaign = _backfill_campaign()
    requests = [
        _request("r101", RequestState.COMPLETED, green=1),
        _request("r102", RequestState.RUNNING, tasks=1),
    ]
    decision = progress_campaign(campaign, requests)
    assert decision.campaign.state is CampaignState.RUNNING
    assert decision.actions == ()
    assert decision.campaign.summary["requests"] == 2


def test_backfill_answers_last_good_and_first_bad() -> None:
    requests = [
        _request("r101", RequestState.COMPLETED, green=1),
        _request("r102", RequestState.FAILED, failure=FailureKind.ORANGE, orange=1),
    ]
    decision = progress_campaign(_backfill_campaign(), requests)
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    answer = summary["answer"]
    assert answer["last_good"]["push_id"] == 101
    assert answer["first_bad"]["push_id"] == 102
    verdicts = [(p["push_id"], p["verdict"]) for p in answer["pushes"]]
    assert verdicts == [
        (100, "passed"),
        (101, "passed"),
        (102, "failed"),
        (103, "skipped"),
        (104, "failed"),
    ]
    assert answer["pushes"][3]["note"] == "no decision task"
    assert decision.campaign.outcome == answer["summary"]


def test_backfill_that_ran_out_of_budget_gives_up_with_what_it_knows() -> None:
    requests = [
        _request("r101", RequestState.COMPLETED, green=1),
        _request("r102", RequestState.FAILED, failure=FailureKind.BUDGET, reason="budget"),
    ]
    decision = progress_campaign(_backfill_campaign(), requests)
    summary = _assert_finished_once(decision, CampaignState.GAVE_UP)
    assert summary["answer"]["last_good"]["push_id"] == 101
    # push 102 got no run: the first failure known is the failing push itself
    assert summary["answer"]["first_bad"]["push_id"] == 104


def test_bisect_answers_where_the_rate_rises() -> None:
    pushes = []
    requests = []
    for i, fails in enumerate([0, 0, 6, 7]):
        pushes.append(_entry(300 + i, P, request_id=f"r{i}"))
        state = RequestState.COMPLETED
        requests.append(_request(f"r{i}", state, green=10 - fails, orange=fails))
    campaign = _campaign(CampaignKind.BISECT, times=10, pushes=pushes)
    decision = progress_campaign(campaign, requests)
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    answer = summary["answer"]
    assert answer["first_worse"]["push_id"] == 302
    assert [row["failures"] for row in answer["revisions"]] == [0, 0, 6, 7]
    assert answer["revisions"][2]["interval"] == [0.3127, 0.8318]


def test_bisect_counts_pushes_without_request_from_the_analysis() -> None:
    pushes = [
        _entry(300, P, green=10),
        {**_entry(301, S), "note": "no decision task"},
        _entry(302, P, request_id="r2"),
    ]
    requests = [_request("r2", RequestState.COMPLETED, green=2, orange=8)]
    decision = progress_campaign(_campaign(CampaignKind.BISECT, pushes=pushes), requests)
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    rows = summary["answer"]["revisions"]
    assert [(r["push_id"], r["runs"], r["failures"]) for r in rows] == [
        (300, 10, 0),
        (301, 0, 0),
        (302, 10, 8),
    ]
    # the push without runs cannot be where the rate rose
    assert summary["answer"]["first_worse"]["push_id"] == 302


def test_change_point_never_points_at_a_push_without_runs() -> None:
    assert _first_worse([(0, 10), (0, 0), (8, 10)]) == 202


def _until_fail_request(state: RequestState, **fields: Any) -> Request:
    return Request(
        request_id="r1",
        push=PUSH,
        label=LABEL,
        state=state,
        remedy=RemedyPolicy.UNTIL_FAIL,
        wanted=20,
        batch=5,
        **fields,
    )


def test_until_fail_answers_the_failing_task() -> None:
    failing = slug(7)
    request = _until_fail_request(
        RequestState.FAILED,
        failure=FailureKind.ORANGE,
        runs_green=6,
        runs_orange=1,
        first_orange=failing,
        reason=f"failed on run 7: task {failing}",
    )
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [request])
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    assert summary["answer"] == {"failed_task": failing, "green": 6, "orange": 1}
    assert decision.campaign.outcome == (
        f"failure hit on run 7 (6 green before it): task {failing}"
    )


def test_until_fail_without_failure_reports_the_pass_count() -> None:
    request = _until_fail_request(RequestState.COMPLETED, runs_green=20)
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [request])
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    assert summary["answer"] == {"failed_task": None, "green": 20, "orange": 0}
    assert decision.campaign.outcome == "no failure in 20 runs (budget reached)"


def test_until_fail_out_of_action_budget_gives_up() -> None:
    request = _until_fail_request(
        RequestState.FAILED,
        failure=FailureKind.BUDGET,
        runs_green=10,
        reason="campaign budget of 2 actions used",
    )
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [request])
    _assert_finished_once(decision, CampaignState.GAVE_UP)
    assert decision.campaign.outcome == (
        "campaign budget of 2 actions used; 10 green runs, no failure"
    )


def test_until_fail_on_an_infrastructure_failure_fails() -> None:
    request = _until_fail_request(
        RequestState.FAILED, failure=FailureKind.EXCEPTION, reason="deadline-exceeded"
    )
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [request])
    _assert_finished_once(decision, CampaignState.FAILED)
    assert decision.campaign.outcome == "deadline-exceeded"


@pytest.mark.parametrize("state", [RequestState.PENDING, RequestState.RUNNING])
def test_until_fail_waits_while_its_request_is_open(state: RequestState) -> None:
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [_until_fail_request(state)])
    assert decision.campaign.state is CampaignState.RUNNING
    assert decision.actions == ()


def test_until_fail_without_its_request_waits() -> None:
    decision = progress_campaign(_campaign(CampaignKind.UNTIL_FAIL), [])
    assert decision.campaign.state is CampaignState.RUNNING
    assert decision.actions == ()


def test_fill_waits_until_the_graph_was_expanded() -> None:
    decision = progress_campaign(_campaign(CampaignKind.FILL, include=["xpcshell"]), [])
    assert decision.campaign.state is CampaignState.RUNNING
    assert decision.actions == ()


def test_fill_with_nothing_missing_finishes() -> None:
    campaign = _campaign(CampaignKind.FILL, expanded=True, added=[])
    decision = progress_campaign(campaign, [])
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    assert decision.campaign.outcome == "nothing was missing"
    assert summary["added"] == []


def test_fill_reports_what_it_added() -> None:
    added = ["test-a-1", "test-b-1"]
    campaign = _campaign(CampaignKind.FILL, expanded=True, added=added)
    requests = [
        _request("r-a", RequestState.COMPLETED, green=1),
        _request("r-b", RequestState.RUNNING, tasks=1),
    ]
    assert progress_campaign(campaign, requests).campaign.state is CampaignState.RUNNING
    requests[1] = _request("r-b", RequestState.COMPLETED, green=1)
    decision = progress_campaign(campaign, requests)
    summary = _assert_finished_once(decision, CampaignState.FINISHED)
    assert summary["added"] == added
    assert decision.campaign.outcome == "all 2 requests satisfied"


def test_fill_with_an_orange_fails_and_with_no_budget_gives_up() -> None:
    campaign = _campaign(CampaignKind.FILL, expanded=True, added=["test-a-1", "test-b-1"])
    orange = _request("r-b", RequestState.FAILED, failure=FailureKind.ORANGE, orange=1)
    done = _request("r-a", RequestState.COMPLETED, green=1)
    decision = progress_campaign(campaign, [done, orange])
    _assert_finished_once(decision, CampaignState.FAILED)
    budget = _request("r-b", RequestState.FAILED, failure=FailureKind.BUDGET, reason="budget")
    decision = progress_campaign(campaign, [done, budget])
    _assert_finished_once(decision, CampaignState.GAVE_UP)
    assert decision.campaign.outcome == "budget (1 of 2 satisfied)"


def test_final_campaigns_never_notify_again() -> None:
    for kind in (CampaignKind.BACKFILL, CampaignKind.BISECT, CampaignKind.UNTIL_FAIL):
        final = Campaign(
            "c-x", kind, Push("autoland", "a" * 40, GROUP), state=CampaignState.FINISHED
        )
        decision = progress_campaign(final, [_request("r1", RequestState.COMPLETED, green=1)])
        assert (decision.actions, decision.changed) == ((), False)
