"""Simulated time: a virtual clock in CI seconds and a stable, ordered event queue."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Simulated time zero. Fixed (not "now") so that every run of a seed is identical.
EPOCH = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def iso(seconds: float) -> str:
    """Taskcluster's JSON date format (millisecond precision, `Z`) for a virtual time."""
    moment = EPOCH + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unix(seconds: float) -> int:
    """Unix timestamp (whole seconds) for a virtual time, as hg and Treeherder report."""
    return int((EPOCH + timedelta(seconds=seconds)).timestamp())


@dataclass(order=True)
class _Entry:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class EventQueue:
    """Callbacks due at virtual times; ties run in insertion order (determinism)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, _Entry(max(when, self.now), next(self._seq), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + delay, action)

    def run_until(self, until: float) -> int:
        """Run every event due at or before `until`, then set the clock to `until`."""
        ran = 0
        while self._heap and self._heap[0].at <= until:
            entry = heapq.heappop(self._heap)
            self.now = entry.at
            entry.action()
            ran += 1
        self.now = max(self.now, until)
        return ran

    def next_time(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
