"""Confirming a failing task test by test: what gecko reruns, how a rerun is judged, and
Treeherder's answer per test.

gecko's `confirm-failures` action (gecko_taskgraph/actions/confirm_failure.py) reads the
failing task's errorsummary.log and schedules, for each failing test, one task of the
label's `-cf` variant running only that test (`MOZHARNESS_CONFIRM_PATHS`), repeated
(`--repeat`) and with every result written (`MOZLOG_DUMP_ALL_TESTS`). `failing_tests` is
that choice, from the errorsummary the monitor parsed. A `-cf` run is judged by what it
reports about each test (it ran one test only: silence means "not run", never a pass);
a retrigger of the whole job (where there is no `-cf` variant) is judged like any run.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mozci_monitor.core.errorsummary import ErrorSummary
from mozci_monitor.core.signature import (
    ConfirmAnswer,
    FailureSignature,
    PatternMatch,
    SignatureKind,
    SignatureVerdict,
    confirm_answer,
    judge,
)

CONFIRM_SUFFIX = "-cf"
# gecko checks `len(tests) > 10` after each line and stops reading there: 11 tests at most
# from one errorsummary ("TODO: 10 is too much").
MAX_CONFIRMED_TESTS = 11
# Manifest names a harness reports as a test (a crash at shutdown): gecko skips them.
_MANIFEST_SUFFIXES = (".toml", ".ini", ".list")
# gecko's transforms/test/confirm_failure.py copies these suites (by prefix) to a `-cf`
# variant; "backlog" and "failure" suites are left alone.
CONFIRMABLE_SUITES = ("mochitest", "reftest", "xpcshell", "web-platform")


def confirm_label(label: str) -> str:
    """The `-cf` variant's label (gecko: the task's `metadata.name` plus `-cf`)."""
    return label + CONFIRM_SUFFIX


def is_confirm_label(label: str) -> bool:
    """A `-cf` label: in the full graph only for the action, never scheduled by a push."""
    return label.endswith(CONFIRM_SUFFIX)


def has_confirm_variant(suite: str) -> bool:
    """Does gecko's transform give this suite a `-cf` variant?"""
    if "backlog" in suite or "failure" in suite:
        return False
    return suite.startswith(CONFIRMABLE_SUITES)


@dataclass(frozen=True, slots=True)
class ConfirmTarget:
    """One test to confirm: as the errorsummary names it (`test`, what its reruns report),
    the path gecko passes to the harness, and its manifest."""

    test: str
    path: str
    group: str = ""


def failing_tests(summary: ErrorSummary, suite: str) -> tuple[ConfirmTarget, ...]:
    """The tests gecko's confirm-failures reruns, in the order it reads them.

    Unexpected results that are not known intermittents (the parser left those out), and
    crashes that name their test; a test named like a manifest, `None` or SimpleTest is
    skipped; one entry per path; reading stops past 10. (gecko also collects failing
    directories, but tests for a `group_results` key no errorsummary line has, so in
    practice only tests are rerun.)
    """
    found: dict[str, ConfirmTarget] = {}
    named = [(o.test, o.group) for o in summary.unexpected]
    named += [(c.test, c.group or "") for c in summary.crashes if c.test]
    wpt = "web-platform" in suite
    for test, group in named:
        path = harness_path(test, wpt=wpt)
        if path is not None and path not in found:
            found[path] = ConfirmTarget(test, path, group)
        if len(found) >= MAX_CONFIRMED_TESTS:
            break
    return tuple(found.values())


def harness_path(test: str, *, wpt: bool = False) -> str | None:
    """The path gecko passes to the harness for a test as the errorsummary names it."""
    path = test.split(" ")[0]  # reftests: "a.html == a-ref.html"
    if "?" not in path:  # "chrome://mochitests/content/a/b.js" -> the path after the scheme
        path = path.split(":")[-1]
    if not path or path == "None" or "SimpleTest" in path or path.endswith(_MANIFEST_SUFFIXES):
        return None
    if wpt:
        path = _wpt_path(path)
    return path.replace("\\", "/")


def _wpt_path(test: str) -> str:
    if ".any." in test:
        test = test.split(".any.")[0] + ".any.js"
    if ".window.html" in test:
        test = test.replace(".window.html", ".window.js")
    if test.startswith("/_mozilla"):
        test = "testing/web-platform/mozilla/tests" + test[len("/_mozilla") :]
    else:
        test = "testing/web-platform/tests/" + test.strip("/")
    return test.split("?")[0]


def judge_targets(
    targets: Iterable[ConfirmTarget],
    summary: ErrorSummary | None,
    *,
    only_what_ran: bool,
    match: PatternMatch,
) -> dict[str, SignatureVerdict]:
    """Each target test's verdict in one run.

    `only_what_ran`: a `-cf` run, which runs one test and writes every result: a test it
    does not report did not run there, even if its manifest ended OK. Otherwise (a
    retrigger of the whole job) a test not written passed if its manifest ran to its end.
    A known intermittent is an expected outcome: the test did what it may do.
    """
    verdicts: dict[str, SignatureVerdict] = {}
    for target in targets:
        signature = FailureSignature(SignatureKind.TEST, target.test, group=target.group or None)
        verdict = judge(signature, summary, match=match)
        if only_what_ran and verdict is SignatureVerdict.PASSED and summary is not None:
            reported = target.test in summary.passed or any(
                outcome.test == target.test for outcome in summary.known_intermittent
            )
            verdict = SignatureVerdict.PASSED if reported else SignatureVerdict.NOT_RUN
        verdicts[target.test] = verdict
    return verdicts


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """What one run said about one test."""

    task_id: str
    run_id: int
    verdict: SignatureVerdict


@dataclass(frozen=True, slots=True)
class ConfirmedTest:
    target: ConfirmTarget
    answer: ConfirmAnswer
    runs: tuple[RunVerdict, ...]  # the runs that ran the test (hit or passed)

    @property
    def failed(self) -> int:
        return sum(1 for run in self.runs if run.verdict is SignatureVerdict.HIT)

    @property
    def deciding_run(self) -> RunVerdict | None:
        """The run that makes the answer: the first that failed, else the first that passed."""
        return next(
            (run for run in self.runs if run.verdict is SignatureVerdict.HIT),
            self.runs[0] if self.runs else None,
        )


def answers(
    targets: Sequence[ConfirmTarget],
    judged: Sequence[tuple[str, int, Mapping[str, str]]],
) -> tuple[ConfirmedTest, ...]:
    """Per target, in order: Treeherder's answer over the runs that ran it.

    `judged`: (task id, run id, test -> verdict) of every run judged, in the order the
    runs joined the request.
    """
    found = []
    for target in targets:
        runs = tuple(
            RunVerdict(task_id, run_id, SignatureVerdict(verdicts[target.test]))
            for task_id, run_id, verdicts in judged
            if verdicts.get(target.test, SignatureVerdict.NOT_RUN.value)
            != SignatureVerdict.NOT_RUN.value
        )
        found.append(ConfirmedTest(target, confirm_answer([r.verdict for r in runs]), runs))
    return tuple(found)


def run_verdict(verdicts: Mapping[str, SignatureVerdict]) -> SignatureVerdict:
    """One word for a run over all the targets (what generic run counts read)."""
    values = set(verdicts.values())
    if SignatureVerdict.HIT in values:
        return SignatureVerdict.HIT
    if SignatureVerdict.PASSED in values:
        return SignatureVerdict.PASSED
    return SignatureVerdict.NOT_RUN
