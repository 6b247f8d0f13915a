"""bench/culprits.py runs its planted cases and ends with the JSON line the issue asks for.

Seeded and small; it checks the shape and the invariants of the figures, not a timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import culprits


def test_the_last_line_is_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert culprits.main(["--cases", "12", "--seed", "4", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["cases"] == 12
    assert set(summary["strategies"]) == {"job-level", "test-level"}
    for figures in summary["strategies"].values():
        assert set(figures) == {
            "accuracy",
            "false_culprit_rate",
            "unknown_rate",
            "tasks_per_case",
            "ci_hours_per_case",
        }
        assert 0 <= figures["false_culprit_rate"] <= 1 - figures["accuracy"] + 1e-9
        assert figures["unknown_rate"] + figures["false_culprit_rate"] <= 1.0
    job, test = summary["strategies"]["job-level"], summary["strategies"]["test-level"]
    # Job-level spends the whole budget on every case; test-level never more.
    assert test["tasks_per_case"] <= job["tasks_per_case"]


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
