"""Treeherder failure lines read as a partial errorsummary, as a table."""

from __future__ import annotations

import pytest

from mozci_monitor.core.errorsummary import CrashReport, ResultLine
from mozci_monitor.core.failure_lines import FailureLine, summary_from_failure_lines
from mozci_monitor.core.signature import FailureSignature, SignatureKind, SignatureVerdict, judge
from mozci_monitor.patterns import re2_search

T = "dom/base/test/test_a.html"

LINES = [
    (
        f"TEST-UNEXPECTED-FAIL | {T} | got 1, expected 2",
        ResultLine(T, "", "FAIL", "PASS", message="got 1, expected 2"),
    ),
    (
        f"TEST-UNEXPECTED-TIMEOUT | {T} | Test timed out",
        ResultLine(T, "", "TIMEOUT", "PASS", message="Test timed out"),
    ),
    (
        "TEST-UNEXPECTED-FAIL | dom\\base\\test\\test_a.html | a | b",
        ResultLine(T, "", "FAIL", "PASS", message="a | b"),
    ),
    (
        f"PROCESS-CRASH | application crashed [@ mozilla::Foo()] | {T}",
        CrashReport(test=T, group=None, signature="mozilla::Foo()"),
    ),
    (
        f"PROCESS-CRASH | {T} | application crashed [@ mozilla::Foo()]",
        CrashReport(test=T, group=None, signature="mozilla::Foo()"),
    ),
    ("leakcheck | default process: 2000 bytes leaked", None),
    ("Return code: 1", None),
    ("PROCESS-CRASH | no signature here | x", None),
    ("INFO | something | else", None),
]


@pytest.mark.parametrize(("text", "expected"), LINES, ids=[row[0][:40] for row in LINES])
def test_a_failure_line(text: str, expected: ResultLine | CrashReport | None) -> None:
    summary = summary_from_failure_lines([FailureLine(text)])
    found = (*summary.unexpected, *summary.crashes)
    assert found == ((expected,) if expected else ())
    assert summary.bad_lines == (0 if expected else 1)
    assert summary.lines == 1


def test_failure_lines_show_hits_never_passes() -> None:
    summary = summary_from_failure_lines(
        [FailureLine(f"TEST-UNEXPECTED-FAIL | {T} | got 1, expected 2")]
    )
    hit = FailureSignature(SignatureKind.TEST, T)
    other = FailureSignature(
        SignatureKind.TEST, "dom/base/test/test_b.html", group="dom/base/test/mochitest.toml"
    )
    crash = FailureSignature(SignatureKind.CRASH, "mozilla::Foo()")
    assert judge(hit, summary, match=re2_search) is SignatureVerdict.HIT
    assert judge(other, summary, match=re2_search) is SignatureVerdict.NOT_RUN
    assert judge(crash, summary, match=re2_search) is SignatureVerdict.NOT_RUN
