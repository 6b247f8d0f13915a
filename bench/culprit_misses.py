"""Why a strategy of bench/culprits.py missed a case: every miss in one class.

A miss is a wrong culprit, or a "cannot tell" on a case the budget can decide (see
`culprits.Case.decidable`). The classes say where to look:

  off by one          the answer is the push right after the culprit (its parent was
                      taken for clean, or the culprit's own runs all passed)
  later               a wrong culprit further after the culprit
  earlier             a wrong culprit before the culprit: the signature was hit where the
                      test cannot fail (a misjudged run, or the judge matched another test)
  undecided at culprit   cannot tell, the earliest hit on the culprit: ruling its parent
                      out did not fit in what was left
  undecided after culprit   cannot tell, no hit seen on the culprit yet
  cannot tell         cannot tell, by a strategy that does not count per push (job-level)
  signature not seen  cannot tell, the signature was never hit in the range
  oldest push hit     cannot tell, a hit on the oldest push (impossible: culprits are >= 1)

Besides the misses, every run's verdict is checked against what the simulator planted:
a run where the test failed judged as passed or as missing ("missing data handled as
pass"), or one judged a hit where it did not fail, is counted by `Judged`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from mozci_monitor.core.by_signature import PushCounts


class Miss(StrEnum):
    OFF_BY_ONE = "off by one"
    LATER = "later"
    EARLIER = "earlier"
    UNDECIDED_AT_CULPRIT = "undecided at culprit"
    UNDECIDED_AFTER_CULPRIT = "undecided after culprit"
    UNDECIDED = "cannot tell"
    NEVER_HIT = "signature not seen"
    OLDEST_HIT = "oldest push hit"


@dataclass
class Judged:
    """Runs judged against what the simulator planted in them."""

    runs: int = 0
    # The planted test failed, the judge said it passed or said nothing.
    failed_judged_pass: int = 0
    failed_judged_missing: int = 0
    # The planted test did not fail, the judge said it hit.
    passed_judged_hit: int = 0
    missing: int = 0

    @property
    def misjudged(self) -> int:
        return self.failed_judged_pass + self.failed_judged_missing + self.passed_judged_hit


class CaseLike(Protocol):
    @property
    def culprit(self) -> int: ...
    @property
    def rate(self) -> float: ...
    @property
    def decidable(self) -> bool: ...


class OutcomeLike(Protocol):
    @property
    def culprit(self) -> int | None: ...
    @property
    def tasks(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def counts(self) -> tuple[PushCounts, ...]: ...


def classify(case: CaseLike, outcome: OutcomeLike) -> Miss | None:
    """The miss's class, or None when the case counts as right."""
    if outcome.culprit is not None:
        if outcome.culprit == case.culprit:
            return None
        if outcome.culprit == case.culprit + 1:
            return Miss.OFF_BY_ONE
        return Miss.LATER if outcome.culprit > case.culprit else Miss.EARLIER
    if not case.decidable:
        return None  # an honest "cannot tell"
    if not outcome.counts:
        return Miss.UNDECIDED
    earliest = next((i for i, c in enumerate(outcome.counts) if c.hits), None)
    if earliest is None:
        return Miss.NEVER_HIT
    if earliest == 0:
        return Miss.OLDEST_HIT
    if earliest == case.culprit:
        return Miss.UNDECIDED_AT_CULPRIT
    return Miss.UNDECIDED_AFTER_CULPRIT


@dataclass
class Explanation:
    misses: Counter[Miss] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)


def _rate_band(rate: float) -> str:
    low = min(int(rate * 10), 9) * 10
    return f"{low}-{low + 10}%"


def _runs_shown(counts: Sequence[PushCounts], culprit: int) -> str:
    """Hits/runs at the culprit's parent, at the culprit, and from the culprit on."""
    if not counts:
        return "judged by job colour"
    parent, at, after = counts[culprit - 1], counts[culprit], counts[culprit:]
    return (
        f"parent {parent.hits}/{parent.passes + parent.hits}"
        f" culprit {at.hits}/{at.passes + at.hits}"
        f" from culprit on {sum(c.hits for c in after)}/"
        f"{sum(c.hits + c.passes for c in after)} (hits/runs)"
    )


def explain(
    name: str, cases: Sequence[CaseLike], outcomes: Sequence[OutcomeLike], judged: Judged
) -> Explanation:
    """Every miss of one strategy, with its class, its case and what the runs showed."""
    found = Explanation()
    by_band: Counter[tuple[Miss, str]] = Counter()
    for index, (case, outcome) in enumerate(zip(cases, outcomes, strict=True)):
        miss = classify(case, outcome)
        if miss is None:
            continue
        found.misses[miss] += 1
        by_band[(miss, _rate_band(case.rate))] += 1
        found.lines.append(
            f"  case {index:>3}: {miss.value:<24} rate {case.rate:5.1%}"
            f" culprit {case.culprit:>2} answer {outcome.culprit!s:>4}"
            f" | {_runs_shown(outcome.counts, case.culprit)}"
            f" tasks {outcome.tasks} | {outcome.reason}"
        )
    head = [
        f"{name}: {sum(found.misses.values())} misses of {len(cases)}"
        + "".join(f"; {miss.value} {count}" for miss, count in sorted(found.misses.items())),
        f"  runs judged {judged.runs}: failed judged pass {judged.failed_judged_pass},"
        f" failed judged missing {judged.failed_judged_missing},"
        f" not failed judged hit {judged.passed_judged_hit}, missing {judged.missing}",
    ]
    bands = sorted(by_band.items(), key=lambda item: (item[0][0].value, item[0][1]))
    if bands:
        head.append(
            "  by failure rate: "
            + ", ".join(f"{miss.value} {band}: {count}" for (miss, band), count in bands)
        )
    found.lines = head + found.lines
    return found
