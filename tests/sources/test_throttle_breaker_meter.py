"""The building blocks alone: sliding-window throttle, rate meter, circuit breaker."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.sources.breaker import BreakerState, CircuitBreaker
from mozci_monitor.sources.errors import SourceUnavailable
from mozci_monitor.sources.ratemeter import RateMeter
from mozci_monitor.sources.throttle import ClockedThrottler


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=6),
    period=st.sampled_from([0.5, 1.0, 2.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=1.5), min_size=1, max_size=40),
)
def test_throttled_arrivals_never_exceed_the_rate(rate, period, gaps):
    async def scenario():
        clock = _Clock()
        throttler = ClockedThrottler(rate, period, clock=clock, sleep=clock.sleep)
        meter = RateMeter()
        for gap in gaps:
            clock.now += gap
            await throttler.acquire()
            meter.record(clock())
        assert meter.total == len(gaps)
        assert meter.max_in_window(period) <= rate

    asyncio.run(scenario())


def test_rate_meter_counts_the_busiest_window():
    meter = RateMeter()
    for t in (1.0, 0.0, 0.1, 0.2, 0.95, 1.3, 5.0):  # any order
        meter.record(t)
    # The window is closed, like the throttle's: 0.0 and 1.0 are both within 1 s.
    assert meter.max_in_window(1.0) == 5
    assert meter.max_in_window(0.2) == 3  # 0.0, 0.1, 0.2
    assert meter.max_rate(0.2) == pytest.approx(15.0)
    assert meter.total == 7


def test_breaker_counts_only_consecutive_failures():
    clock = _Clock()
    breaker = CircuitBreaker("queue", threshold=3, cooldown=10.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.open_until == 10.0
    with pytest.raises(SourceUnavailable):
        breaker.before_call()
    clock.now = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the probe
    breaker.release_probe()  # cancelled without verdict: the next caller probes
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.open_until is None


def test_breaker_threshold_must_be_positive():
    with pytest.raises(ValueError):
        CircuitBreaker("x", threshold=0, cooldown=1.0, clock=lambda: 0.0)
