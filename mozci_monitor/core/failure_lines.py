"""Treeherder's failure lines for a job, read as a (partial) errorsummary.

The second source of test results, for a task whose errorsummary.log cannot be had:
Treeherder's `bug_suggestions` for the job lists the log's error lines, cleaned of their
harness prefix — `TEST-UNEXPECTED-FAIL | test/path.js | message`, or
`PROCESS-CRASH | application crashed [@ signature] | test/path.js`. They name failing
tests and crashes, never the tests that passed nor the groups that ran, so the summary
built from them is never `complete`: it can show a signature was hit, not that it passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mozci_monitor.core.errorsummary import (
    MAX_MESSAGE_CHARS,
    CrashReport,
    ErrorSummary,
    ResultLine,
)

_UNEXPECTED = "TEST-UNEXPECTED-"
_CRASH = "PROCESS-CRASH"
_CRASHED = "application crashed [@ "


@dataclass(frozen=True, slots=True)
class FailureLine:
    """One of Treeherder's failure lines (a `bug_suggestions` entry, reduced)."""

    text: str
    # Treeherder's guess of the test path (`path_end`); may be absent or a bare name.
    path_end: str | None = None
    # Treeherder matched it to an intermittent-failure bug (open_recent / all_others).
    has_bug_suggestions: bool = False
    # Treeherder saw this line first on this revision (`failure_new_in_rev`).
    new_in_revision: bool = False


def summary_from_failure_lines(lines: Iterable[FailureLine]) -> ErrorSummary:
    unexpected: list[ResultLine] = []
    crashes: list[CrashReport] = []
    count = bad = 0
    for line in lines:
        count += 1
        tokens = [token.strip() for token in line.text.split(" | ")]
        if len(tokens) < 3 or not tokens[0]:
            bad += 1
            continue
        kind = tokens[0]
        if kind.startswith(_CRASH):
            crash = _crash(tokens)
            if crash is None:
                bad += 1
            else:
                crashes.append(crash)
        elif kind.startswith(_UNEXPECTED):
            status = kind[len(_UNEXPECTED) :] or "FAIL"
            message = " | ".join(tokens[2:])[:MAX_MESSAGE_CHARS]
            unexpected.append(
                ResultLine(
                    test=tokens[1].replace("\\", "/"),
                    group="",
                    status=status,
                    expected="PASS",
                    message=message,
                )
            )
        else:
            bad += 1  # a log error that names no test: nothing a signature can match
    return ErrorSummary(
        unexpected=tuple(unexpected),
        crashes=tuple(crashes),
        lines=count,
        bad_lines=bad,
    )


def _crash(tokens: list[str]) -> CrashReport | None:
    for index in (1, 2):
        token = tokens[index]
        start = token.find(_CRASHED)
        if start < 0:
            continue
        signature = token[start + len(_CRASHED) :].removesuffix("]")
        test = tokens[3 - index] or None
        return CrashReport(
            test=test.replace("\\", "/") if test else None, group=None, signature=signature
        )
    return None
