"""The outbox loop stops when cancelled, even right after a wake-up.

Regression: on Python 3.11, `asyncio.wait_for` returns the result instead of raising when
the task is cancelled just as the awaited thing finishes (CPython gh-86296). The actuator
waited for its wake-up that way, so a shutdown that cancelled it right after a wake-up was
swallowed, the loop went on, and the daemon's shutdown waited for it for ever (a SIGTERM
that ended in SIGKILL). Everything here runs on the event loop alone (no threads, no I/O,
no timers that can fire: idle is an hour), so each interleaving is exactly reproducible.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mozci_monitor.actuator import Actuator
from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import Campaign

REPEATS = 100
LOOP_TURNS_TO_SETTLE = 50  # far more turns than the loop needs to react to anything


class EmptyOutbox:
    """An outbox with nothing to do; counts the drains so the test sees the loop run."""

    def __init__(self) -> None:
        self.claims = 0

    def claim_actions(self, owner: str, *, lease_seconds: float, limit: int = 100) -> list[Any]:
        self.claims += 1
        return []

    def release_actions(self, owner: str) -> int:
        return 0

    def mark_action_started(self, key: str, at: str, *, owner: str | None = None) -> bool:
        raise AssertionError("nothing to start")

    def mark_action_done(self, key: str, at: str, result: str, *, owner: str | None = None) -> bool:
        raise AssertionError("nothing to finish")

    def mark_action_failed(
        self, key: str, at: str, error: str, *, final: bool, owner: str | None = None
    ) -> bool:
        raise AssertionError("nothing to fail")

    def count_done_like(self, action: Action) -> int:
        return 0

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return None


async def run_inline(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The store called on the loop itself: no thread, so no timing."""
    return fn(*args, **kwargs)


async def never_fails(action: Action, error: str) -> None:
    raise AssertionError(f"no action to abandon: {action} {error}")


def make_actuator(outbox: EmptyOutbox) -> Actuator:
    return Actuator(
        in_store=run_inline,
        store=outbox,
        taskcluster=object(),  # type: ignore[arg-type]  # never called: the outbox is empty
        render=object(),  # type: ignore[arg-type]
        sinks=(),
        on_permanent_failure=never_fails,
        now=lambda: "2026-12-01T00:00:00.000Z",
    )


async def loop_turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("turns_between", [0, 1, 2, 3, 4])
async def test_a_cancel_right_after_a_wake_up_stops_the_loop(turns_between: int) -> None:
    """wake() then cancel(), with 0..4 loop turns in between: every one of the windows
    where 3.11's wait_for swallowed the cancellation, and those just after."""
    for attempt in range(REPEATS):
        outbox = EmptyOutbox()
        actuator = make_actuator(outbox)
        loop_task = asyncio.create_task(actuator.run(idle=3600.0))
        await loop_turns(LOOP_TURNS_TO_SETTLE)  # now waiting for a wake-up
        assert outbox.claims == 0

        actuator.wake()
        await loop_turns(turns_between)
        loop_task.cancel()
        await loop_turns(LOOP_TURNS_TO_SETTLE)

        assert loop_task.done(), f"attempt {attempt}: the loop swallowed its cancellation"
        assert loop_task.cancelled()


async def test_the_loop_drains_on_each_wake_up_until_cancelled() -> None:
    """The same loop, not cancelled, does its work: the test above is not vacuous."""
    outbox = EmptyOutbox()
    actuator = make_actuator(outbox)
    loop_task = asyncio.create_task(actuator.run(idle=3600.0))
    await loop_turns(LOOP_TURNS_TO_SETTLE)
    for expected in (1, 2, 3):
        actuator.wake()
        await loop_turns(LOOP_TURNS_TO_SETTLE)
        assert outbox.claims == expected
        assert not loop_task.done()
    loop_task.cancel()
    await loop_turns(LOOP_TURNS_TO_SETTLE)
    assert loop_task.cancelled()
