"""confirm, as tables: the tests gecko's confirm-failures reruns, how a rerun judges them,
Treeherder's answer per test, and the campaign's route, start action and end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.by_signature import JUDGED
from mozci_monitor.core.campaign import CampaignState, campaign_start_action, progress_campaign
from mozci_monitor.core.confirm import (
    MAX_CONFIRMED_TESTS,
    ConfirmTarget,
    answers,
    failing_tests,
    harness_path,
    has_confirm_variant,
    judge_targets,
)
from mozci_monitor.core.errorsummary import parse_errorsummary
from mozci_monitor.core.kinds import Budgets, ConfirmParams
from mozci_monitor.core.kinds import confirm as kind
from mozci_monitor.core.machine import decide, observe
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, RequestState
from mozci_monitor.core.signature import ConfirmAnswer, SignatureVerdict
from mozci_monitor.patterns import re2_search

from .builders import LABEL as BUILT_LABEL
from .builders import TASK_A, TASK_B, request, status

HIT, PASSED, NOT_RUN = SignatureVerdict.HIT, SignatureVerdict.PASSED, SignatureVerdict.NOT_RUN
FIXTURES = Path(__file__).parent.parent / "fixtures" / "errorsummary"
GROUP = "dom/base/test/mochitest.toml"
PUSH = Push("autoland", "a" * 40, "fQ1YvXN1SDG4IWQyLPAUMQ")
FAILING = "A35mWTRuQmyj88yMnIF0fA"
LABEL = "test-linux1804-64/opt-mochitest-plain-1"


def _log(*lines: dict[str, Any]) -> str:
    return "\n".join(json.dumps(line) for line in lines)


def _result(test: str, status: str, expected: str = "PASS", **extra: Any) -> dict[str, Any]:
    return {
        "action": "test_result",
        "test": test,
        "group": GROUP,
        "status": status,
        "expected": expected,
        **extra,
    }


# -- which tests gecko reruns -------------------------------------------------------------


def test_failing_tests_of_a_real_errorsummary_like_gecko() -> None:
    """mozlog's own output: a known intermittent is left out, a crash names its test once."""
    summary = parse_errorsummary((FIXTURES / "mozlog_generated_errorsummary.log").read_bytes())
    assert failing_tests(summary, "mochitest-plain") == (
        ConfirmTarget("dom/base/test/test_b.html", "dom/base/test/test_b.html", GROUP),
        ConfirmTarget(
            "layout/base/tests/test_d.html",
            "layout/base/tests/test_d.html",
            "layout/base/tests/mochitest.toml",
        ),
    )


@pytest.mark.parametrize(
    ("test", "wpt", "path"),
    [
        ("dom/base/test/test_a.html", False, "dom/base/test/test_a.html"),
        (
            "chrome://mochitests/content/browser/a/browser_b.js",
            False,
            "//mochitests/content/browser/a/browser_b.js",
        ),
        ("layout/reftests/a.html == layout/reftests/a-ref.html", False, "layout/reftests/a.html"),
        ("dom\\base\\test_w.html", False, "dom/base/test_w.html"),
        ("dom/base/test/mochitest.toml", False, None),  # a shutdown crash under the manifest
        ("dom/base/test/chrome.ini", False, None),
        ("layout/reftests/reftest.list", False, None),
        ("None", False, None),
        ("SimpleTest/TestRunner.js", False, None),
        ("/dom/a.any.worker.html", True, "testing/web-platform/tests/dom/a.any.js"),
        ("/dom/b.window.html", True, "testing/web-platform/tests/dom/b.window.js"),
        ("/_mozilla/c/d.html", True, "testing/web-platform/mozilla/tests/c/d.html"),
        ("/css/e.html?x=1", True, "testing/web-platform/tests/css/e.html"),
    ],
)
def test_the_harness_path_gecko_passes_for_a_test(test: str, wpt: bool, path: str | None) -> None:
    assert harness_path(test, wpt=wpt) == path


def test_one_entry_per_path_and_no_more_than_gecko_reads() -> None:
    many = [_result(f"dom/base/test/test_{n:02d}.html", "FAIL") for n in range(15)]
    summary = parse_errorsummary(_log(*many, many[0], _result("dom/x.html", "FAIL", "FAIL")))
    targets = failing_tests(summary, "mochitest-plain")
    assert len(targets) == MAX_CONFIRMED_TESTS == 11  # gecko stops once it has more than 10
    assert [t.test for t in targets] == [f"dom/base/test/test_{n:02d}.html" for n in range(11)]


def test_known_intermittents_and_expected_failures_are_not_rerun() -> None:
    summary = parse_errorsummary(
        _log(
            _result("a.html", "FAIL", known_intermittent=["FAIL"]),
            _result("b.html", "FAIL", "FAIL"),
            _result("c.html", "TIMEOUT", "OK"),
        )
    )
    assert [t.test for t in failing_tests(summary, "mochitest-plain")] == ["c.html"]


@pytest.mark.parametrize(
    ("suite", "has"),
    [
        ("mochitest-browser-chrome", True),
        ("mochitest-plain", True),
        ("xpcshell", True),
        ("reftest", True),
        ("web-platform-tests", True),
        ("web-platform-tests-backlog", False),
        ("mochitest-plain-failures", False),
        ("crashtest", False),
        ("marionette", False),
        ("gtest", False),
    ],
)
def test_which_suites_gecko_copies_to_a_cf_variant(suite: str, has: bool) -> None:
    assert has_confirm_variant(suite) is has


# -- how one run judges the tests -----------------------------------------------------------

A = ConfirmTarget("dom/base/test/test_a.html", "dom/base/test/test_a.html", GROUP)
B = ConfirmTarget("dom/base/test/test_b.html", "dom/base/test/test_b.html", GROUP)
GROUP_OK = {"action": "group_result", "group": GROUP, "status": "OK"}
GROUPS = {"action": "test_groups", "groups": [GROUP]}


@pytest.mark.parametrize(
    ("lines", "only_what_ran", "verdicts"),
    [
        # a -cf run of A: five repeats written, one failed; B is in the same manifest but
        # did not run there: not a pass
        (
            [GROUPS, *[_result(A.test, "OK", "OK")] * 4, _result(A.test, "FAIL"), GROUP_OK],
            True,
            {A.test: HIT, B.test: NOT_RUN},
        ),
        (
            [GROUPS, *[_result(A.test, "OK", "OK")] * 5, GROUP_OK],
            True,
            {A.test: PASSED, B.test: NOT_RUN},
        ),
        # a known intermittent failure of A in its -cf run: what A may do, a pass
        (
            [GROUPS, _result(A.test, "FAIL", known_intermittent=["FAIL"]), GROUP_OK],
            True,
            {A.test: PASSED, B.test: NOT_RUN},
        ),
        # a retrigger of the whole job: a test not written passed if its manifest ended
        ([GROUPS, _result(A.test, "FAIL"), GROUP_OK], False, {A.test: HIT, B.test: PASSED}),
        ([GROUPS, GROUP_OK], False, {A.test: PASSED, B.test: PASSED}),
        # a run that never ended its manifest says nothing
        ([GROUPS], False, {A.test: NOT_RUN, B.test: NOT_RUN}),
        (
            [GROUPS, {"action": "crash", "test": B.test, "group": GROUP, "signature": "@ x"}],
            True,
            {A.test: NOT_RUN, B.test: HIT},
        ),
    ],
)
def test_a_run_judges_each_test(
    lines: list[dict[str, Any]], only_what_ran: bool, verdicts: dict[str, SignatureVerdict]
) -> None:
    summary = parse_errorsummary(_log(*lines))
    assert judge_targets([A, B], summary, only_what_ran=only_what_ran, match=re2_search) == verdicts


def test_a_run_without_results_says_nothing() -> None:
    assert judge_targets([A], None, only_what_ran=False, match=re2_search) == {A.test: NOT_RUN}


# -- Treeherder's answer per test -----------------------------------------------------------


def test_answers_per_test_over_the_runs_that_ran_it() -> None:
    judged = [
        ("T1", 0, {A.test: "hit", B.test: "not-run"}),
        ("T2", 0, {A.test: "not-run", B.test: "passed"}),
        ("T3", 0, {A.test: "passed", B.test: "passed"}),
    ]
    a, b = answers([A, B], judged)
    assert (a.answer, a.failed, [r.task_id for r in a.runs]) == (
        ConfirmAnswer.REGRESSION,
        1,
        ["T1", "T3"],
    )
    assert a.deciding_run is not None and a.deciding_run.task_id == "T1"
    assert (b.answer, b.failed, [r.task_id for r in b.runs]) == (
        ConfirmAnswer.INTERMITTENT,
        0,
        ["T2", "T3"],
    )
    (c,) = answers([ConfirmTarget("c.html", "c.html")], judged)
    assert (c.answer, c.runs, c.deciding_run) == (ConfirmAnswer.UNKNOWN, (), None)


# -- the campaign ----------------------------------------------------------------------------


def _build(has_variant: bool) -> tuple[Any, Any]:
    params = ConfirmParams(repo=PUSH.repo, revision=PUSH.revision, task_id=FAILING, times=4)
    campaign, (request,) = kind.build(
        params,
        PUSH,
        "c-0123456789",
        Budgets(per_request=3, per_campaign=20),
        failing=kind.FailingTask(FAILING, 1, LABEL, "mochitest-plain"),
        targets=[A, B],
        has_confirm_variant=has_variant,
    )
    return campaign, replace(request, campaign_id=campaign.campaign_id)


def test_with_a_cf_variant_one_confirm_failures_brings_a_cf_task_per_test() -> None:
    campaign, request = _build(True)
    assert (request.label, request.wanted, request.remedy) == (
        LABEL + "-cf",
        2,
        RemedyPolicy.RECORD,
    )
    assert request.judge_by_results and request.replaced == ()
    start = campaign_start_action(campaign, [request])
    assert start is not None
    assert (start.kind, start.task_id, start.key) == (
        ActionKind.CONFIRM_FAILURES,
        FAILING,
        "campaign:c-0123456789:confirm-failures",
    )
    assert start.details == {"requests": request.request_id, "expect": 2}


def test_without_a_cf_variant_the_task_is_retriggered_and_not_judged_itself() -> None:
    campaign, request = _build(False)
    assert (request.label, request.wanted, request.remedy) == (LABEL, 4, RemedyPolicy.WATCH)
    assert request.replaced == (FAILING,)  # its failure is what is being confirmed
    start = campaign_start_action(campaign, [request])
    assert start is not None
    assert (start.kind, start.task_id, start.times, start.labels) == (
        ActionKind.RETRIGGER,
        FAILING,
        4,
        (LABEL,),
    )
    assert start.details == {"requests": request.request_id, "expect": 4}


def _judged(campaign: Any, runs: list[tuple[str, list[dict[str, Any]]]]) -> Any:
    judged = {
        f"{task}/0": kind.judgement(
            campaign,
            parse_errorsummary(_log(*lines)),
            task_id=task,
            run_id=0,
            orange=False,
            match=re2_search,
        )
        for task, lines in runs
    }
    return replace(campaign, params={**campaign.params, JUDGED: judged})


def test_the_campaign_waits_for_its_request_and_every_judgement_then_answers() -> None:
    campaign, request = _build(True)
    running = replace(request, task_ids=("T1", "T2"), state=RequestState.RUNNING, runs_green=1)
    assert not progress_campaign(campaign, [running]).campaign.is_final
    ended = replace(
        running,
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
        runs_green=1,
        runs_orange=1,
    )
    one_judged = _judged(campaign, [("T1", [GROUPS, _result(A.test, "FAIL"), GROUP_OK])])
    assert not progress_campaign(one_judged, [ended]).campaign.is_final
    both = _judged(
        campaign,
        [
            ("T1", [GROUPS, _result(A.test, "FAIL"), GROUP_OK]),
            ("T2", [GROUPS, _result(B.test, "OK", "OK"), GROUP_OK]),
        ],
    )
    decision = progress_campaign(both, [ended])
    final = decision.campaign
    assert final.state is CampaignState.FINISHED
    assert final.outcome == f"regression: {A.test}; intermittent: {B.test} (by -cf tasks)"
    answer = final.summary["answer"]
    assert (answer["regressions"], answer["intermittents"], answer["unknown"]) == (
        [A.test],
        [B.test],
        [],
    )
    assert [a.kind for a in decision.actions] == [ActionKind.NOTIFY]


def test_a_confirm_whose_action_produced_nothing_gives_up_saying_why() -> None:
    campaign, request = _build(True)
    failed = replace(
        request,
        state=RequestState.FAILED,
        failure=FailureKind.ACTION,
        reason="confirm-failures produced nothing: action task X failed",
    )
    final = progress_campaign(campaign, [failed]).campaign
    assert final.state is CampaignState.GAVE_UP
    assert final.outcome == (
        "confirm-failures produced nothing: action task X failed;"
        " cannot tell for 2 test(s) (by -cf tasks)"
    )


def test_the_failing_task_seen_after_the_retrigger_was_asked_for_is_no_new_run() -> None:
    """Under load the failing task's own message can arrive after the campaign's retrigger
    set the runs awaited: it must not stand for one of them (else one more run is asked)."""
    asked = request(wanted=3, expected_new=3, replaced=(TASK_A,), judge_by_results=True)
    failing = decide(asked, {}, observe(None, status("failed", task_id=TASK_A), BUILT_LABEL))
    assert failing.request.expected_new == 3
    assert TASK_A in failing.request.task_ids
    new_run = decide(
        failing.request, {}, observe(None, status("pending", task_id=TASK_B), BUILT_LABEL)
    )
    assert new_run.request.expected_new == 2
