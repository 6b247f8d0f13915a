"""The one bounded, polling wait of the tests: no assertion depends on how fast anything ran."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

WITHIN = 40.0  # seconds any one wait may take before the test fails


async def until(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str,
    within: float = WITHIN,
    *,
    interval: float = 0.05,
) -> float:
    """Poll `condition` until it is true; returns the seconds it took.

    Raises AssertionError naming `what` once `within` seconds have passed. The condition
    may be a coroutine function (for checks that must leave the event loop, e.g.
    `lambda: asyncio.to_thread(blocking_check)`).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return loop.time() - started
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(interval)
