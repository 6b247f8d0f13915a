"""asyncio-throttle's sliding-window throttler, on an injected clock and sleep.

The library reads `time.monotonic` and `asyncio.sleep` directly; tests and the
benchmark need a fake clock to check the rate without waiting, so this keeps
the library's window (its `_task_logs` deque and its semantics: at most
`rate_limit` acquisitions whose age is <= `period`) and only swaps the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncio_throttle.throttler import Throttler


class ClockedThrottler(Throttler):
    def __init__(
        self,
        rate_limit: int,
        period: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        if rate_limit < 1 or period <= 0:
            raise ValueError("rate_limit must be >= 1 and period > 0")
        super().__init__(rate_limit=rate_limit, period=period)
        self._clock = clock
        self._sleep = sleep

    def flush(self) -> None:
        now = self._clock()
        while self._task_logs and now - self._task_logs[0] > self.period:
            self._task_logs.popleft()

    async def acquire(self) -> None:
        while True:
            self.flush()
            if len(self._task_logs) < self.rate_limit:
                break
            # Sleep until the oldest entry leaves the window rather than
            # polling every retry_interval: same result, far fewer wake-ups.
            wait = self._task_logs[0] + self.period - self._clock()
            await self._sleep(max(wait, 0.0) + self.retry_interval)
        self._task_logs.append(self._clock())
