"""The simulated CI's clock, driven by the test: CI time runs only between go() and pause()."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from mozci_monitor.sim import Simulator

CI_SECONDS_PER_WALL_SECOND = 3600.0  # a push's jobs take about a wall second
TICK = 0.05  # wall seconds between two advances


class SimClock:
    """Advances the simulator by `rate` CI seconds per wall second while it runs.

    `hold()` true pauses CI time without stopping the clock (checked on every tick).
    `tolerate_errors`: an error of the simulator (e.g. publishing to a broker a test has
    stopped) is kept in `errors` and time keeps running; otherwise the clock stops on it.
    """

    def __init__(
        self,
        sim: Simulator,
        *,
        rate: float = CI_SECONDS_PER_WALL_SECOND,
        tolerate_errors: bool = False,
        name: str = "sim-clock",
    ) -> None:
        self.sim = sim
        self.rate = rate
        self.tolerate_errors = tolerate_errors
        self.errors: list[str] = []
        self._hold: Callable[[], bool] = lambda: False
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def go(self, *, rate: float | None = None, hold: Callable[[], bool] | None = None) -> None:
        if rate is not None:
            self.rate = rate
        if hold is not None:
            self._hold = hold
        if self._task is None:
            self._task = asyncio.create_task(self._tick(), name=self._name)

    async def pause(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(TICK)
            now = loop.time()
            if not self._hold():
                try:
                    await self.sim.advance((now - last) * self.rate)
                except Exception as error:
                    if not self.tolerate_errors:
                        raise
                    self.errors.append(repr(error))
            last = now


@contextlib.asynccontextmanager
async def running(clock: SimClock) -> AsyncIterator[None]:
    """CI time runs inside the block."""
    clock.go()
    try:
        yield
    finally:
        await clock.pause()
