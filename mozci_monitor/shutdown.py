"""Stopping asyncio work within a deadline, naming whatever did not stop.

A task may not stop when asked: it swallowed its cancellation (Python 3.11's
`asyncio.wait_for` does so when the awaited thing finishes at the same moment, CPython
gh-86296), it waits on a thread that hangs, or it catches CancelledError by mistake.
Awaiting such a task (`gather`, `wait_for`, `asyncio.timeout`) would wait for ever, and a
systemd stop would end in SIGKILL. `asyncio.wait(..., timeout=...)` never waits past its
timeout and never cancels what it watches, so every step here is built on it: the caller
always gets control back in time, and the log says which task was left behind.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# After a task overran its deadline it is cancelled once more and given this long (at
# most) to go; a second cancellation often ends a task that swallowed the first one.
RECANCEL_WAIT = 0.5


async def stop_within(
    tasks: Iterable[asyncio.Task[Any]],
    within: float,
    *,
    step: str,
    recancel_wait: float | None = None,
) -> list[str]:
    """Wait at most `within` s for `tasks` (already asked to stop) to end.

    Tasks still running then are named in the log, cancelled again and given at most
    `recancel_wait` s more; the names of those that still run are returned (they are left
    behind: nothing here waits for them again). Failures of the tasks are logged, never
    raised: a shutdown goes on whatever one of its parts did.
    """
    watched = [task for task in tasks if task is not asyncio.current_task()]
    if not watched:
        return []
    _, pending = await asyncio.wait(watched, timeout=max(within, 0.0))
    if pending:
        log.error(
            "shutdown: tasks did not stop in time; cancelling them again",
            step=step,
            within=within,
            tasks=sorted(task.get_name() for task in pending),
        )
        for task in pending:
            task.cancel()
        again = RECANCEL_WAIT if recancel_wait is None else recancel_wait
        _, pending = await asyncio.wait(pending, timeout=max(again, 0.0))
    for task in watched:
        if task.done():
            _log_failure(task, step)
    left = sorted(task.get_name() for task in pending)
    if left:
        log.error("shutdown: tasks left behind", step=step, tasks=left)
    return left


class StepOutcome(enum.Enum):
    DONE = "done"  # ended by itself, successfully
    FAILED = "failed"  # ended with an error or a cancellation (logged)
    LEFT = "left"  # still running: left behind


async def run_within(
    work: Callable[[], Coroutine[Any, Any, object]],
    within: float,
    *,
    step: str,
    recancel_wait: float | None = None,
) -> StepOutcome:
    """Run one shutdown step as its own task (named `step`) for at most `within` s, plus
    the re-cancel wait. Its failure is logged, not raised."""
    task = asyncio.create_task(work(), name=step)
    if await stop_within([task], within, step=step, recancel_wait=recancel_wait):
        return StepOutcome.LEFT
    if task.cancelled() or task.exception() is not None:
        return StepOutcome.FAILED
    return StepOutcome.DONE


def _log_failure(task: asyncio.Task[Any], step: str) -> None:
    if task.cancelled():
        return
    error = task.exception()  # retrieved, so asyncio does not report it again at exit
    if error is not None:
        log.error("shutdown: task failed", step=step, task=task.get_name(), error=repr(error))
