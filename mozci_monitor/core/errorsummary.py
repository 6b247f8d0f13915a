"""Test results of one task, read from Firefox CI's `errorsummary.log` artifacts.

mozlog's errorsummary formatter writes one JSON object per line: `test_groups` (the
manifests the task ran), `test_result` (a test or subtest whose status differs from the
expected one; every result when the task set `MOZLOG_DUMP_ALL_TESTS`, as `-cf` tasks do),
`crash` (with a `signature`), `log` (ERROR/CRITICAL lines) and `group_result` (one per
manifest, at the end). The parser keeps what a campaign needs — unexpected failures
minus `known_intermittent`, crashes with their signatures, groups and their results,
tests seen passing — and not the whole log.

Strict: a line that is not a JSON object, has an unknown action or misses a field is
counted and skipped, never raised; messages are cut so a hostile log cannot grow what
is kept. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.errors import InputError

# Statuses a harness reports when a test did what it should.
PASSING_STATUSES = frozenset({"PASS", "OK"})
# A group whose result is one of these did not run its tests at all.
GROUP_NOT_RUN = frozenset({"SKIP"})

MAX_MESSAGE_CHARS = 500
MAX_LOG_ERRORS = 20
MAX_BAD_LINE_REASONS = 10
# Beyond this the rest of the artifact is counted as bad lines, not parsed: the fetch is
# size-bounded already, this bounds the work on a log of many tiny lines.
DEFAULT_MAX_LINES = 200_000

_IGNORED_ACTIONS = frozenset({"lint"})


@dataclass(frozen=True, slots=True)
class ResultLine:
    """One `test_result` line, reduced to what a signature is matched against."""

    test: str
    group: str
    status: str
    expected: str
    subtest: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class CrashReport:
    test: str | None
    group: str | None
    signature: str


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    """What one task's errorsummary artifacts say, merged."""

    groups: frozenset[str] = frozenset()
    # Group (manifest) -> its result: "OK", "ERROR", "FAIL", "SKIP", or "" when the
    # harness wrote null (a test started and never ended).
    group_results: dict[str, str] = field(default_factory=dict)
    unexpected: tuple[ResultLine, ...] = ()
    known_intermittent: tuple[ResultLine, ...] = ()
    crashes: tuple[CrashReport, ...] = ()
    passed: frozenset[str] = frozenset()
    log_errors: tuple[str, ...] = ()
    lines: int = 0
    bad_lines: int = 0
    bad_line_reasons: tuple[str, ...] = ()

    @property
    def failing_tests(self) -> frozenset[str]:
        """Tests with an unexpected result that is not a known intermittent."""
        return frozenset(outcome.test for outcome in self.unexpected)

    @property
    def complete(self) -> bool:
        """Every group the task announced has a result: the harness reached its end."""
        return bool(self.groups) and self.groups <= self.group_results.keys()


class _Bad(InputError):
    """One line refused; the message is the reason counted."""


def parse_errorsummary(
    data: bytes | str | Iterable[bytes | str], *, max_lines: int = DEFAULT_MAX_LINES
) -> ErrorSummary:
    """Parse one artifact (or several, concatenated). Never raises on bad content."""
    builder = _Builder()
    for raw in _lines(data):
        if not raw.strip():
            continue
        if builder.lines >= max_lines:
            builder.refuse(f"more than {max_lines} lines")
            continue
        builder.lines += 1
        try:
            builder.add(_decode(raw))
        except _Bad as bad:
            builder.refuse(str(bad))
    return builder.build()


def merge_summaries(summaries: Iterable[ErrorSummary]) -> ErrorSummary:
    """One task may publish several errorsummary artifacts (one per harness run)."""
    builder = _Builder()
    for summary in summaries:
        builder.absorb(summary)
    return builder.build()


def _lines(data: bytes | str | Iterable[bytes | str]) -> Iterable[bytes | str]:
    if isinstance(data, bytes):
        return data.split(b"\n")
    if isinstance(data, str):
        return data.split("\n")
    return (line for chunk in data for line in _lines(chunk))


def _decode(raw: bytes | str) -> dict[str, Any]:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _Bad("not UTF-8") from error
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _Bad("not JSON") from error
    if not isinstance(value, dict):
        raise _Bad("not a JSON object")
    return value


def _required(line: dict[str, Any], key: str) -> str:
    value = line.get(key)
    if not isinstance(value, str):
        raise _Bad(f"{line.get('action')}: {key} is not a string")
    return value


def _optional(line: dict[str, Any], key: str) -> str | None:
    return None if line.get(key) is None else _required(line, key)


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS] + "…"


def _group_rank(status: str) -> int:
    return {"": 0, "SKIP": 1, "OK": 2}.get(status, 3)


class _Builder:
    def __init__(self) -> None:
        self.groups: set[str] = set()
        self.group_results: dict[str, str] = {}
        self.unexpected: list[ResultLine] = []
        self.known: list[ResultLine] = []
        self.crashes: list[CrashReport] = []
        self.passed: set[str] = set()
        self.failed_tests: set[str] = set()
        self.log_errors: list[str] = []
        self.lines = 0
        self.bad_lines = 0
        self.reasons: list[str] = []

    def refuse(self, reason: str) -> None:
        self.bad_lines += 1
        if len(self.reasons) < MAX_BAD_LINE_REASONS:
            self.reasons.append(f"line {self.lines}: {reason}")

    def add(self, line: dict[str, Any]) -> None:
        action = line.get("action")
        if action == "test_groups":
            groups = line.get("groups")
            if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                raise _Bad("test_groups: groups is not a list of strings")
            self.groups.update(groups)
        elif action == "test_result":
            self._test_result(line)
        elif action == "crash":
            self.crashes.append(
                CrashReport(
                    test=_optional(line, "test"),
                    group=_optional(line, "group") or None,
                    signature=_required(line, "signature"),
                )
            )
        elif action == "group_result":
            self._group_result(_required(line, "group"), _optional(line, "status") or "")
        elif action == "log":
            message = _required(line, "message")
            if len(self.log_errors) < MAX_LOG_ERRORS:
                self.log_errors.append(_cut(message) or "")
        elif action in _IGNORED_ACTIONS:
            return
        else:
            raise _Bad(f"unknown action {action!r}")

    def _test_result(self, line: dict[str, Any]) -> None:
        test = _required(line, "test")
        status = _required(line, "status")
        # mozlog writes expected == status when it had no expectation to report.
        expected = _optional(line, "expected") or status
        known = line.get("known_intermittent", [])
        if not isinstance(known, list):
            raise _Bad("test_result: known_intermittent is not a list")
        outcome = ResultLine(
            test=test,
            group=_optional(line, "group") or "",
            status=status,
            expected=expected,
            subtest=_optional(line, "subtest"),
            message=_cut(_optional(line, "message")),
        )
        if status == expected:
            if status in PASSING_STATUSES and outcome.subtest is None:
                self.passed.add(test)
        elif status in known:
            self.known.append(outcome)
        else:
            self.unexpected.append(outcome)
            self.failed_tests.add(test)

    def _group_result(self, group: str, status: str) -> None:
        # A group run by several harness passes is as bad as its worst pass; a pass that
        # ran it says more than one that skipped it or never finished it.
        previous = self.group_results.get(group)
        if previous is None or _group_rank(status) >= _group_rank(previous):
            self.group_results[group] = status

    def absorb(self, summary: ErrorSummary) -> None:
        self.groups.update(summary.groups)
        for group, status in summary.group_results.items():
            self._group_result(group, status)
        self.unexpected.extend(summary.unexpected)
        self.failed_tests.update(summary.failing_tests)
        self.known.extend(summary.known_intermittent)
        self.crashes.extend(summary.crashes)
        self.passed.update(summary.passed)
        room = MAX_LOG_ERRORS - len(self.log_errors)
        self.log_errors.extend(summary.log_errors[: max(room, 0)])
        self.lines += summary.lines
        self.bad_lines += summary.bad_lines
        room = MAX_BAD_LINE_REASONS - len(self.reasons)
        self.reasons.extend(summary.bad_line_reasons[: max(room, 0)])

    def build(self) -> ErrorSummary:
        return ErrorSummary(
            groups=frozenset(self.groups),
            group_results=dict(self.group_results),
            unexpected=tuple(self.unexpected),
            known_intermittent=tuple(self.known),
            crashes=tuple(self.crashes),
            # A test that failed in one repetition did not pass the task.
            passed=frozenset(self.passed - self.failed_tests),
            log_errors=tuple(self.log_errors),
            lines=self.lines,
            bad_lines=self.bad_lines,
            bad_line_reasons=tuple(self.reasons),
        )


def summary_to_json(summary: ErrorSummary) -> dict[str, Any]:
    """The plain-data form a store keeps per run (`summary_from_json` reads it back)."""
    return {
        "groups": sorted(summary.groups),
        "group_results": dict(sorted(summary.group_results.items())),
        "unexpected": [_outcome_json(outcome) for outcome in summary.unexpected],
        "known_intermittent": [_outcome_json(outcome) for outcome in summary.known_intermittent],
        "crashes": [
            {"test": crash.test, "group": crash.group, "signature": crash.signature}
            for crash in summary.crashes
        ],
        "passed": sorted(summary.passed),
        "log_errors": list(summary.log_errors),
        "lines": summary.lines,
        "bad_lines": summary.bad_lines,
        "bad_line_reasons": list(summary.bad_line_reasons),
    }


def summary_from_json(data: dict[str, Any]) -> ErrorSummary:
    return ErrorSummary(
        groups=frozenset(data["groups"]),
        group_results=dict(data["group_results"]),
        unexpected=tuple(ResultLine(**outcome) for outcome in data["unexpected"]),
        known_intermittent=tuple(ResultLine(**outcome) for outcome in data["known_intermittent"]),
        crashes=tuple(CrashReport(**crash) for crash in data["crashes"]),
        passed=frozenset(data["passed"]),
        log_errors=tuple(data["log_errors"]),
        lines=int(data["lines"]),
        bad_lines=int(data["bad_lines"]),
        bad_line_reasons=tuple(data["bad_line_reasons"]),
    )


def _outcome_json(outcome: ResultLine) -> dict[str, Any]:
    return {
        "test": outcome.test,
        "group": outcome.group,
        "status": outcome.status,
        "expected": outcome.expected,
        "subtest": outcome.subtest,
        "message": outcome.message,
    }
