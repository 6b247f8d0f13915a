"""Analyse a range of revisions concurrently, logging in descending push-ID order.

All analyses start at once (the sources' throttles keep the real request rate
polite); each push's outcome is handed to `log` only when it and every push
with a higher ID are done, so the log reads newest-first without gaps while
work still completes in whatever order the network allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class HasPushId(Protocol):
    @property
    def id(self) -> int: ...


P = TypeVar("P", bound=HasPushId)
S = TypeVar("S")


@dataclass(frozen=True)
class Outcome(Generic[P, S]):
    """One push's analysis: its summary, or the error that stopped it."""

    push: P
    summary: S | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def analyse_revisions(
    pushes: Iterable[P],
    analyse_one: Callable[[P], Awaitable[S]],
    *,
    log: Callable[[Outcome[P, S]], None],
    max_concurrency: int | None = None,
) -> list[Outcome[P, S]]:
    """Run `analyse_one` on every push; return the outcomes newest (highest ID) first.

    An analysis that raises does not stop the others: its outcome carries the
    error. `log` is called synchronously, exactly once per push, in descending
    push-ID order, as early as that order allows. Cancelling the call cancels
    every analysis still running.
    """
    ordered = sorted(pushes, key=lambda push: push.id, reverse=True)
    if len({push.id for push in ordered}) != len(ordered):
        raise ValueError("pushes must have distinct IDs")
    limiter = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    finished: dict[int, Outcome[P, S]] = {}
    emitted: list[Outcome[P, S]] = []

    def emit_ready() -> None:
        # No await in here: emission is atomic, so lines can never interleave.
        while len(emitted) < len(ordered) and len(emitted) in finished:
            outcome = finished.pop(len(emitted))
            emitted.append(outcome)
            log(outcome)

    async def run(position: int, push: P) -> None:
        try:
            if limiter is None:
                summary = await analyse_one(push)
            else:
                async with limiter:
                    summary = await analyse_one(push)
            finished[position] = Outcome(push, summary=summary)
        except Exception as exc:
            finished[position] = Outcome(push, error=exc)
        emit_ready()

    async with asyncio.TaskGroup() as group:
        for position, push in enumerate(ordered):
            group.create_task(run(position, push))
    return emitted
