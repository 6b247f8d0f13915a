"""What the best use of a case's budget could achieve under the answer's own rule.

The answer is "the earliest hit, once it is the culprit with probability >= 1 - alpha"
(core.by_signature.culprit_posterior: the failure rate unknown, uniform prior over it and
over the culprit). An oracle that knows *where* the culprit is (not its rate), spends no
run on finding it, and splits the whole budget between the culprit (m runs, showing the
rate) and its parent (the rest, ruling it and every older push out) answers right with
probability `oracle_chance`, at the best split. No sampler that must also find the culprit
does better on average, so:

- `oracle_chance >= 1/2` is what "the data can decide" means at the answer's confidence;
- the mean over cases of `chance + (1 - chance) * (not case.decidable)` bounds the
  benchmark's `accuracy` (its "decidable" rule, kept as issue 15 was measured, assumes the
  rate is known and accepts a 5 % risk: it calls cases decidable that a 99 % answer with
  an unknown rate cannot reach).
"""

from __future__ import annotations

import math

# Below this log-probability an outcome of the m runs is left out (e^-20 ~ 2e-9).
_NEGLIGIBLE = -20.0


def oracle_chance(rate: float, budget: int, culprit: int, alpha: float) -> float:
    """P(the answer's rule names `culprit`) at the best split of `budget` between the
    culprit and its parent. The candidates are pushes 0..culprit; the `culprit` older ones
    all have the parent's passes (and nothing else) against them."""
    # Decided when culprit * B(h+1, m-h+n+1) / B(h+1, m-h+1) <= alpha / (1 - alpha).
    limit = math.log(alpha / (1.0 - alpha) / culprit)
    best = 0.0
    for m in range(1, budget):
        n = budget - m
        chance = 0.0
        for h in range(m + 1):
            log_p = _log_binomial(m, h, rate)
            if log_p < _NEGLIGIBLE:
                continue
            if _log_beta(h + 1, m - h + n + 1) - _log_beta(h + 1, m - h + 1) <= limit:
                chance += math.exp(log_p)
        best = max(best, chance)
        if best > 0.999:
            break
    return best


def _log_binomial(runs: int, hits: int, rate: float) -> float:
    if rate >= 1.0:
        return 0.0 if hits == runs else -math.inf
    log_choose = math.lgamma(runs + 1) - math.lgamma(hits + 1) - math.lgamma(runs - hits + 1)
    return log_choose + hits * math.log(rate) + (runs - hits) * math.log(1.0 - rate)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
