"""The politeness layer every source client goes through.

One `PoliteSource` per source (treeherder, hgmo, taskcluster...) owns:
- a sliding-window throttle (asyncio-throttle) at `rate_limit` per `period`,
- a semaphore bounding concurrent requests,
- a per-attempt timeout,
- retries (tenacity) with exponential backoff and full jitter on transient
  failures, honouring the server's Retry-After when it sends one,
- a circuit breaker that refuses calls at once while the source is down,
- a `RateMeter` counting every request that actually left.

Clients hand `call()` a coroutine factory doing exactly one request and
raising `TransientError` / `NotFound` / `SourceError`; all policy lives here.
The clock and the sleep function are injected so tests run instantly.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TypeVar, cast

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from mozci_monitor.redact import redact_url

from .breaker import BreakerState, CircuitBreaker
from .errors import SourceError, SourceUnavailable, TransientError
from .ratemeter import RateMeter
from .throttle import ClockedThrottler

_log = structlog.get_logger(__name__)

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _package_version() -> str:
    try:
        return metadata.version("mozci-monitor")
    except metadata.PackageNotFoundError:
        from mozci_monitor import __version__

        return __version__


USER_AGENT = f"mozci-monitor/{_package_version()} (+https://github.com/mozilla/mozci-monitor)"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


@dataclass(frozen=True)
class Policy:
    """How hard one source may be hit. Defaults suit a public Mozilla service."""

    rate_limit: int = 10
    period: float = 1.0
    max_concurrency: int = 4
    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # A Retry-After larger than this is clamped: a daemon must not stall for hours.
    retry_after_max: float = 300.0
    timeout: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 60.0


class PoliteSource:
    """Throttle, concurrency bound, retries, breaker and meter for one source."""

    def __init__(
        self,
        name: str,
        policy: Policy | None = None,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        jitter_seed: int | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or Policy()
        self._clock = clock
        self._sleep = sleep
        self.meter = RateMeter()
        self.breaker = CircuitBreaker(
            name,
            threshold=self.policy.breaker_threshold,
            cooldown=self.policy.breaker_cooldown,
            clock=clock,
        )
        self._throttler = ClockedThrottler(
            self.policy.rate_limit, self.policy.period, clock=clock, sleep=sleep
        )
        self._semaphore = asyncio.Semaphore(self.policy.max_concurrency)
        self._random = random.Random(jitter_seed)

    def now(self) -> float:
        return self._clock()

    def max_observed_rate(self) -> int:
        """Most requests seen within any window of the configured period."""
        return self.meter.max_in_window(self.policy.period)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        url: str,
        idempotent: bool = True,
    ) -> T:
        """Run `attempt` (one request) under the policy, retrying transient failures.

        A non-idempotent call (firing a hook) is retried only when the server
        cannot have acted on it: a 429, or a connection that never opened.
        """
        safe_url = redact_url(url)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._should_retry(exc, idempotent)),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: self._log_retry(state, safe_url),
        )
        try:
            return cast(T, await retrying(self._attempt_once, attempt, safe_url))
        except TransientError as exc:
            if self.breaker.state is BreakerState.OPEN:
                raise SourceUnavailable(
                    source=self.name,
                    until=self.breaker.open_until or self.now(),
                    failures=self.breaker.consecutive_failures,
                ) from exc
            raise

    async def _attempt_once(self, attempt: Callable[[], Awaitable[T]], safe_url: str) -> T:
        self.breaker.before_call()
        try:
            async with self._semaphore:
                await self._throttler.acquire()
                self.meter.record(self._clock())
                try:
                    async with asyncio.timeout(self.policy.timeout):
                        result = await attempt()
                except TimeoutError as exc:
                    raise TransientError(
                        f"no answer within {self.policy.timeout}s",
                        source=self.name,
                        url=safe_url,
                    ) from exc
        except TransientError:
            self.breaker.record_failure()
            raise
        except SourceError:
            # An error answer (404, 400...) still proves the source is up.
            self.breaker.record_success()
            raise
        except BaseException:
            self.breaker.release_probe()
            raise
        self.breaker.record_success()
        return result

    def _should_retry(self, exc: BaseException, idempotent: bool) -> bool:
        if not isinstance(exc, TransientError):
            return False
        if self.breaker.state is BreakerState.OPEN:
            return False
        return idempotent or exc.status == 429 or not exc.request_sent

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_max)
        cap = min(
            self.policy.backoff_max,
            self.policy.backoff_base * 2 ** (state.attempt_number - 1),
        )
        # Full jitter (uniform over [0, cap]), from a seedable generator.
        return self._random.uniform(0, cap)

    def _log_retry(self, state: RetryCallState, safe_url: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        _log.warning(
            "retrying request",
            source=self.name,
            url=safe_url,
            attempt=state.attempt_number,
            wait=state.upcoming_sleep,
            error=str(exc),
        )
