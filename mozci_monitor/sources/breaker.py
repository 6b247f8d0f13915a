"""A circuit breaker per source, driven by an injected clock.

Closed: calls go through, consecutive failures are counted. After
`threshold` consecutive failures it opens: calls are refused at once with
`SourceUnavailable` until `cooldown` seconds have passed. Then it is half-open:
exactly one probe call is let through; its success closes the breaker, its
failure opens it again for another cool-down.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import structlog

from .errors import SourceUnavailable

_log = structlog.get_logger(__name__)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        source: str,
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float],
    ) -> None:
        if threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        self.source = source
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_until: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_until is None:
            return BreakerState.CLOSED
        if self._clock() < self._opened_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def open_until(self) -> float | None:
        """When the current (or last) opening ends; None while closed."""
        return self._opened_until

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        """Raise `SourceUnavailable` unless a call may go out now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        assert self._opened_until is not None
        if state is BreakerState.OPEN or self._probe_in_flight:
            # While the probe is out, everyone else still waits for its verdict.
            raise SourceUnavailable(
                source=self.source,
                until=self._opened_until,
                failures=self._failures,
                probing=state is BreakerState.HALF_OPEN,
            )
        self._probe_in_flight = True
        _log.info("breaker half-open, probing", source=self.source)

    def record_success(self) -> None:
        if self._opened_until is not None:
            _log.info("breaker closed", source=self.source)
        self._failures = 0
        self._opened_until = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        half_open_probe_failed = self._probe_in_flight
        self._probe_in_flight = False
        if half_open_probe_failed or self._failures >= self.threshold:
            self._opened_until = self._clock() + self.cooldown
            _log.warning(
                "breaker open",
                source=self.source,
                failures=self._failures,
                cooldown=self.cooldown,
            )

    def release_probe(self) -> None:
        """Forget an in-flight probe that ended without a verdict (e.g. cancelled)."""
        self._probe_in_flight = False
