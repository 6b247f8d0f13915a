"""Culprit finding judged by job colour and by failure signature, on planted cases.

    python bench/culprits.py --json            # 240 cases, last line is the JSON summary
    python bench/culprits.py --cases 50 --seed 3
    python bench/culprits.py --explain --only test-level   # every miss, classified

Each case plants a test regression with the simulator's test model (mozci_monitor.sim.
testrun, the code that makes the simulated jobs' errorsummary.log): the culprit push at
random in a range of 20-30 pushes, the test's failure rate after it from 5 % to 100 %,
unrelated intermittents making the job orange 10-40 % of the time, known intermittents
logged as such. The newest push has the failing task the search starts from (a run chosen
because it failed: it places the failure, it is no sample of its rate). Every run's
errorsummary.log is parsed and judged by the project's own code (core.errorsummary,
core.signature), so the test-level strategy sees exactly what a campaign would.

Strategies, each with the same budget of test tasks: today's bisect, 10 runs per push in
range (SWEEP_TIMES):
  job-level   today's bisect: the budget spread evenly over the pushes, each run counted
              green or orange by the job's result, the change point of the orange rate.
  test-level  runs judged by the signature taken from the failing task; one run at a
              time where it is expected to tell the most about where the failure starts
              (at the earliest hit itself while its rate is unknown), until the earliest
              hit is the culprit with probability 0.99 or the budget is spent
              (core.by_signature.next_culprit_step).

Strategies of issue 16, every run judged by the signature, the answer being the earliest
push with a hit when it is the culprit with probability 0.99 (else "cannot tell"):
  sweep       today's bisect: 10 runs on every push.
  mozci-like  mozci's backfill: 5 runs on every push.
  search      core.search: lookback in growing steps, bisection, sequential batches per
              push, the suspect shown failing again and its parent passing beyond need;
              at most the sweep's runs; each batch admitted by core.capacity against a
              daily quota of the pool (over it, the search waits for the next day). A
              batch's runs come back one at a time; the search goes on, answers and
              cancels the runs out as soon as they no longer matter (early stop).
  search-batches  the same search waiting for every run of a batch before it decides
              again (as before early stop), for comparison.

Accuracy counts the right culprit, or "cannot tell" on a case the budget cannot decide;
never a wrong culprit. A case is decidable when ruling out the push before the culprit at
the true rate (0.05 risk) plus seeing one failure at the culprit fits in half the budget.
That rule knows the rate; the answer does not, and wants 0.99: `accuracy_at_confidence`
counts "cannot tell" as honest where even an oracle split of the budget reaches 0.99 less
than half the time, and `accuracy_ceiling` is the most `accuracy` any strategy can expect
(bench/culprit_oracle.py). --explain classifies every miss (bench/culprit_misses.py).
What it does not model: a test that is itself intermittent before the culprit, chunks
whose manifests move between pushes, and runs lost to infrastructure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from culprit_misses import Judged, explain
from culprit_oracle import oracle_chance

from mozci_monitor.core.by_signature import PushCounts, culprit_posterior, next_culprit_step
from mozci_monitor.core.capacity import CapacityPolicy, admit, platform_of
from mozci_monitor.core.errorsummary import parse_errorsummary
from mozci_monitor.core.search import Outcome as SearchOutcome
from mozci_monitor.core.search import Phase, SearchPolicy, next_step, obsolete_pending
from mozci_monitor.core.sheriff import PushResult, Verdict, change_point
from mozci_monitor.core.signature import (
    SignatureVerdict,
    judge,
    signatures_of,
)
from mozci_monitor.patterns import re2_search
from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.testrun import (
    JobTestModel,
    PlantedTestRegression,
    flaky_tests_of,
    manifests_for,
    run_tests,
)

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
ALPHA = 0.05
# Risk the test-level search accepts that the push it rules out hid the regression.
SEARCH_RISK = 0.01
# Risk the search accepts on the pushes it probes on the way (core.search.SearchPolicy).
PROBE_RISK = 0.2
# Mean run time of a simulated test task (SimConfig.test_runtime), for CI hours.
TASK_HOURS = sum(SimConfig().test_runtime) / 2 / 3600
# Runs per push of the sweeps: today's bisect default, and mozci's backfill.
SWEEP_TIMES = 10
MOZCI_TIMES = 5
# Every strategy's budget: what today's bisect spends on each push of the range.
RUNS_PER_PUSH = SWEEP_TIMES
# The label's worker pool and the daily quota the search is held to (tasks per day).
POOL = "gecko-t/t-linux-xlarge"
DAILY_QUOTA = 100


@dataclass(frozen=True)
class Case:
    pushes: int
    culprit: int
    rate: float
    background: float
    test: str
    seed: int

    @property
    def budget(self) -> int:
        return RUNS_PER_PUSH * self.pushes

    @property
    def decidable(self) -> bool:
        rule_out = 1 if self.rate >= 1.0 else math.ceil(math.log(ALPHA) / math.log(1 - self.rate))
        return rule_out + math.ceil(1 / self.rate) <= self.budget / 2


@dataclass(frozen=True)
class Outcome:
    culprit: int | None
    tasks: int
    # Batches one after the other (each waits for the previous one's runs): wall time.
    rounds: int = 1
    # Days the quota made the search wait.
    deferred_days: int = 0
    # The most tasks scheduled on one day (the quota holds when it is at most DAILY_QUOTA).
    busiest_day: int = 0
    # Why it answered so, and the runs by signature per push it answered from (--explain).
    reason: str = ""
    counts: tuple[PushCounts, ...] = ()
    # Runs asked for and cancelled before they finished (no longer mattering): scheduled,
    # so counted in the tasks and the quota, charged half a run of CI time.
    cancelled: int = 0


class Runner:
    """Runs of the case's label at one push: (job orange, signature verdict). Every
    verdict is checked against what the simulator planted (`judged`, for --explain)."""

    def __init__(self, case: Case, judged: Judged | None = None) -> None:
        self.judged = judged if judged is not None else Judged()
        regression = PlantedTestRegression(LABEL, case.test, case.culprit, case.rate)
        self.model = JobTestModel(
            background_orange=case.background,
            known_intermittent_rate=0.3,
            regressions=(regression,),
        )
        self.rng = random.Random(case.seed)
        self.tasks = 0
        self.signature = None
        # The failing task the campaign starts from: a run on the newest push that hit.
        while self.signature is None:
            run = run_tests(self.model, LABEL, case.pushes - 1, self.rng)
            found = [
                s
                for s in signatures_of(parse_errorsummary(run.errorsummary()))
                if s.value == case.test
            ]
            self.signature = found[0] if found else None

    def run(self, push: int) -> tuple[bool, SignatureVerdict]:
        self.tasks += 1
        run = run_tests(self.model, LABEL, push, self.rng)
        summary = parse_errorsummary(run.errorsummary())
        assert self.signature is not None
        verdict = judge(self.signature, summary, match=re2_search)
        self._check(verdict, failed=self.signature.value in run.failing_tests)
        return run.orange, verdict

    def _check(self, verdict: SignatureVerdict, *, failed: bool) -> None:
        judged = self.judged
        judged.runs += 1
        judged.missing += verdict is SignatureVerdict.NOT_RUN
        if failed:
            judged.failed_judged_pass += verdict is SignatureVerdict.PASSED
            judged.failed_judged_missing += verdict is SignatureVerdict.NOT_RUN
        else:
            judged.passed_judged_hit += verdict is SignatureVerdict.HIT


def job_level(case: Case, judged: Judged | None = None) -> Outcome:
    runner = Runner(case, judged)
    results = []
    for push in range(case.pushes):
        oranges = sum(runner.run(push)[0] for _ in range(RUNS_PER_PUSH))
        verdict = Verdict.FAILED if oranges else Verdict.PASSED
        green = RUNS_PER_PUSH - oranges
        results.append(PushResult(push, f"r{push}", verdict, green=green, orange=oranges))
    answer = change_point(results)
    worse = answer["first_worse"]
    culprit = None if worse is None else int(worse["push_id"])
    return Outcome(culprit, runner.tasks, 1, 0, runner.tasks, reason=answer["summary"])


def test_level(case: Case, judged: Judged | None = None) -> Outcome:
    runner = Runner(case, judged)
    hits = [0] * case.pushes
    passes = [0] * case.pushes

    def record(push: int) -> None:
        verdict = runner.run(push)[1]
        if verdict is SignatureVerdict.HIT:
            hits[push] += 1
        elif verdict is SignatureVerdict.PASSED:
            passes[push] += 1

    hits[-1] += 1  # the failing task the campaign starts from
    rounds = 0  # one run at a time
    while True:
        counts = [PushCounts(h, p) for h, p in zip(hits, passes, strict=True)]
        counts[-1] = replace(counts[-1], selected=1)
        step = next_culprit_step(counts, alpha=SEARCH_RISK)
        if step.culprit is not None or step.run_on is None or runner.tasks >= case.budget:
            reason = step.reason if step.culprit or step.run_on is None else "budget spent"
            return Outcome(
                step.culprit, runner.tasks, rounds, 0, runner.tasks, reason, tuple(counts)
            )
        rounds += 1
        record(step.run_on)


def _signature_counts(
    runner: Runner, plan: dict[int, int], pushes: int, *, start: bool = True
) -> list[PushCounts]:
    hits = [0] * pushes
    passes = [0] * pushes
    hits[-1] += start  # the failing task the campaign starts from
    for push, runs in plan.items():
        for _ in range(runs):
            verdict = runner.run(push)[1]
            hits[push] += verdict is SignatureVerdict.HIT
            passes[push] += verdict is SignatureVerdict.PASSED
    counts = [PushCounts(h, p) for h, p in zip(hits, passes, strict=True)]
    counts[-1] = replace(counts[-1], selected=int(start))
    return counts


def _posterior_answer(counts: list[PushCounts]) -> int | None:
    """The earliest push with a hit, when it is the culprit with probability 1 - risk."""
    earliest = next((index for index, c in enumerate(counts) if c.hits), None)
    if not earliest:
        return None
    return earliest if culprit_posterior(counts)[earliest] >= 1 - SEARCH_RISK else None


def _sweep(case: Case, times: int, judged: Judged | None) -> Outcome:
    runner = Runner(case, judged)
    counts = _signature_counts(runner, dict.fromkeys(range(case.pushes), times), case.pushes)
    # Every run is asked for at once: one day's worth.
    found = _posterior_answer(counts)
    reason = "" if found is not None else "the earliest hit is not sure enough"
    return Outcome(found, runner.tasks, 1, 0, runner.tasks, reason, tuple(counts))


def sweep(case: Case, judged: Judged | None = None) -> Outcome:
    """Today's bisect: `SWEEP_TIMES` runs on every push, judged by signature."""
    return _sweep(case, SWEEP_TIMES, judged)


def mozci_like(case: Case, judged: Judged | None = None) -> Outcome:
    """mozci's backfill: 5 runs on every push, judged by signature."""
    return _sweep(case, MOZCI_TIMES, judged)


def search(case: Case, judged: Judged | None = None) -> Outcome:
    """core.search: lookback, bisection, sequential batches, verification; every batch
    admitted by core.capacity against the pool's daily quota (over quota: the next day).

    A batch's runs are out together and come back one at a time, in random order (they
    run in parallel); after each, the search decides again with the runs still out
    (`pending`). It answers once no run out can change the answer, and cancels the runs
    out that no longer matter (`obsolete_pending`): at the answer, and before it on
    pushes newer than the first bad one. A cancelled run is charged half a run of CI time
    (it was pending or running when cancelled)."""
    return _search(case, judged, whole_batches=False)


def search_batches(case: Case, judged: Judged | None = None) -> Outcome:
    """The search as it was before early stop: every run of a batch back before it
    decides again (for comparison)."""
    return _search(case, judged, whole_batches=True)


def _search(case: Case, judged: Judged | None, *, whole_batches: bool) -> Outcome:
    runner = Runner(case, judged)
    counts = [PushCounts()] * (case.pushes - 1) + [PushCounts(hits=1, selected=1)]
    # The runs the sweep would spend are the search's ceiling; it stops well before.
    ceiling = SWEEP_TIMES * case.pushes
    policy = SearchPolicy(
        alpha=SEARCH_RISK, probe_alpha=PROBE_RISK, budget=ceiling, push_share=ceiling
    )
    capacity = CapacityPolicy(daily_quota={POOL: DAILY_QUOTA})
    returns = random.Random(case.seed * 7 + 1)  # which run out comes back next
    out: list[int] = []  # the push of every run asked for and not back yet
    used_today = busiest = 0
    rounds = days = cancelled = 0
    while True:
        if whole_batches and out:
            _come_back(runner, counts, out, returns)
            continue
        step = next_step(counts, policy, pending=Counter(out))
        if step.phase is Phase.DONE:
            assert step.answer is not None
            found = step.answer.culprit if step.answer.outcome is SearchOutcome.CULPRIT else None
            return Outcome(
                found,
                runner.tasks,
                rounds,
                days,
                busiest,
                step.answer.reason,
                tuple(counts),
                cancelled=cancelled + len(out),
            )
        by_push = {push: [str(i) for i, p in enumerate(out) if p == push] for push in set(out)}
        behind = {
            int(i) for i in obsolete_pending(counts, by_push, answered=False, needed=step.push)
        }
        if behind:
            cancelled += len(behind)
            out = [push for i, push in enumerate(out) if i not in behind]
            continue
        if step.phase is Phase.WAIT:
            _come_back(runner, counts, out, returns)
            continue
        assert step.push is not None
        admission = admit(
            capacity,
            wanted=step.runs,
            pool=POOL,
            platform=platform_of(LABEL),
            used_today={POOL: used_today},
        )
        if admission.refused:
            if out:  # the runs out come back meanwhile
                _come_back(runner, counts, out, returns)
                continue
            days += 1
            used_today = 0
            continue
        rounds += 1
        used_today += admission.granted
        busiest = max(busiest, used_today)
        out.extend([step.push] * admission.granted)


def _come_back(
    runner: Runner, counts: list[PushCounts], out: list[int], returns: random.Random
) -> None:
    """One run out finishes (any of them: they run in parallel) and is judged."""
    push = out.pop(returns.randrange(len(out)))
    verdict = runner.run(push)[1]
    counts[push] = PushCounts(
        counts[push].hits + (verdict is SignatureVerdict.HIT),
        counts[push].passes + (verdict is SignatureVerdict.PASSED),
        counts[push].selected,
    )


STRATEGIES: dict[str, Callable[[Case, Judged | None], Outcome]] = {
    "job-level": job_level,
    "test-level": test_level,
    "sweep": sweep,
    "mozci-like": mozci_like,
    "search": search,
    "search-batches": search_batches,
}


def make_cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    model = JobTestModel()
    candidates = [
        test
        for manifest in manifests_for(model, LABEL)
        for test in manifest.tests
        if test not in flaky_tests_of(model, LABEL)
    ]
    cases = []
    for index in range(count):
        pushes = rng.randint(20, 30)
        cases.append(
            Case(
                pushes=pushes,
                culprit=rng.randint(1, pushes - 1),
                rate=rng.uniform(0.05, 1.0),
                background=rng.uniform(0.10, 0.40),
                test=rng.choice(candidates),
                seed=seed * 100_003 + index,
            )
        )
    return cases


def oracle_chances(cases: list[Case]) -> list[float]:
    """Per case, the chance that the best split of its budget reaches the answer's
    confidence (bench/culprit_oracle.py)."""
    return [oracle_chance(c.rate, c.budget, c.culprit, SEARCH_RISK) for c in cases]


def accuracy_ceiling(cases: list[Case], chances: list[float]) -> float:
    """The most `accuracy` any strategy can expect at the case budget and the answer's
    confidence: the oracle's right answers, plus its "cannot tell" where not decidable."""
    expected = sum(p + (1 - p) * (not c.decidable) for c, p in zip(cases, chances, strict=True))
    return round(expected / len(cases), 4)


def score(
    cases: list[Case], outcomes: list[Outcome], chances: list[float] | None = None
) -> dict[str, float]:
    right = wrong = unknown = honest = at_confidence = 0
    chances = chances if chances is not None else oracle_chances(cases)
    for case, outcome, chance in zip(cases, outcomes, chances, strict=True):
        if outcome.culprit is None:
            unknown += 1
            honest += not case.decidable
            at_confidence += chance < 0.5
        elif outcome.culprit == case.culprit:
            right += 1
        else:
            wrong += 1
    n = len(cases)
    tasks = sum(outcome.tasks + outcome.cancelled for outcome in outcomes) / n
    cancelled = sum(outcome.cancelled for outcome in outcomes) / n
    rounds = sum(outcome.rounds for outcome in outcomes) / n
    return {
        "accuracy": round((right + honest) / n, 4),
        # "cannot tell" counted honest where even the oracle split of the budget reaches
        # the answer's 99 % less than half the time.
        "accuracy_at_confidence": round((right + at_confidence) / n, 4),
        "false_culprit_rate": round(wrong / n, 4),
        "unknown_rate": round(unknown / n, 4),
        "tasks_per_case": round(tasks, 1),
        "cancelled_per_case": round(cancelled, 1),
        # Machine time: a cancelled run was pending or running, half a run on average.
        "ci_hours_per_case": round((tasks - cancelled / 2) * TASK_HOURS, 1),
        # Batches in sequence, each lasting a mean task (queueing and quota days left out).
        "wall_hours_per_case": round(rounds * TASK_HOURS, 1),
        "quota_held_cases": sum(o.busiest_day <= DAILY_QUOTA for o in outcomes),
        "deferred_days": sum(o.deferred_days for o in outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=240)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="only the JSON summary line")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="classify every miss of every strategy (bench/culprit_misses.py) before the JSON",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated strategies to run (default: all)"
    )
    args = parser.parse_args(argv)
    cases = make_cases(args.cases, args.seed)
    chances = oracle_chances(cases)
    summary: dict[str, object] = {
        "cases": len(cases),
        # The most `accuracy` a strategy can expect with the case budget (10 runs per push).
        "accuracy_ceiling": accuracy_ceiling(cases, chances),
        "strategies": {},
    }
    chosen = [name for name in args.only.split(",") if name] or list(STRATEGIES)
    for name in chosen:
        judged = Judged()
        outcomes = [STRATEGIES[name](case, judged) for case in cases]
        figures = score(cases, outcomes, chances)
        summary["strategies"][name] = figures  # type: ignore[index]
        if args.explain:
            print("\n".join(explain(name, cases, outcomes, judged).lines))
        if not args.json:
            print(f"{name:>10}: {figures}")
    if not args.json:
        decidable = sum(case.decidable for case in cases)
        at_confidence = sum(chance >= 0.5 for chance in chances)
        print(
            f"{decidable} of {len(cases)} cases decidable within the budget;"
            f" {at_confidence} at the answer's confidence (bench/culprit_oracle.py);"
            f" accuracy ceiling {summary['accuracy_ceiling']}"
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
