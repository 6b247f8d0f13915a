"""Campaign answers by failure signature instead of by job colour.

Pure functions over per-task verdicts (`core.signature.judge`): until-fail stops on the
run that hit the signature and counts the other failures; a push's result for backfill
and bisect counts signature hits and passes, a run where the test did not run being
missing data, not a pass; the culprit search runs where a run is expected to tell the
most (before the earliest hit, or at it while its rate is unknown) until the runs make the
earliest hit the culprit with high probability. (Confirming failures test by test:
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
    """A push's runs judged by the failure: `hits` and `passes`. `selected`: how many of
    the hits are runs chosen *because* they failed (the failing task a campaign starts
    from): they place the failure at or before this push, but say nothing of how often it
    fails (counted as samples, they would make a rare failure look frequent, and a parent's
    few passes look convincing)."""

    hits: int = 0
    passes: int = 0
    selected: int = 0


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
    (`culprit_posterior`); until then, one more run where it is expected to tell the most
    about where the failure starts (`_most_informative_push`)."""
    earliest = next((index for index, c in enumerate(counts) if c.hits), None)
    if earliest is None:
        return CulpritStep(reason="the signature was never hit in the range")
    if earliest == 0:
        return CulpritStep(reason="hit on the oldest push: the culprit is older than the range")
    evidence = _Evidence.of(counts)
    posterior = evidence.posterior()
    if posterior[earliest] >= 1.0 - alpha:
        return CulpritStep(
            culprit=earliest, reason=f"culprit with probability {posterior[earliest]:.3f}"
        )
    target = _most_informative_push(evidence, posterior)
    runs = counts[target].passes + counts[target].hits
    if runs >= max_runs_per_push:
        return CulpritStep(reason=f"push {target}: cannot tell in {max_runs_per_push} runs")
    if target == earliest:
        return CulpritStep(
            run_on=target, reason="how often it fails is too uncertain to clear the push before"
        )
    return CulpritStep(run_on=target, reason="the culprit may be older than the earliest hit")


def culprit_posterior(counts: Sequence[PushCounts]) -> list[float]:
    """P(the regression starts at push c | the runs), for every push oldest first; index 0
    also stands for "older than the range". A regression fails the test at one unknown rate
    from its push on (uniform prior over that rate and over c) and never before, so c is at
    most the earliest hit; the rate is integrated out (a Beta integral). Selected hits
    (`PushCounts.selected`) place the failure but are no sample of its rate."""
    evidence = _Evidence.of(counts)
    return evidence.posterior() + [0.0] * (len(counts) - len(evidence.passes_from))


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What the posterior depends on: the hits that sample the rate, and for every
    candidate push up to the earliest hit the passes at and after it (earlier passes are
    what a clean push does anyway)."""

    hits: int
    passes_from: tuple[int, ...]

    @staticmethod
    def of(counts: Sequence[PushCounts]) -> _Evidence:
        earliest = next((index for index, c in enumerate(counts) if c.hits), len(counts) - 1)
        # Selected runs failed by choice, not by chance: they are no sample of the rate.
        hits = sum(c.hits - min(c.selected, c.hits) for c in counts)
        passes_from = []
        remaining = sum(c.passes for c in counts)
        for push in range(earliest + 1):
            passes_from.append(remaining)
            remaining -= counts[push].passes
        return _Evidence(hits, tuple(passes_from))

    def posterior(self) -> list[float]:
        log_likelihood = [_log_beta(self.hits + 1, passes + 1) for passes in self.passes_from]
        top = max(log_likelihood)
        weights = [math.exp(value - top) for value in log_likelihood]
        total = sum(weights)
        return [w / total for w in weights]

    def after_pass(self, push: int) -> _Evidence:
        """One more pass at `push`: it counts against every candidate at or before it."""
        return _Evidence(
            self.hits,
            tuple(n + (candidate <= push) for candidate, n in enumerate(self.passes_from)),
        )

    def after_hit(self, push: int) -> _Evidence:
        """One more hit at `push`: nothing after it is a candidate any more."""
        return _Evidence(self.hits + 1, self.passes_from[: push + 1])


def _most_informative_push(evidence: _Evidence, posterior: Sequence[float]) -> int:
    """The push (at most the earliest hit) whose next run leaves the least expected
    uncertainty (entropy) about where the failure starts.

    Halving the doubt among older pushes alone never samples the earliest hit itself, yet
    with a rare failure only runs there (or later) tell how often it fails, and so how
    many passes before it clear a push: a hit seen once (or only the run the campaign
    started from) leaves its parent undecidable whatever runs it gets. Weighing both
    outcomes of one run at every candidate chooses between learning the rate and ruling
    pushes out by what each is worth at this point."""
    # P(a run at push x hits) = sum over candidates c <= x of P(c) * E[rate | c, runs].
    hit_chance = [
        p * (evidence.hits + 1) / (evidence.hits + passes + 2)
        for p, passes in zip(posterior, evidence.passes_from, strict=True)
    ]
    best, best_entropy = len(posterior) - 1, math.inf
    chance = 0.0
    for push in range(len(posterior)):
        chance += hit_chance[push]
        expected = (1.0 - chance) * _entropy(evidence.after_pass(push).posterior())
        expected += chance * _entropy(evidence.after_hit(push).posterior())
        if expected < best_entropy - 1e-12:
            best, best_entropy = push, expected
    return best


def _entropy(distribution: Sequence[float]) -> float:
    return -sum(p * math.log(p) for p in distribution if p > 0.0)


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
