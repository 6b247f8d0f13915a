"""bench/culprits.py runs its planted cases and ends with the JSON line the issue asks for.

Seeded and small; it checks the shape and the invariants of the figures, not a timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import culprits
from culprit_misses import Miss, classify


def test_the_last_line_is_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert culprits.main(["--cases", "12", "--seed", "4", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["cases"] == 12
    assert set(summary["strategies"]) == {
        "job-level",
        "test-level",
        "sweep",
        "mozci-like",
        "search-batches",
        "search",
    }
    for figures in summary["strategies"].values():
        assert set(figures) == {
            "accuracy",
            "accuracy_at_confidence",
            "false_culprit_rate",
            "unknown_rate",
            "tasks_per_case",
            "cancelled_per_case",
            "ci_hours_per_case",
            "wall_hours_per_case",
            "quota_held_cases",
            "deferred_days",
        }
        assert 0 <= figures["false_culprit_rate"] <= 1 - figures["accuracy"] + 1e-9
        assert figures["unknown_rate"] + figures["false_culprit_rate"] <= 1.0
        # Fewer cases count as decidable at the answer's confidence than by the rule kept.
        assert figures["accuracy_at_confidence"] >= figures["accuracy"]
    assert 0 < summary["accuracy_ceiling"] <= 1
    job, test = summary["strategies"]["job-level"], summary["strategies"]["test-level"]
    # Job-level spends the whole budget on every case; test-level never more.
    assert test["tasks_per_case"] <= job["tasks_per_case"]
    # The search is held to the daily quota in every case.
    assert summary["strategies"]["search"]["quota_held_cases"] == 12
    # Only the search cancels runs that stopped mattering; the sweeps run everything.
    assert summary["strategies"]["sweep"]["cancelled_per_case"] == 0
    assert (
        summary["strategies"]["search"]["cancelled_per_case"]
        <= (summary["strategies"]["search"]["tasks_per_case"])
    )


def test_cases_are_planted_as_the_issue_says() -> None:
    cases = culprits.make_cases(300, seed=9)
    assert all(20 <= case.pushes <= 30 for case in cases)
    assert all(1 <= case.culprit < case.pushes for case in cases)
    assert all(0.05 <= case.rate <= 1.0 for case in cases)
    assert all(0.10 <= case.background <= 0.40 for case in cases)
    assert len({case.culprit for case in cases}) > 20


def test_a_sure_case_is_found_by_test_level() -> None:
    model = culprits.JobTestModel()
    test = next(
        t
        for m in culprits.manifests_for(model, culprits.LABEL)
        for t in m.tests
        if t not in culprits.flaky_tests_of(model, culprits.LABEL)
    )
    case = culprits.Case(pushes=20, culprit=11, rate=1.0, background=0.4, test=test, seed=1)
    assert culprits.test_level(case).culprit == 11


def _sure_test() -> str:
    model = culprits.JobTestModel()
    return next(
        t
        for m in culprits.manifests_for(model, culprits.LABEL)
        for t in m.tests
        if t not in culprits.flaky_tests_of(model, culprits.LABEL)
    )


@pytest.mark.parametrize(("culprit", "rate"), [(3, 1.0), (11, 0.6), (18, 0.3), (24, 0.5)])
def test_the_search_finds_the_culprit_with_fewer_tasks_than_the_sweep(
    culprit: int, rate: float
) -> None:
    """Same case, same seed: the search names the planted culprit and costs fewer tasks
    (a third or less on average over the benchmark's cases) than the sweep, which names it
    too or, at 30 %, cannot tell (its 10 runs per push leave the culprit at 98.95 %, short
    of 99 %, once the failing run it starts from is no sample of the rate)."""
    case = culprits.Case(
        pushes=25, culprit=culprit, rate=rate, background=0.3, test=_sure_test(), seed=7
    )
    swept, searched = culprits.sweep(case), culprits.search(case)
    assert searched.culprit == culprit
    assert swept.culprit == (None if rate == 0.3 else culprit)
    assert swept.tasks == 10 * 25
    assert searched.tasks < swept.tasks
    assert searched.busiest_day <= culprits.DAILY_QUOTA


def test_a_quota_defers_the_search_to_the_next_day() -> None:
    """A rare failure needs more runs than one day's quota: the search waits for the next
    day instead of exceeding it, and still answers."""
    case = culprits.Case(
        pushes=25, culprit=12, rate=0.12, background=0.3, test=_sure_test(), seed=5
    )
    outcome = culprits.search(case)
    assert outcome.tasks > culprits.DAILY_QUOTA
    assert outcome.deferred_days >= 1
    assert outcome.busiest_day <= culprits.DAILY_QUOTA


def test_test_level_learns_the_rate_at_the_suspect() -> None:
    """The culprit is the failing push itself, failing 24 % of the time: only the run the
    campaign started from shows it. Halving the doubt among the older pushes never ran it
    again, so its rate stayed unknown and the parent's passes never decided (6 of these 10
    seeds answered before, the rest "cannot tell" with the budget spent); runs at the
    suspect first make it 9 of 10, and never a wrong culprit."""
    found = []
    for seed in range(10):
        case = culprits.Case(
            pushes=22, culprit=21, rate=0.2362, background=0.27, test=_sure_test(), seed=seed
        )
        outcome = culprits.test_level(case)
        assert outcome.tasks <= case.budget
        found.append(outcome.culprit)
    assert set(found) <= {21, None}
    assert found.count(21) >= 8


def test_explain_classifies_every_miss(capsys: pytest.CaptureFixture[str]) -> None:
    assert culprits.main(["--cases", "12", "--seed", "4", "--explain", "--only", "job-level"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("job-level: 5 misses of 12; cannot tell 2; earlier 2; later 1")
    assert "runs judged 2800: failed judged pass 0, failed judged missing 0" in out


def test_a_miss_is_classified_by_what_the_runs_showed() -> None:
    def case(culprit: int, decidable: bool = True) -> culprits.Case:
        # 20 pushes decide a 50 % failure; 12 runs cannot decide a 5 % one.
        rate = 0.5 if decidable else 0.05
        return culprits.Case(20 if decidable else 2, culprit, rate, 0.2, _sure_test(), 1)

    def outcome(answer: int | None, *hits: int) -> culprits.Outcome:
        counts = tuple(culprits.PushCounts(hits=h) for h in hits)
        return culprits.Outcome(answer, 10, counts=counts)

    assert classify(case(1), outcome(1, 0, 1)) is None
    assert classify(case(1), outcome(2, 0, 0, 1)) is Miss.OFF_BY_ONE
    assert classify(case(1), outcome(3, 0, 0, 0, 1)) is Miss.LATER
    assert classify(case(2), outcome(1, 0, 1, 1)) is Miss.EARLIER
    assert classify(case(1, decidable=False), outcome(None, 0, 1)) is None
    assert classify(case(1), outcome(None, 0, 1, 1)) is Miss.UNDECIDED_AT_CULPRIT
    assert classify(case(1), outcome(None, 0, 0, 1)) is Miss.UNDECIDED_AFTER_CULPRIT
    assert classify(case(1), outcome(None, 0, 0)) is Miss.NEVER_HIT
    assert classify(case(1), outcome(None, 1, 1)) is Miss.OLDEST_HIT
    assert classify(case(1), outcome(None)) is Miss.UNDECIDED
