"""Counts the requests sent to one source, to prove its rate limit held.

Every attempt that leaves (retries included) is recorded with the injected
clock's time. `max_in_window(period)` is the largest number of requests that
fell within any closed interval of `period` seconds: a benchmark compares it
with the source's configured `rate_limit`.
"""

from __future__ import annotations

from collections import deque


class RateMeter:
    def __init__(self, *, keep: int = 100_000) -> None:
        # Bounded so a daemon running for weeks does not grow without limit;
        # the oldest timestamps fall off first.
        self._times: deque[float] = deque(maxlen=keep)
        self.total = 0

    def record(self, when: float) -> None:
        self._times.append(when)
        self.total += 1

    def max_in_window(self, period: float) -> int:
        """Largest count of recorded requests within any `period`-second window."""
        times = sorted(self._times)
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] > period:
                start += 1
            best = max(best, end - start + 1)
        return best

    def max_rate(self, period: float) -> float:
        """`max_in_window` as requests per second."""
        return self.max_in_window(period) / period if period > 0 else 0.0
