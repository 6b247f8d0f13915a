"""Campaign answers by failure signature instead of by job colour.

Pure functions over per-task verdicts (`core.signature.judge`): until-fail stops on the
run that hit the signature and counts the other failures; a push's result for backfill
and bisect counts signature hits and passes, a run where the test did not run being
missing data, not a pass; the culprit search walks back from the earliest hit until the
runs make it the culprit with high probability. (Confirming failures test by test:
`core/confirm.py`.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.errorsummary import ErrorSummary
from mozci_monitor.core.sheriff import PushResult, Verdict
from mozci_monitor.core.signature import (
    FailureSignature,
    PatternMatch,
    SignatureKind,
    SignatureVerdict,
    judge,
    signatures_of,
)


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
    counts: Sequence[PushCounts], *, alpha: float = 0.01, max_runs_per_push: int = 200
) -> CulpritStep:
    """Pushes oldest first, the last one failing. The culprit is the earliest push with a
    hit once the runs make it the culprit with probability at least 1 - `alpha`
    (`culprit_posterior`); until then, one more run where the doubt is split in half
    (a hit there moves the search back at once, passes there remove half the doubt)."""
    earliest = next((index for index, c in enumerate(counts) if c.hits), None)
    if earliest is None:
        return CulpritStep(reason="the signature was never hit in the range")
    if earliest == 0:
        return CulpritStep(reason="hit on the oldest push: the culprit is older than the range")
    posterior = culprit_posterior(counts)
    if posterior[earliest] >= 1.0 - alpha:
        return CulpritStep(
            culprit=earliest, reason=f"culprit with probability {posterior[earliest]:.3f}"
        )
    # Bisect the doubt: run where half the remaining probability lies at or before.
    doubt = 1.0 - posterior[earliest]
    mass = 0.0
    target = earliest - 1
    for push in range(earliest):
        mass += posterior[push]
        if mass >= doubt / 2:
            target = push
            break
    runs = counts[target].passes + counts[target].hits
    if runs >= max_runs_per_push:
        return CulpritStep(reason=f"push {target} not shown clean in {max_runs_per_push} runs")
    return CulpritStep(run_on=target, reason="the culprit may be older than the earliest hit")


def culprit_posterior(counts: Sequence[PushCounts]) -> list[float]:
    """P(the regression starts at push c | the runs), for every push oldest first; index 0
    also stands for "older than the range". A regression fails the test at one unknown rate
    from its push on (uniform prior over that rate and over c) and never before, so c is at
    most the earliest hit; the rate is integrated out (a Beta integral)."""
    earliest = next((index for index, c in enumerate(counts) if c.hits), len(counts) - 1)
    hits = sum(c.hits for c in counts)
    log_likelihood = []
    # Passes at and after the candidate push count against the rate; earlier ones are
    # what a clean push does anyway.
    passes_from = sum(c.passes for c in counts)
    for push in range(earliest + 1):
        log_likelihood.append(_log_beta(hits + 1, passes_from + 1))
        passes_from -= counts[push].passes
    top = max(log_likelihood)
    weights = [math.exp(value - top) for value in log_likelihood]
    total = sum(weights)
    return [w / total for w in weights] + [0.0] * (len(counts) - earliest - 1)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def describe_until_fail(progress: UntilFailProgress) -> dict[str, Any]:
    hit = progress.hit
    return {
        "hit": None if hit is None else {"task_id": hit.task_id, "run_id": hit.run_id},
        "runs": progress.runs,
        "passes": progress.passes,
        "missing": progress.missing,
        "other_failures": dict(sorted(progress.other_failures.items())),
    }


# -- judging runs, and keeping the judgements as plain data ---------------------------------

# Where a campaign judged by a signature keeps its runs' judgements (campaign.params), by
# `judgement_key`: plain data, so the kinds' answers stay functions of campaign and requests.
JUDGED = "judged"

# Other failures kept per run: enough to count the usual suspects, bounded whatever a log holds.
MAX_OTHER_FAILURES_PER_RUN = 20


def judge_run(
    signature: FailureSignature,
    summary: ErrorSummary | None,
    *,
    task_id: str,
    run_id: int,
    orange: bool,
    match: PatternMatch,
) -> RunJudgement:
    """One finished run judged by `signature` (its parsed results; None when it has none),
    with the other failures it shows (known intermittents are not failures)."""
    others: tuple[str, ...] = ()
    if summary is not None:
        others = tuple(
            found.describe()
            for found in signatures_of(summary)
            if (found.kind, found.value) != (signature.kind, signature.value)
        )[:MAX_OTHER_FAILURES_PER_RUN]
    verdict = judge(signature, summary, match=match)
    return RunJudgement(task_id, run_id, verdict, orange=orange, other_failures=others)


def judgement_to_json(judgement: RunJudgement) -> dict[str, Any]:
    return {
        "task_id": judgement.task_id,
        "run_id": judgement.run_id,
        "verdict": judgement.verdict.value,
        "orange": judgement.orange,
        "others": list(judgement.other_failures),
    }


def judgement_from_json(data: Mapping[str, Any]) -> RunJudgement:
    return RunJudgement(
        task_id=str(data["task_id"]),
        run_id=int(data["run_id"]),
        verdict=SignatureVerdict(data["verdict"]),
        orange=bool(data.get("orange")),
        other_failures=tuple(str(other) for other in data.get("others") or ()),
    )


def judgement_key(task_id: str, run_id: int) -> str:
    return f"{task_id}/{run_id}"


def signature_to_json(signature: FailureSignature) -> dict[str, Any]:
    return {
        "kind": signature.kind.value,
        "value": signature.value,
        "group": signature.group,
        "subtest": signature.subtest_pattern,
        "message": signature.message_pattern,
    }


def signature_from_json(data: Mapping[str, Any]) -> FailureSignature:
    return FailureSignature(
        kind=SignatureKind(data["kind"]),
        value=str(data["value"]),
        group=data.get("group"),
        subtest_pattern=data.get("subtest"),
        message_pattern=data.get("message"),
    )


def judgements_in_order(
    judged: Mapping[str, Mapping[str, Any]], task_ids: Sequence[str]
) -> list[RunJudgement]:
    """The stored judgements of these tasks, in the order the tasks joined the request
    (the same order whichever run's results came back first)."""
    position = {task_id: index for index, task_id in enumerate(task_ids)}
    found = [judgement_from_json(data) for data in judged.values()]
    found = [judgement for judgement in found if judgement.task_id in position]
    return sorted(found, key=lambda j: (position[j.task_id], j.run_id))
