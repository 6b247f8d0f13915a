"""Which push to sample next, and how many runs, when looking for a culprit.

This module only decides *where* and *how much* to sample. What counts as a bad or a good
run at a push is the caller's (`PushCounts`: runs that hit the failure and runs that
showed it absent, judged by job colour or by failure signature), so a judge can change
without touching the search.

The search, like Chromium's flake lookback and LUCI Bisection:

1. **Lookback**: from the earliest push known bad, probe further back in growing steps
   (1, 2, 3, 5, 9, … pushes from the newest) until a push is shown good.
2. **Bisection** between the last good and the first bad push.
3. **Sequential sampling** at the probed push: a batch of the runs that would rule it out
   if they all pass; more only while it is neither bad (a hit) nor ruled out; "cannot
   tell" once its share of the budget is spent. A probe's first hit decides it: the
   search goes on without waiting for the rest of its batch.
4. **Verification** (LUCI's culprit check): the answer needs a few runs of the suspect and
   holds even without the parent's last few passes.
5. **Early stop**: the answer is given as soon as it holds whatever the runs still out
   return (`decided`); those runs, and earlier the ones on pushes newer than the first
   bad one, are obsolete (`obsolete_pending`): the caller cancels them.

The risk of ruling a push out is `culprit_posterior`'s (the failure starts at one push at
an unknown rate and never shows before it); the answer's confidence is the suspect's
posterior probability. Every run that exists is counted: the caller passes all of them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from mozci_monitor.core.by_signature import PushCounts, culprit_posterior


class Strategy(StrEnum):
    SEARCH = "search"  # this module
    SWEEP = "sweep"  # every push of the range, `times` runs each


class Phase(StrEnum):
    LOOKBACK = "lookback"
    BISECT = "bisect"
    VERIFY = "verify"
    WAIT = "wait"  # runs are pending: the next decision needs them
    DONE = "done"


class Outcome(StrEnum):
    CULPRIT = "culprit"
    UNKNOWN = "unknown"  # the runs cannot tell: said so, never a forced culprit
    OLDER_THAN_RANGE = "older-than-range"
    NEVER_FAILED = "never-failed"


@dataclass(frozen=True, slots=True)
class SearchPolicy:
    """How much risk and how many runs the search may spend.

    `alpha`: the risk accepted that the suspect's parent hid the failure (the answer's);
    `probe_alpha`: the same risk for the pushes probed on the way (a wrong turn there
    costs runs, not a wrong answer: the answer's rule looks at every run). `push_share`: runs at
    most on one push before it is "cannot tell". `budget`: runs (tasks) in all.
    `max_batch`: runs asked for at once. `initial_runs`: runs of the failing push first
    (it still fails, and how often). `verify_hits`: failures the suspect must show (the run
    the search started from counts when it is the suspect). `verify_runs`: the parent's
    passes beyond what ruling it out needed.
    """

    alpha: float = 0.01
    probe_alpha: float = 0.2
    budget: int = 150
    push_share: int = 75
    max_batch: int = 10
    verify_runs: int = 2
    verify_hits: int = 2
    initial_runs: int = 3


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    outcome: Outcome
    reason: str
    culprit: int | None = None
    last_good: int | None = None
    confidence: float = 0.0
    cannot_tell: int | None = None  # the push whose share ran out


@dataclass(frozen=True, slots=True)
class SearchStep:
    phase: Phase
    push: int | None = None
    runs: int = 0
    answer: SearchAnswer | None = None


def next_step(
    counts: Sequence[PushCounts],
    policy: SearchPolicy,
    *,
    pending: Mapping[int, int] | None = None,
) -> SearchStep:
    """Pushes oldest first; the newest is the failing one (it has a hit). `pending`: runs
    asked for and not finished, per push.

    Runs still out are waited for only where they can still matter:

    - at a push older than the earliest hit (or anywhere, before any hit): one hit there
      moves the earliest bad push, so where to look next depends on it;
    - at the push the next batch would go to (one batch per push at a time);
    - for an answer that is not `decided` whatever they return.

    Runs out at the earliest bad push or newer can only add hits there (the verdict of
    those pushes is made) or passes (a lower rate estimate): the search goes on with the
    runs finished, and an answer that holds even if every run out passes is given at once
    (its runs out are then obsolete: `obsolete_pending`).
    """
    out = {push: runs for push, runs in (pending or {}).items() if runs > 0}
    earliest = _earliest(counts)
    steering = sorted(push for push in out if earliest is None or push < earliest)
    if steering:
        return SearchStep(Phase.WAIT, push=steering[0], runs=out[steering[0]])
    step = _next_step(counts, policy, out)
    if not out:
        return step
    if step.phase is Phase.DONE:
        assert step.answer is not None
        # What the search would do were every run out a pass: computed once, if needed.
        worst_case = functools.cache(lambda: _next_step(_all_pass(counts, out), policy, {}))
        answer = _decided(out, step.answer, worst_case)
        if answer is not None:
            return replace(step, answer=answer)
        # Not yet robust: if more passes at the suspect's parent would make it so, ask for
        # them now rather than wait for runs that may be slow to come (a scarce pool);
        # else wait.
        culprit = step.answer.culprit
        if culprit is not None:
            worst = worst_case()
            if worst.phase is Phase.VERIFY and worst.push == culprit - 1 and worst.push not in out:
                return worst
        first = min(out)
        return SearchStep(Phase.WAIT, push=first, runs=out[first])
    if step.push is not None and step.push in out:
        return SearchStep(Phase.WAIT, push=step.push, runs=out[step.push])
    return step


def decided(
    counts: Sequence[PushCounts],
    policy: SearchPolicy,
    out: Mapping[int, int],
    answer: SearchAnswer,
) -> SearchAnswer | None:
    """`answer`, given by the runs finished, when no outcome of the runs still `out` can
    change it (with the confidence that holds whatever they return); else None.

    The runs out are all at the earliest bad push or newer (`next_step` waits for the
    others). There a hit moves nothing and raises the rate estimate, which makes the
    parent's passes weigh more; a pass lowers it. So the worst case for the answer is
    every run out passing, and any mix of outcomes (or runs lost) lies between that and
    the runs finished: an answer found in both holds in all. "Older than the range" holds
    whatever they return (the earliest hit cannot move). "Never failed" and "cannot tell"
    are never decided with runs out: a run out may show the failure, or tell."""
    return _decided(out, answer, lambda: _next_step(_all_pass(counts, out), policy, {}))


def _decided(
    out: Mapping[int, int], answer: SearchAnswer, worst_case: Callable[[], SearchStep]
) -> SearchAnswer | None:
    """`decided`, with the search's step were every run out a pass (`worst_case`) asked
    for only when the answer depends on it."""
    if answer.outcome is Outcome.OLDER_THAN_RANGE:
        return answer
    if answer.outcome is not Outcome.CULPRIT or answer.culprit is None:
        return None
    if any(push < answer.culprit for push in out):
        return None
    worst = worst_case().answer
    if worst is None or (worst.outcome, worst.culprit) != (answer.outcome, answer.culprit):
        return None
    return replace(answer, confidence=min(answer.confidence, worst.confidence))


def _all_pass(counts: Sequence[PushCounts], out: Mapping[int, int]) -> list[PushCounts]:
    """The runs finished, and every run still `out` a pass."""
    after = list(counts)
    for push, runs in out.items():
        after[push] = replace(after[push], passes=after[push].passes + runs)
    return after


def _next_step(
    counts: Sequence[PushCounts], policy: SearchPolicy, out: Mapping[int, int]
) -> SearchStep:
    """The step the runs finished call for; `out` only counts against the budgets."""
    earliest = _earliest(counts)
    if earliest is None:
        answer = SearchAnswer(Outcome.NEVER_FAILED, "the failure was never seen in the range")
        return SearchStep(Phase.DONE, answer=answer)
    if earliest == 0:
        answer = SearchAnswer(
            Outcome.OLDER_THAN_RANGE, "failing on the oldest push: the culprit is older"
        )
        return SearchStep(Phase.DONE, answer=answer)

    newest = len(counts) - 1
    if _runs(counts[newest]) < policy.initial_runs:
        # Does it still fail where it was seen, and how often: the rate guides the rest.
        wanted = policy.initial_runs - _runs(counts[newest])
        return _sample(counts, newest, wanted, policy, Phase.LOOKBACK, out)
    parent = earliest - 1
    suspect = counts[earliest]
    if _doubt(counts, parent) < policy.probe_alpha and suspect.hits < policy.verify_hits:
        # The suspect must fail again (LUCI's culprit check); about one failure's worth of
        # runs at the rate it showed so far.
        wanted = max(policy.verify_runs, -(-_runs(suspect) // max(1, suspect.hits)))
        return _sample(counts, earliest, wanted, policy, Phase.VERIFY, out)
    if _doubt(counts, parent, policy.verify_runs) < policy.alpha:
        confidence = culprit_posterior(counts)[earliest]
        answer = SearchAnswer(
            Outcome.CULPRIT,
            f"first fails at push {earliest}, passes at push {parent}",
            culprit=earliest,
            last_good=parent,
            confidence=confidence,
        )
        return SearchStep(Phase.DONE, answer=answer)
    if _doubt(counts, parent) < policy.probe_alpha:
        # The range is narrowed to one push: rule its parent out at the answer's risk,
        # with the verification runs on top.
        wanted = _runs_to_rule_out(counts, parent, policy, policy.alpha, policy.verify_runs)
        return _sample(counts, parent, wanted, policy, Phase.VERIFY, out)

    # Only a push with runs of its own is a last good one (the prior alone says little).
    last_good = next(
        (
            x
            for x in range(parent - 1, -1, -1)
            if counts[x].passes and _doubt(counts, x) < policy.probe_alpha
        ),
        None,
    )
    if last_good is None:
        # Lookback: the distance from the newest push doubles with every step back.
        target = max(0, earliest - max(1, newest - earliest))
        phase = Phase.LOOKBACK
    else:
        target = (last_good + earliest) // 2
        phase = Phase.BISECT
    # A push already probed and still open is finished first.
    target = max(target, _open_probe(counts, earliest, policy, floor=target))
    wanted = _runs_to_rule_out(counts, target, policy, policy.probe_alpha)
    return _sample(counts, target, wanted, policy, phase, out)


def _earliest(counts: Sequence[PushCounts]) -> int | None:
    return next((index for index, c in enumerate(counts) if c.hits), None)


def _sample(
    counts: Sequence[PushCounts],
    push: int,
    wanted: int,
    policy: SearchPolicy,
    phase: Phase,
    out: Mapping[int, int],
) -> SearchStep:
    # Runs still out are spent already: they count against the budget and the share.
    spent = sum(_runs(c) for c in counts) + sum(out.values())
    share_left = policy.push_share - _runs(counts[push]) - out.get(push, 0)
    budget_left = policy.budget - spent
    if share_left <= 0:
        answer = SearchAnswer(
            Outcome.UNKNOWN,
            f"push {push}: cannot tell in {_runs(counts[push])} runs",
            cannot_tell=push,
        )
        return SearchStep(Phase.DONE, answer=answer)
    if budget_left <= 0:
        answer = SearchAnswer(Outcome.UNKNOWN, f"the budget of {policy.budget} runs is spent")
        return SearchStep(Phase.DONE, answer=answer)
    runs = max(1, min(wanted, share_left, budget_left, policy.max_batch))
    return SearchStep(phase, push=push, runs=runs)


def _open_probe(
    counts: Sequence[PushCounts], earliest: int, policy: SearchPolicy, floor: int
) -> int:
    """The newest push below `earliest` sampled and not yet decided, else `floor`."""
    for push in range(earliest - 1, floor - 1, -1):
        if _runs(counts[push]) and _doubt(counts, push) >= policy.probe_alpha:
            return push
    return floor


def _runs(counts: PushCounts) -> int:
    return counts.hits + counts.passes


def _doubt(counts: Sequence[PushCounts], push: int, without: int = 0) -> float:
    """P(the failure starts at or before `push`), leaving out `without` of its passes (the
    verification runs: the answer must hold without them); 1 when it has too few."""
    if counts[push].hits or counts[push].passes < without:
        return 1.0
    if without:
        fewer = replace(counts[push], passes=counts[push].passes - without)
        counts = [*counts[:push], fewer, *counts[push + 1 :]]
    return sum(culprit_posterior(counts)[: push + 1])


def _runs_to_rule_out(
    counts: Sequence[PushCounts], push: int, policy: SearchPolicy, risk: float, without: int = 0
) -> int:
    """Passes at `push` that would bring its doubt under `risk` (at most `max_batch`)."""
    trial = list(counts)
    for extra in range(1, policy.max_batch + 1):
        trial[push] = replace(counts[push], passes=counts[push].passes + extra)
        if _doubt(trial, push, without) < risk:
            return extra
    return policy.max_batch


def confidence_text(confidence: float) -> str:
    """Rounded down: a confidence short of certainty never reads as 100 %."""
    return f"{math.floor(confidence * 1000) / 10:.1f}%"


def obsolete_pending(
    counts: Sequence[PushCounts],
    pending: Mapping[int, Sequence[str]],
    *,
    answered: bool,
    needed: int | None = None,
) -> list[str]:
    """Pending runs that can no longer change the answer, to cancel (as until-fail does).

    Once the answer is known (`decided`), every pending run. Before, the ones on pushes
    newer than the earliest bad one: the interval last good..first bad has left them
    behind (a hit there already decided them; their passes would only lower the rate
    estimate, which the answer's rule already allows for). The earliest bad push's own
    runs are its verification and are kept, and so are the runs of the push the next
    step samples or waits for (`needed`: the failing push's first runs, which the search
    asks for wherever the earliest bad push is). Runs older than the earliest bad push are
    never obsolete before the answer: a hit there would move it (and `next_step` waits for
    them before probing further, so none are out below a last good push).
    """
    if answered:
        return sorted(task for tasks in pending.values() for task in tasks)
    earliest = _earliest(counts)
    if earliest is None:
        return []
    return sorted(
        task
        for push, tasks in pending.items()
        if push > earliest and push != needed
        for task in tasks
    )
