"""Campaign answers by signature, as tables: until-fail, a push's result and the culprit
search's next step (confirm-failures: tests/core/test_confirm.py)."""

from __future__ import annotations

import pytest

from mozci_monitor.core.by_signature import (
    CulpritStep,
    PushCounts,
    RunJudgement,
    culprit_posterior,
    describe_until_fail,
    next_culprit_step,
    push_result_by_signature,
    until_fail_progress,
)
from mozci_monitor.core.sheriff import PushResult, Verdict, change_point
from mozci_monitor.core.signature import SignatureVerdict

HIT, PASSED, NOT_RUN = SignatureVerdict.HIT, SignatureVerdict.PASSED, SignatureVerdict.NOT_RUN


def run(n: int, verdict: SignatureVerdict, *others: str) -> RunJudgement:
    return RunJudgement(
        f"T{n}", 0, verdict, orange=bool(others) or verdict is HIT, other_failures=others
    )


def test_until_fail_stops_on_the_hit_and_counts_other_failures() -> None:
    progress = until_fail_progress(
        [
            run(1, PASSED, "a.js"),
            run(2, NOT_RUN),
            run(3, PASSED, "a.js", "b.js"),
            run(4, HIT, "b.js"),
            run(5, HIT),
        ]
    )
    assert progress.done
    assert describe_until_fail(progress) == {
        "hit": {"task_id": "T4", "run_id": 0},
        "runs": 4,
        "passes": 2,
        "missing": 1,
        "other_failures": {"a.js": 2, "b.js": 2},
    }


def test_until_fail_orange_runs_without_the_signature_do_not_stop_it() -> None:
    progress = until_fail_progress([run(n, PASSED, "flaky.js") for n in range(5)])
    assert not progress.done
    assert (progress.runs, progress.passes, progress.other_failures) == (5, 5, {"flaky.js": 5})


@pytest.mark.parametrize(
    ("verdicts", "verdict", "green", "orange", "note"),
    [
        ([PASSED, PASSED, HIT], Verdict.FAILED, 2, 1, ""),
        ([PASSED, NOT_RUN], Verdict.PASSED, 1, 0, "1 run(s) without the test"),
        ([NOT_RUN, NOT_RUN], Verdict.UNKNOWN, 0, 0, "2 run(s) without the test"),
        ([], Verdict.NOT_RUN, 0, 0, ""),
    ],
)
def test_a_push_judged_by_the_signature(
    verdicts: list[SignatureVerdict], verdict: Verdict, green: int, orange: int, note: str
) -> None:
    assert push_result_by_signature(7, "abc", verdicts) == PushResult(
        7, "abc", verdict, green=green, orange=orange, note=note
    )


def test_bisect_rate_ignores_unrelated_oranges() -> None:
    # Job-level, every push is orange half the time; by signature only the last two fail.
    pushes = [push_result_by_signature(i, f"r{i}", [PASSED] * 6) for i in range(4)]
    pushes += [push_result_by_signature(i, f"r{i}", [HIT, HIT, PASSED] * 2) for i in (4, 5)]
    answer = change_point(pushes)
    assert answer["first_worse"]["push_id"] == 4


def counts(*pairs: tuple[int, int]) -> list[PushCounts]:
    return [PushCounts(hits, passes) for hits, passes in pairs]


def test_posterior_a_sharp_rise_names_the_push() -> None:
    posterior = culprit_posterior(counts((0, 3), (0, 6), (3, 0), (3, 0)))
    assert posterior[3] == 0.0  # never after the earliest hit
    assert posterior[2] > 0.99
    assert sum(posterior) == pytest.approx(1.0)


def test_posterior_more_passes_before_make_the_culprit_surer() -> None:
    few = culprit_posterior(counts((0, 2), (0, 2), (1, 1), (0, 2), (1, 1)))
    many = culprit_posterior(counts((0, 2), (0, 20), (1, 1), (0, 2), (1, 1)))
    assert few[2] < many[2]
    assert few[1] > many[1]


@pytest.mark.parametrize(
    ("pushes", "step"),
    [
        (counts((0, 3), (0, 6), (3, 0), (3, 0)), 2),
        (
            counts((0, 3), (0, 3)),
            CulpritStep(reason="the signature was never hit in the range"),
        ),
        (
            counts((1, 2), (3, 0)),
            CulpritStep(reason="hit on the oldest push: the culprit is older than the range"),
        ),
        # a low rate: push 1 rules out both older candidates at once
        (
            counts((0, 2), (0, 2), (1, 1), (0, 2), (1, 1)),
            CulpritStep(run_on=1, reason="the culprit may be older than the earliest hit"),
        ),
        # a late first hit after single passes: the parent of the earliest hit, whose
        # pass would count against every older candidate at once
        (
            counts(*[(0, 1)] * 8, (1, 1), (1, 1)),
            CulpritStep(run_on=7, reason="the culprit may be older than the earliest hit"),
        ),
        (
            counts((0, 3), (0, 200), (1, 199)),
            CulpritStep(reason="push 1: cannot tell in 200 runs"),
        ),
    ],
)
def test_next_culprit_step(pushes: list[PushCounts], step: CulpritStep | int) -> None:
    found = next_culprit_step(pushes)
    if isinstance(step, int):
        assert (found.culprit, found.run_on) == (step, None)
    else:
        assert found == step


def test_the_run_a_campaign_starts_from_places_the_failure_but_is_no_sample_of_its_rate() -> None:
    """A campaign starts from a run chosen because it failed. Counted as a sample, that one
    hit made any failure look frequent and 30 passes of the parent proof enough (0.998);
    as a selected run it only says the failure starts at or before its push."""
    chosen = [PushCounts(0, 30), PushCounts(1, 0, selected=1)]
    assert culprit_posterior(chosen)[1] == pytest.approx(1 - 1 / 32)  # Beta(1, 31) vs Beta(1, 1)
    assert next_culprit_step(chosen).culprit is None
    # A second, unchosen hit is a sample: with it the parent's passes decide.
    sampled = [PushCounts(0, 30), PushCounts(2, 0, selected=1)]
    assert next_culprit_step(sampled).culprit == 1
    # Selected runs never count for more than the hits there are.
    assert culprit_posterior([PushCounts(0, 3), PushCounts(1, 0, selected=2)]) == (
        culprit_posterior([PushCounts(0, 3), PushCounts(1, 0, selected=1)])
    )


def test_a_rate_seen_once_is_learnt_at_the_earliest_hit_before_its_parent_is_sampled() -> None:
    """Only the run the campaign started from failed, and the pushes before it passed many
    times: how often it fails is unknown, so their passes prove little. Halving the doubt
    among the older pushes (the rule before) never ran the suspect again, and its cases
    ended "cannot tell" with the budget spent at its parent; the next run belongs on the
    earliest hit."""
    planted = counts((0, 20), (0, 20), (0, 20), (0, 60), (1, 0))
    planted[-1] = PushCounts(1, 0, selected=1)
    assert next_culprit_step(planted) == CulpritStep(
        run_on=4, reason="how often it fails is too uncertain to clear the push before"
    )
    # Once the rate is known to be high, the parent is what is left to rule out.
    known = [*planted[:4], PushCounts(9, 1, selected=1)]
    assert next_culprit_step(known).culprit == 4
    known_low = [*planted[:3], PushCounts(0, 5), PushCounts(3, 9, selected=1)]
    assert next_culprit_step(known_low).run_on == 3
