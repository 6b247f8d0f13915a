"""The answers sheriff campaigns compute: last good / first bad, failure rates, change points.

Pure functions over plain data, so each answer can be checked as a table: what a push's
runs say about a label, where a regression starts, how sure we are of a failure rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Z_95 = 1.959963984540054
MIN_FAILURES = 2  # one failing run is an anecdote, not a rate


class Verdict(StrEnum):
    PASSED = "passed"  # at least one green run
    FAILED = "failed"  # runs ended, none green, at least one orange
    NOT_RUN = "not-run"  # no task of the label on the push
    UNKNOWN = "unknown"  # runs still open, or only exceptions/coalesced
    SKIPPED = "skipped"  # the push cannot be analysed (no decision task, ...)


def verdict_of(green: int, orange: int, open_runs: int, tasks: int) -> Verdict:
    if green:
        return Verdict.PASSED
    if tasks == 0:
        return Verdict.NOT_RUN
    if open_runs:
        return Verdict.UNKNOWN
    return Verdict.FAILED if orange else Verdict.UNKNOWN


@dataclass(frozen=True, slots=True)
class PushResult:
    """One push of a range, oldest first in the sequences below."""

    push_id: int
    revision: str
    verdict: Verdict
    green: int = 0
    orange: int = 0
    note: str = ""


def plan_backfill(newest_first: Sequence[PushResult]) -> tuple[int | None, list[PushResult]]:
    """Where L last passed, and the pushes after it where L did not run.

    `newest_first` are the pushes before the failing one, newest first. Returns the index
    (in that sequence) of the last good push, or None if L never passed in range, and the
    pushes between it and the failing push that need runs of L.
    """
    last_good: int | None = None
    for index, push in enumerate(newest_first):
        if push.verdict is Verdict.PASSED:
            last_good = index
            break
    window = newest_first if last_good is None else newest_first[:last_good]
    return last_good, [push for push in window if push.verdict is Verdict.NOT_RUN]


def backfill_answer(oldest_first: Sequence[PushResult]) -> dict[str, Any]:
    """Last good and first bad push once every run is in (the failing push last)."""
    last_good: PushResult | None = None
    for push in oldest_first:
        if push.verdict is Verdict.PASSED:
            last_good = push
    after = oldest_first
    if last_good is not None:
        after = oldest_first[oldest_first.index(last_good) + 1 :]
    first_bad = next((p for p in after if p.verdict is Verdict.FAILED), None)
    between = [p for p in after if first_bad is not None and p.push_id < first_bad.push_id]
    answer: dict[str, Any] = {
        "last_good": _describe(last_good),
        "first_bad": _describe(first_bad),
        "unknown_between": [p.revision for p in between if p.verdict is not Verdict.FAILED],
        "pushes": [
            {
                "push_id": p.push_id,
                "revision": p.revision,
                "verdict": p.verdict.value,
                "green": p.green,
                "orange": p.orange,
                **({"note": p.note} if p.note else {}),
            }
            for p in oldest_first
        ],
    }
    if last_good is None:
        answer["summary"] = (
            f"never passed in the {len(oldest_first)} pushes analysed; earliest failure"
            f" {first_bad.revision[:12] if first_bad else 'none'}"
        )
    elif first_bad is None:
        answer["summary"] = f"last good {last_good.revision[:12]}; no failing push after it"
    else:
        answer["summary"] = (
            f"last good {last_good.revision[:12]} (push {last_good.push_id}),"
            f" first bad {first_bad.revision[:12]} (push {first_bad.push_id})"
        )
    return answer


def wilson_interval(failures: int, runs: int, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval of a failure rate (sound for small counts and 0 or 1)."""
    if runs <= 0:
        return (0.0, 1.0)
    rate = failures / runs
    denominator = 1 + z * z / runs
    centre = (rate + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs)) / denominator
    # The bounds are exactly 0 and 1 at the extremes; floating point would miss them.
    low = 0.0 if failures == 0 else max(0.0, centre - half)
    high = 1.0 if failures == runs else min(1.0, centre + half)
    return (low, high)


def change_point(
    oldest_first: Sequence[PushResult], z_threshold: float = Z_95, alpha: float = 0.05
) -> dict[str, Any]:
    """The push where the failure rate rises, if it rises significantly.

    The change point is the split of the range into "before" and "from here on" that best
    explains the runs with one failure rate on each side (maximum likelihood, Bernoulli
    runs); it is the answer when the rate after it is higher than before it at 95%
    confidence — by the pooled two-proportion z-test (z >= 1.96) and by Fisher's exact
    test (one-sided, p < 0.05), which stays right for small counts — and rests on at least
    two failing runs.
    """
    rows = []
    for push in oldest_first:
        runs = push.green + push.orange
        low, high = wilson_interval(push.orange, runs)
        rows.append(
            {
                "push_id": push.push_id,
                "revision": push.revision,
                "runs": runs,
                "failures": push.orange,
                "rate": push.orange / runs if runs else None,
                "interval": [round(low, 4), round(high, 4)],
            }
        )
    best: tuple[float, int] | None = None  # (log-likelihood, split), then (z, split)
    for split in range(1, len(oldest_first)):
        if oldest_first[split].green + oldest_first[split].orange == 0:
            continue  # a push without runs cannot be where anything changed
        before, after = _counts(oldest_first[:split]), _counts(oldest_first[split:])
        if before[1] == 0 or after[1] == 0:
            continue
        likelihood = _log_likelihood(*before) + _log_likelihood(*after)
        if best is None or likelihood > best[0]:
            best = (likelihood, split)
    significant: tuple[float, float, int] | None = None  # (z, p, split)
    if best is not None:
        split = best[1]
        before, after = _counts(oldest_first[:split]), _counts(oldest_first[split:])
        z = _rise(*before, *after)
        p = fisher_greater(*before, *after)
        # The z-test alone overstates a rise of one or two failures; Fisher's exact test
        # (one-sided) is right for small counts. Both must agree.
        if z is not None and z >= z_threshold and p < alpha and after[0] >= MIN_FAILURES:
            significant = (z, p, split)
    answer: dict[str, Any] = {"revisions": rows, "first_worse": None}
    if significant is not None:
        z, p, split = significant
        push = oldest_first[split]
        answer["first_worse"] = {
            "push_id": push.push_id,
            "revision": push.revision,
            "z": round(z, 2),
            "p": round(p, 6),
        }
        answer["summary"] = (
            f"failure rate rises at {push.revision[:12]} (push {push.push_id}),"
            f" z={z:.2f}, p={p:.2g}"
        )
    else:
        answer["summary"] = "no significant rise of the failure rate in the range"
    return answer


def fisher_greater(fail_a: int, runs_a: int, fail_b: int, runs_b: int) -> float:
    """One-sided Fisher exact p-value that the second rate is higher than the first."""
    total, failures = runs_a + runs_b, fail_a + fail_b
    denominator = math.comb(total, runs_b)
    if denominator == 0:
        return 1.0
    tail = sum(
        math.comb(failures, k) * math.comb(total - failures, runs_b - k)
        for k in range(fail_b, min(failures, runs_b) + 1)
    )
    return tail / denominator


def _counts(pushes: Sequence[PushResult]) -> tuple[int, int]:
    """(failures, runs) over several pushes."""
    return sum(p.orange for p in pushes), sum(p.green + p.orange for p in pushes)


def _log_likelihood(failures: int, runs: int) -> float:
    if runs == 0 or failures in (0, runs):
        return 0.0
    rate = failures / runs
    return failures * math.log(rate) + (runs - failures) * math.log(1 - rate)


def _rise(fail_a: int, runs_a: int, fail_b: int, runs_b: int) -> float | None:
    if runs_a == 0 or runs_b == 0:
        return None
    pooled = (fail_a + fail_b) / (runs_a + runs_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / runs_a + 1 / runs_b))
    if spread == 0:
        return None
    return (fail_b / runs_b - fail_a / runs_a) / spread


def _describe(push: PushResult | None) -> Mapping[str, Any] | None:
    if push is None:
        return None
    return {"push_id": push.push_id, "revision": push.revision}
