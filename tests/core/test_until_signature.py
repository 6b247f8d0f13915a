"""until-fail judged by a failure signature, as tables over the pure core.

The machine keeps the batches going through orange runs and asks for each finished run's
test results; `signature_hit` ends the batches; the kind's `progress` answers once every
finished run is judged (or one hit), with the other failures counted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.by_signature import (
    JUDGED,
    RunJudgement,
    judge_run,
    judgement_key,
    judgement_to_json,
)
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignKind,
    CampaignState,
    backfill_action,
    progress_campaign,
)
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.errorsummary import parse_errorsummary
from mozci_monitor.core.kinds import Budgets, UntilFailParams, until_fail
from mozci_monitor.core.machine import Change, TaskUpdate, decide, settle, signature_hit
from mozci_monitor.core.model import (
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
)
from mozci_monitor.core.signature import SignatureVerdict, parse_signature

from .builders import LABEL, PUSH, TASK_A, TASK_B, record, request, slug

TEST = "dom/base/test/test_planted.html"
GROUP = "dom/base/test/mochitest.toml"
OTHER = "dom/base/test/test_flaky.html"


def _search(pattern: str, text: str) -> bool:
    return pattern in text


def _summary(*results: tuple[str, str], known: tuple[str, ...] = ()) -> bytes:
    """An errorsummary of GROUP: (test, status) lines, then the group's result."""
    lines: list[dict[str, Any]] = [{"action": "test_groups", "groups": [GROUP]}]
    for test, status in results:
        lines.append(
            {
                "action": "test_result",
                "test": test,
                "subtest": None,
                "group": GROUP,
                "status": status,
                "expected": "PASS",
                "message": "",
                "known_intermittent": ["FAIL"] if test in known else [],
            }
        )
    failed = any(status != "PASS" and test not in known for test, status in results)
    lines.append({"action": "group_result", "group": GROUP, "status": "ERROR" if failed else "OK"})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _signature_request(**fields: Any) -> Request:
    values: dict[str, Any] = {
        "wanted": 10,
        "remedy": RemedyPolicy.UNTIL_SIGNATURE,
        "judge_by_results": True,
        "batch": 2,
        "max_actions": 10,
        "campaign_id": "c-test",
    }
    values.update(fields)
    return request(**values)


# -- the machine ------------------------------------------------------------------------------


def test_an_orange_run_asks_for_its_results_and_the_batches_go_on() -> None:
    req = _signature_request(task_ids=(TASK_A,), state=RequestState.RUNNING)
    orange = record(Phase.ORANGE, task_id=TASK_A)
    before = {TASK_A: record(Phase.RUNNING, task_id=TASK_A)}
    decision = decide(req, before, TaskUpdate(orange, Change.ADVANCED, before[TASK_A]))

    assert decision.request.state is RequestState.PENDING  # not failed: a run like any
    assert decision.request.runs_orange == 1
    kinds = [action.kind for action in decision.actions]
    assert kinds == [ActionKind.FETCH_RESULTS, ActionKind.RETRIGGER]
    fetch, retrigger = decision.actions
    assert fetch.key == f"results:{TASK_A}:0"
    assert fetch.details == {"run": 0, "orange": 1}
    assert (retrigger.task_id, retrigger.times) == (TASK_A, 2)


def test_the_same_finished_run_is_fetched_under_one_key() -> None:
    req = _signature_request(task_ids=(TASK_A,), state=RequestState.RUNNING)
    green = record(Phase.COMPLETED, task_id=TASK_A)
    first = decide(req, {}, TaskUpdate(green, Change.NEW))
    (fetch,) = [a for a in first.actions if a.kind is ActionKind.FETCH_RESULTS]
    # redelivered: nothing moved, nothing decided
    again = decide(first.request, {TASK_A: green}, TaskUpdate(green, Change.DUPLICATE, green))
    assert again.actions == ()
    assert fetch.key == f"results:{TASK_A}:0"


def test_an_until_fail_by_colour_request_asks_for_no_results() -> None:
    req = request(
        wanted=10, remedy=RemedyPolicy.UNTIL_FAIL, batch=2, max_actions=10, task_ids=(TASK_A,)
    )
    decision = decide(req, {}, TaskUpdate(record(Phase.ORANGE, task_id=TASK_A), Change.NEW))
    assert decision.request.state is RequestState.FAILED
    assert not [a for a in decision.actions if a.kind is ActionKind.FETCH_RESULTS]


def test_the_budget_is_spent_on_green_and_orange_runs_alike() -> None:
    req = _signature_request(wanted=3, task_ids=(TASK_A, TASK_B, slug(3)))
    records = [
        record(Phase.ORANGE, task_id=TASK_A),
        record(Phase.COMPLETED, task_id=TASK_B),
        record(Phase.ORANGE, task_id=slug(3)),
    ]
    settled = settle(req, records)
    assert (settled.state, settled.runs_green, settled.runs_orange) == (
        RequestState.COMPLETED,
        1,
        2,
    )


def test_an_infrastructure_end_with_oranges_is_not_reported_as_a_failure_by_colour() -> None:
    req = _signature_request(wanted=2, task_ids=(TASK_A, TASK_B))
    records = [
        record(Phase.ORANGE, task_id=TASK_A),
        record(Phase.EXCEPTION, task_id=TASK_B, reason="malformed-payload"),
    ]
    settled = settle(req, records)
    assert (settled.state, settled.failure, settled.reason) == (
        RequestState.FAILED,
        FailureKind.EXCEPTION,
        "malformed-payload",
    )


def test_a_hit_ends_the_batches_and_cancels_the_runs_still_open() -> None:
    open_run = slug(3)
    req = _signature_request(task_ids=(TASK_A, TASK_B, open_run), state=RequestState.RUNNING)
    tasks = {
        TASK_A: record(Phase.COMPLETED, task_id=TASK_A),
        TASK_B: record(Phase.ORANGE, task_id=TASK_B),
        open_run: record(Phase.RUNNING, task_id=open_run),
    }
    decision = signature_hit(req, tasks, TASK_B, 2)
    assert (decision.request.state, decision.request.failure) == (
        RequestState.FAILED,
        FailureKind.ORANGE,
    )
    assert decision.request.reason == f"signature hit on run 2: task {TASK_B}"
    assert [(a.kind, a.task_id) for a in decision.actions] == [(ActionKind.CANCEL, open_run)]
    # a second hit (another run judged later) changes nothing
    assert signature_hit(decision.request, tasks, TASK_A, 1).changed is False


def test_a_hit_with_keep_pending_cancels_nothing() -> None:
    req = _signature_request(task_ids=(TASK_A, TASK_B), cancel_on_fail=False)
    tasks = {
        TASK_A: record(Phase.ORANGE, task_id=TASK_A),
        TASK_B: record(Phase.RUNNING, task_id=TASK_B),
    }
    decision = signature_hit(req, tasks, TASK_A, 1)
    assert decision.request.state is RequestState.FAILED
    assert decision.actions == ()


def test_a_hit_means_nothing_to_a_request_judged_by_colour() -> None:
    req = request(remedy=RemedyPolicy.UNTIL_FAIL, task_ids=(TASK_A,))
    assert signature_hit(req, {}, TASK_A, 1).changed is False


# -- judging one run --------------------------------------------------------------------------


def test_judge_run_counts_the_other_failures_but_not_known_intermittents() -> None:
    signature = parse_signature(f"test:{TEST}")
    summary = parse_errorsummary(
        _summary(
            (OTHER, "FAIL"),
            (TEST, "PASS"),
            ("dom/base/test/test_known.html", "FAIL"),
            known=("dom/base/test/test_known.html",),
        )
    )
    judgement = judge_run(signature, summary, task_id=TASK_A, run_id=0, orange=True, match=_search)
    assert judgement.verdict is SignatureVerdict.PASSED
    assert judgement.other_failures == (f"test:{OTHER}",)


def test_judge_run_without_results_is_missing_data() -> None:
    signature = parse_signature(f"test:{TEST}")
    judgement = judge_run(signature, None, task_id=TASK_A, run_id=1, orange=True, match=_search)
    assert (judgement.verdict, judgement.other_failures) == (SignatureVerdict.NOT_RUN, ())


def test_judge_run_hit_is_not_among_the_other_failures() -> None:
    signature = parse_signature(f"test:{TEST}")
    summary = parse_errorsummary(_summary((TEST, "FAIL"), (OTHER, "FAIL")))
    judgement = judge_run(signature, summary, task_id=TASK_A, run_id=0, orange=True, match=_search)
    assert judgement.verdict is SignatureVerdict.HIT
    assert judgement.other_failures == (f"test:{OTHER}",)


# -- the kind: parameters, build, answer --------------------------------------------------------


def _params(**fields: Any) -> UntilFailParams:
    return UntilFailParams(repo="autoland", revision="a" * 40, label=LABEL, **fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"test": TEST, "signature": f"test:{TEST}"}, "signature"),
        ({"signature": "test:"}, "signature"),
        ({"signature": "crash:"}, "signature"),
        ({"test": " "}, "test"),
    ],
)
def test_signature_parameters_refused(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(SubmissionError) as refused:
        _params(**fields).check()
    assert refused.value.field == field


def test_build_with_a_test_judges_by_it() -> None:
    campaign, (req,) = until_fail.build(
        _params(test="dom\\base\\test\\test_planted.html", budget=8, batch=4),
        PUSH,
        "c-test",
        Budgets(per_request=3, per_campaign=None),
    )
    assert req.remedy is RemedyPolicy.UNTIL_SIGNATURE
    assert req.judge_by_results
    assert campaign.params["signature"] == {
        "kind": "test",
        "value": TEST,
        "group": None,
        "subtest": None,
        "message": None,
    }


def test_build_without_a_signature_judges_by_colour() -> None:
    campaign, (req,) = until_fail.build(
        _params(), PUSH, "c-test", Budgets(per_request=3, per_campaign=None)
    )
    assert req.remedy is RemedyPolicy.UNTIL_FAIL
    assert "signature" not in campaign.params


def _campaign(judgements: list[RunJudgement]) -> Campaign:
    campaign, _ = until_fail.build(
        _params(test=TEST), PUSH, "c-test", Budgets(per_request=3, per_campaign=None)
    )
    judged = {judgement_key(j.task_id, j.run_id): judgement_to_json(j) for j in judgements}
    return replace(campaign, params={**campaign.params, JUDGED: judged})


RUNS = [slug(n) for n in range(1, 6)]


def _judgement(index: int, verdict: SignatureVerdict, *others: str) -> RunJudgement:
    return RunJudgement(RUNS[index], 0, verdict, orange=bool(others), other_failures=others)


def test_progress_waits_for_every_finished_run_to_be_judged() -> None:
    req = _signature_request(
        wanted=3,
        task_ids=tuple(RUNS[:3]),
        state=RequestState.COMPLETED,
        runs_green=2,
        runs_orange=1,
    )
    two = [_judgement(0, SignatureVerdict.PASSED), _judgement(1, SignatureVerdict.PASSED)]
    waiting = progress_campaign(_campaign(two), [req])
    assert waiting.campaign.state is CampaignState.RUNNING
    assert not [a for a in waiting.actions if a.kind is ActionKind.NOTIFY]

    three = [*two, _judgement(2, SignatureVerdict.PASSED, f"test:{OTHER}")]
    done = progress_campaign(_campaign(three), [req])
    assert done.campaign.state is CampaignState.FINISHED
    assert done.campaign.outcome == (
        f"test:{TEST} not hit in 3 runs (budget reached;"
        " 3 passed, 0 without the test, 1 other failure(s) seen)"
    )
    answer = done.campaign.summary["answer"]
    assert answer["hit"] is None
    assert answer["other_failures"] == {f"test:{OTHER}": 1}


def test_progress_answers_the_run_that_hit_with_the_other_failures_before_it() -> None:
    judgements = [
        _judgement(0, SignatureVerdict.PASSED, f"test:{OTHER}"),
        _judgement(1, SignatureVerdict.NOT_RUN),
        _judgement(2, SignatureVerdict.PASSED, f"test:{OTHER}", "crash:mozalloc_abort"),
        _judgement(3, SignatureVerdict.HIT, f"test:{OTHER}"),
    ]
    req = _signature_request(
        task_ids=tuple(RUNS),
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
        runs_green=1,
        runs_orange=3,
        reason=f"signature hit on run 4: task {RUNS[3]}",
    )
    decision = progress_campaign(_campaign(judgements), [req])
    assert decision.campaign.state is CampaignState.FINISHED
    assert decision.campaign.outcome == (
        f"test:{TEST} hit on run 4 (2 passed, 1 without the test, 4 other failure(s) seen):"
        f" task {RUNS[3]}"
    )
    answer = decision.campaign.summary["answer"]
    assert answer["hit"] == {"task_id": RUNS[3], "run_id": 0}
    assert answer["failed_task"] == RUNS[3]
    assert (answer["runs"], answer["passes"], answer["missing"]) == (4, 2, 1)
    assert answer["other_failures"] == {f"test:{OTHER}": 3, "crash:mozalloc_abort": 1}
    assert answer["signature"] == f"test:{TEST}"


def test_the_answer_follows_the_runs_order_not_the_order_results_came_back() -> None:
    # run 3's results came back before run 2's, both hits: the answer is run 2
    late_first = [
        _judgement(2, SignatureVerdict.HIT),
        _judgement(0, SignatureVerdict.PASSED),
        _judgement(1, SignatureVerdict.HIT),
    ]
    req = _signature_request(
        task_ids=tuple(RUNS[:3]), state=RequestState.FAILED, failure=FailureKind.ORANGE
    )
    answer = progress_campaign(_campaign(late_first), [req]).campaign.summary["answer"]
    assert answer["hit"] == {"task_id": RUNS[1], "run_id": 0}
    assert answer["runs"] == 2


def test_a_campaign_by_colour_keeps_its_answer() -> None:
    campaign, _ = until_fail.build(
        _params(), PUSH, "c-test", Budgets(per_request=3, per_campaign=None)
    )
    req = request(
        remedy=RemedyPolicy.UNTIL_FAIL, state=RequestState.COMPLETED, runs_green=50, wanted=50
    )
    decision = progress_campaign(campaign, [req])
    assert decision.campaign.summary["answer"] == {"failed_task": None, "green": 50, "orange": 0}
    assert decision.campaign.kind is CampaignKind.UNTIL_FAIL


# -- bisect by signature: a push's rate from its runs' judgements -------------------------------


def _bisect(judgements: list[RunJudgement], pushes: list[dict[str, Any]]) -> Campaign:
    judged = {judgement_key(j.task_id, j.run_id): judgement_to_json(j) for j in judgements}
    signature = {"kind": "test", "value": TEST, "group": None, "subtest": None, "message": None}
    return Campaign(
        "c-test",
        CampaignKind.BISECT,
        PUSH,
        label=LABEL,
        params={"times": 3, "pushes": pushes, "signature": signature, JUDGED: judged},
    )


def _push_request(push_id: int, task_ids: tuple[str, ...], green: int, orange: int) -> Request:
    return replace(
        request(wanted=3, task_ids=task_ids, judge_by_results=True),
        request_id=f"c-test-p{push_id}",
        state=RequestState.FAILED if orange else RequestState.COMPLETED,
        failure=FailureKind.ORANGE if orange else None,
        runs_green=green,
        runs_orange=orange,
    )


def test_bisect_by_signature_counts_hits_and_passes_and_leaves_out_runs_without_the_test() -> None:
    a, b = [slug(n) for n in (11, 12, 13)], [slug(n) for n in (21, 22, 23)]
    pushes = [
        {"push_id": 1, "revision": "1" * 40, "request_id": "c-test-p1"},
        {"push_id": 2, "revision": "2" * 40, "request_id": "c-test-p2"},
    ]
    requests = [_push_request(1, tuple(a), 0, 3), _push_request(2, tuple(b), 0, 3)]
    judgements = [
        # push 1: orange three times for another test; the test passed twice, did not run once
        RunJudgement(a[0], 0, SignatureVerdict.PASSED, True, (f"test:{OTHER}",)),
        RunJudgement(a[1], 0, SignatureVerdict.PASSED, True, (f"test:{OTHER}",)),
        RunJudgement(a[2], 0, SignatureVerdict.NOT_RUN, True),
        # push 2: the test failed twice
        RunJudgement(b[0], 0, SignatureVerdict.HIT, True),
        RunJudgement(b[1], 0, SignatureVerdict.PASSED, True, (f"test:{OTHER}",)),
    ]
    waiting = progress_campaign(_bisect(judgements, pushes), requests)
    assert waiting.campaign.state is CampaignState.RUNNING  # b[2] is not judged yet

    judgements.append(RunJudgement(b[2], 0, SignatureVerdict.HIT, True))
    decision = progress_campaign(_bisect(judgements, pushes), requests)
    assert decision.campaign.state is CampaignState.FINISHED
    rows = decision.campaign.summary["answer"]["revisions"]
    assert [(r["push_id"], r["runs"], r["failures"]) for r in rows] == [(1, 2, 0), (2, 3, 2)]


# -- backfill by signature: the backfill action carries the test path, and only the pushes
# it fills wait for it ---------------------------------------------------------------------


def test_the_backfill_action_serves_the_pushes_it_fills_with_the_test_path() -> None:
    campaign = Campaign(
        "c-test",
        CampaignKind.BACKFILL,
        PUSH,
        label=LABEL,
        params={"times": 1, "backfill_depth": 4, "test_path": TEST},
    )
    filled = replace(request(wanted=1, expected_new=1), request_id="c-test-p3")
    ran = replace(request(wanted=1, task_ids=(TASK_A,)), request_id="c-test-p2")
    action = backfill_action(campaign, [ran, filled])
    assert action is not None
    assert action.details == {"depth": 4, "requests": "c-test-p3", "test_path": TEST}
    # without a push to fill, no backfill at all
    assert backfill_action(campaign, [ran]) is None
