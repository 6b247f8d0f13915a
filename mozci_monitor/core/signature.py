"""Failure signatures: judge a task by one test, crash or manifest, not by its colour.

A Firefox CI test job runs hundreds of tests; an orange job is most often some other
test's intermittent. A signature names what a campaign is about — a test path (with an
optional subtest or message pattern), a crash signature, or a group (manifest) — and
`judge` says, from one task's parsed errorsummary, whether it HIT, PASSED, or whether the
task says nothing about it (NOT_RUN: missing data, never a pass).

Patterns come from users, so they are matched by the caller's `PatternMatch` (the edge
compiles them with RE2, bounded); this module stays standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mozci_monitor.core.errors import SignatureError
from mozci_monitor.core.errorsummary import GROUP_NOT_RUN, ErrorSummary, ResultLine

# (pattern, text) -> does the pattern match somewhere in the text
PatternMatch = Callable[[str, str], bool]

MAX_SIGNATURE_CHARS = 1000
# Manifest files name a group by file; other harnesses (wpt, reftest dirs) by directory.
_MANIFEST_SUFFIXES = (".ini", ".toml", ".list", ".json")


class SignatureKind(StrEnum):
    TEST = "test"
    CRASH = "crash"
    GROUP = "group"


class SignatureVerdict(StrEnum):
    HIT = "hit"
    PASSED = "passed"
    NOT_RUN = "not-run"


class ConfirmAnswer(StrEnum):
    REGRESSION = "regression"
    INTERMITTENT = "intermittent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FailureSignature:
    kind: SignatureKind
    value: str
    # TEST only: the manifest the test belongs to, when known (taken from the failing
    # task's line); without it the manifest is recognised by its directory.
    group: str | None = None
    subtest_pattern: str | None = None
    message_pattern: str | None = None

    def describe(self) -> str:
        text = f"{self.kind.value}:{self.value}"
        if self.subtest_pattern is not None:
            text += f" subtest~{self.subtest_pattern}"
        if self.message_pattern is not None:
            text += f" message~{self.message_pattern}"
        return text


def parse_signature(
    text: str, *, subtest_pattern: str | None = None, message_pattern: str | None = None
) -> FailureSignature:
    """`--test PATH` or `--signature test:PATH | crash:SIGNATURE | group:MANIFEST`."""
    kind_text, separator, value = text.partition(":")
    kind = SignatureKind.TEST
    if separator and kind_text in SignatureKind.__members__.values():
        kind = SignatureKind(kind_text)
    else:
        value = text
    value = value.strip()
    if not value:
        raise SignatureError(f"signature {text!r}: nothing after the kind")
    if len(value) > MAX_SIGNATURE_CHARS:
        raise SignatureError(f"signature longer than {MAX_SIGNATURE_CHARS} characters")
    if kind is not SignatureKind.TEST and (subtest_pattern or message_pattern):
        raise SignatureError("subtest and message patterns apply to a test signature only")
    return FailureSignature(
        kind=kind,
        value=value.replace("\\", "/") if kind is SignatureKind.TEST else value,
        subtest_pattern=subtest_pattern,
        message_pattern=message_pattern,
    )


def signatures_of(summary: ErrorSummary) -> tuple[FailureSignature, ...]:
    """What a failing task failed on: its unexpected failures (known intermittents are
    already left out by the parser), its crashes; only when neither names anything, the
    groups that did not end OK."""
    found: dict[tuple[SignatureKind, str], FailureSignature] = {}
    for outcome in summary.unexpected:
        if _is_group_name(outcome.test, outcome.group):
            continue  # a shutdown crash or leak reported under the manifest's name
        key = (SignatureKind.TEST, outcome.test)
        found.setdefault(
            key, FailureSignature(SignatureKind.TEST, outcome.test, group=outcome.group or None)
        )
    for crash in summary.crashes:
        if crash.signature.strip():
            key = (SignatureKind.CRASH, crash.signature)
            found.setdefault(key, FailureSignature(SignatureKind.CRASH, crash.signature))
    if not found:
        for group, status in sorted(summary.group_results.items()):
            if _group_failed(status):
                found[(SignatureKind.GROUP, group)] = FailureSignature(SignatureKind.GROUP, group)
    return tuple(found.values())


def judge(
    signature: FailureSignature, summary: ErrorSummary | None, *, match: PatternMatch
) -> SignatureVerdict:
    """Did this task (its parsed errorsummary; None when it published none) hit it?"""
    if summary is None:
        return SignatureVerdict.NOT_RUN
    if signature.kind is SignatureKind.CRASH:
        if any(crash.signature == signature.value for crash in summary.crashes):
            return SignatureVerdict.HIT
        return SignatureVerdict.PASSED if summary.complete else SignatureVerdict.NOT_RUN
    if signature.kind is SignatureKind.GROUP:
        status = summary.group_results.get(signature.value)
        if status is None or status == "" or status in GROUP_NOT_RUN:
            return SignatureVerdict.NOT_RUN
        return SignatureVerdict.HIT if _group_failed(status) else SignatureVerdict.PASSED
    return _judge_test(signature, summary, match)


def _judge_test(
    signature: FailureSignature, summary: ErrorSummary, match: PatternMatch
) -> SignatureVerdict:
    test = signature.value
    if any(_hits(signature, outcome, match) for outcome in summary.unexpected):
        return SignatureVerdict.HIT
    unpatterned = signature.subtest_pattern is None and signature.message_pattern is None
    if unpatterned and any(crash.test == test for crash in summary.crashes):
        return SignatureVerdict.HIT
    if test in summary.passed:
        return SignatureVerdict.PASSED
    # Passing tests are not written (unless the task dumps them all): the test passed if
    # its manifest ran to its end, whatever other tests in it did.
    groups = [signature.group] if signature.group else _groups_holding(test, summary.groups)
    ran = [summary.group_results.get(group, "") for group in groups]
    if any(status not in ("", *GROUP_NOT_RUN) for status in ran):
        return SignatureVerdict.PASSED
    return SignatureVerdict.NOT_RUN


def _hits(signature: FailureSignature, outcome: ResultLine, match: PatternMatch) -> bool:
    if outcome.test != signature.value:
        return False
    if signature.subtest_pattern is not None and not match(
        signature.subtest_pattern, outcome.subtest or ""
    ):
        return False
    return signature.message_pattern is None or match(
        signature.message_pattern, outcome.message or ""
    )


def _groups_holding(test: str, groups: Iterable[str]) -> list[str]:
    holding = []
    for group in groups:
        directory = _group_directory(group)
        if directory and test.startswith(directory):
            holding.append(group)
    return holding


def _group_directory(group: str) -> str:
    if group.endswith(_MANIFEST_SUFFIXES):
        head, _, _ = group.rpartition("/")
        return f"{head}/" if head else ""
    return group.rstrip("/") + "/"


def _is_group_name(test: str, group: str) -> bool:
    return test == group or test.endswith(_MANIFEST_SUFFIXES)


def _group_failed(status: str) -> bool:
    return status not in ("", "OK", *GROUP_NOT_RUN)


def confirm_answer(verdicts: Sequence[SignatureVerdict]) -> ConfirmAnswer:
    """Treeherder's rule for confirm-failures, per test: a failing `-cf` run means a
    regression; otherwise a green one means intermittent; with no run that ran the test,
    nobody can tell.

    Treeherder (mozilla/treeherder ui/job-view/pushes/JobsAndGroups.jsx,
    `getIntermittentJobTypeNames`): "if we find a failing -cf job, then this is a
    regression!" (`sgjob.result === 'testfailed'` puts the job type in `confirmedJobNames`,
    never marked intermittent), and "if -cf job exists (only here if green), then job is
    confirmed intermittent". A run that says nothing of the test (not run, no results) is
    neither: Treeherder does not count jobs whose result is unknown either.
    """
    if SignatureVerdict.HIT in verdicts:
        return ConfirmAnswer.REGRESSION
    if SignatureVerdict.PASSED in verdicts:
        return ConfirmAnswer.INTERMITTENT
    return ConfirmAnswer.UNKNOWN
