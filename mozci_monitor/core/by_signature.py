"""Campaign answers by failure signature instead of by job colour.

Pure functions over per-task verdicts (`core.signature.judge`): until-fail stops on the
run that hit the signature and counts the other failures; a push's result for backfill
and bisect counts signature hits and passes, a run where the test did not run being
missing data, not a pass; confirm-failures' targets are chosen like gecko's action
(failing tests, else failing manifests, else a retrigger) and answered by Treeherder's
rule; the culprit search walks back from the earliest hit until the push before it is
shown clean at the signature's own failure rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.errorsummary import ErrorSummary
from mozci_monitor.core.sheriff import PushResult, Verdict, wilson_interval
from mozci_monitor.core.signature import (
    ConfirmAnswer,
    SignatureKind,
    SignatureVerdict,
    confirm_answer,
    signatures_of,
)

# gecko's confirm-failures stops collecting past 10 failing tests.
MAX_CONFIRM_TESTS = 10


@dataclass(frozen=True, slots=True)
class RunJudgement:
    """One finished run judged by the campaign's signature."""

    task_id: str
    run_id: int
    verdict: SignatureVerdict
    orange: bool = False
    # Tests that failed unexpectedly in this run, other than the signature's.
    other_failures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UntilFailProgress:
    hit: RunJudgement | None
    runs: int
    passes: int
    missing: int
    other_failures: Mapping[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.hit is not None


def until_fail_progress(judgements: Sequence[RunJudgement]) -> UntilFailProgress:
    """Runs in the order they ended; the first that hit the signature is the answer, the
    other failures seen before it are recorded and counted, never a stop."""
    others: Counter[str] = Counter()
    passes = missing = 0
    for runs, judgement in enumerate(judgements, start=1):
        others.update(judgement.other_failures)
        if judgement.verdict is SignatureVerdict.HIT:
            return UntilFailProgress(judgement, runs, passes, missing, dict(others))
        if judgement.verdict is SignatureVerdict.PASSED:
            passes += 1
        else:
            missing += 1
    return UntilFailProgress(None, len(judgements), passes, missing, dict(others))


def push_result_by_signature(
    push_id: int, revision: str, verdicts: Sequence[SignatureVerdict], *, note: str = ""
) -> PushResult:
    """A push judged by the signature: any hit makes it bad (unrelated oranges are not
    counted at all); passes make it good; runs that say nothing are left out."""
    hits = verdicts.count(SignatureVerdict.HIT)
    passes = verdicts.count(SignatureVerdict.PASSED)
    if hits:
        verdict = Verdict.FAILED
    elif passes:
        verdict = Verdict.PASSED
    elif verdicts:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.NOT_RUN
    missing = len(verdicts) - hits - passes
    if missing:
        note = (
            f"{note}; {missing} run(s) without the test"
            if note
            else (f"{missing} run(s) without the test")
        )
    return PushResult(push_id, revision, verdict, green=passes, orange=hits, note=note)


@dataclass(frozen=True, slots=True)
class ConfirmTarget:
    """One confirm-failures rerun: a test (path and its manifest) or a whole manifest."""

    path: str
    group: str


@dataclass(frozen=True, slots=True)
class ConfirmPlan:
    tests: tuple[ConfirmTarget, ...] = ()
    groups: tuple[ConfirmTarget, ...] = ()

    @property
    def retrigger(self) -> bool:
        """Nothing specific failed: gecko falls back to retriggering the task."""
        return not self.tests and not self.groups


def confirm_plan(summary: ErrorSummary | None) -> ConfirmPlan:
    if summary is None:
        return ConfirmPlan()
    tests: list[ConfirmTarget] = []
    failing_groups: list[str] = []
    for signature in signatures_of(summary):
        if signature.kind is SignatureKind.TEST and len(tests) < MAX_CONFIRM_TESTS:
            tests.append(ConfirmTarget(signature.value, signature.group or ""))
        elif signature.kind is SignatureKind.GROUP:
            failing_groups.append(signature.value)
    # Like gecko: a manifest is rerun whole only when no test of it is rerun.
    covered = {target.group for target in tests}
    groups = tuple(ConfirmTarget("", group) for group in failing_groups if group not in covered)
    return ConfirmPlan(tuple(tests), groups)


def confirm_answers(
    runs_by_test: Mapping[str, Sequence[SignatureVerdict]],
) -> dict[str, ConfirmAnswer]:
    """Per test, what its `-cf` runs say (Treeherder's rule)."""
    return {test: confirm_answer(verdicts) for test, verdicts in sorted(runs_by_test.items())}


@dataclass(frozen=True, slots=True)
class PushCounts:
    hits: int = 0
    passes: int = 0


@dataclass(frozen=True, slots=True)
class CulpritStep:
    """What the search wants next: a culprit, one more run on a push, or cannot tell."""

    culprit: int | None = None
    run_on: int | None = None
    reason: str = ""


def next_culprit_step(
    counts: Sequence[PushCounts], *, alpha: float = 0.05, max_runs_per_push: int = 200
) -> CulpritStep:
    """Pushes oldest first, the last one failing. The culprit is the earliest push with a
    hit, once the push before it passed often enough that, at the signature's failure
    rate (the lower 95% bound of what the pushes from the culprit on show), the chance it
    hid the regression is below `alpha`. Until then: one more run on that push."""
    earliest = next((index for index, c in enumerate(counts) if c.hits), None)
    if earliest is None:
        return CulpritStep(reason="the signature was never hit in the range")
    if earliest == 0:
        return CulpritStep(reason="hit on the oldest push: the culprit is older than the range")
    after = counts[earliest:]
    rate_low, _ = wilson_interval(sum(c.hits for c in after), sum(c.hits + c.passes for c in after))
    before = counts[earliest - 1]
    if rate_low > 0 and before.passes >= _passes_needed(rate_low, alpha):
        return CulpritStep(culprit=earliest, reason=_clean_reason(before.passes, rate_low))
    if before.passes + before.hits >= max_runs_per_push:
        return CulpritStep(
            reason=f"push {earliest - 1} not shown clean in {max_runs_per_push} runs"
        )
    return CulpritStep(run_on=earliest - 1, reason="the push before the earliest hit needs runs")


def _passes_needed(rate: float, alpha: float) -> int:
    if rate >= 1.0:
        return 1
    return math.ceil(math.log(alpha) / math.log(1.0 - rate))


def _clean_reason(passes: int, rate: float) -> str:
    return f"push before passed {passes} times; at a rate of at least {rate:.2f} that rules it out"


def describe_until_fail(progress: UntilFailProgress) -> dict[str, Any]:
    hit = progress.hit
    return {
        "hit": None if hit is None else {"task_id": hit.task_id, "run_id": hit.run_id},
        "runs": progress.runs,
        "passes": progress.passes,
        "missing": progress.missing,
        "other_failures": dict(sorted(progress.other_failures.items())),
    }
