"""How many of the tasks a campaign wants may be scheduled now, counted in tasks.

Automated retriggers cost real machines: Treeherder's perf sheriff bot keeps daily caps
per platform, mozci stopped its automatic backfills to spare small pools (mozilla/mozci
issues 1175, 1188). The edges count what was scheduled today per worker pool and per
platform and read the pool's pending count (`queue.pendingTasks`); this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CapacityPolicy:
    """`daily_quota`: tasks per UTC day, keyed by worker pool (`provisioner/worker-type`)
    or platform (`linux1804-64`); a key without a quota is unlimited. `max_pending`: a
    pool with at least this many pending tasks gets nothing more for now.
    `excluded_pools`: scarce hardware the monitor never schedules on."""

    daily_quota: Mapping[str, int] = field(default_factory=dict)
    max_pending: int | None = None
    excluded_pools: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Admission:
    granted: int
    deferred: int
    reason: str = ""
    excluded: bool = False  # refused for good: waiting will not make room

    @property
    def refused(self) -> bool:
        """Nothing may run now (the work waits; the campaign says why)."""
        return self.granted == 0 and self.deferred > 0


def admit(
    policy: CapacityPolicy,
    *,
    wanted: int,
    pool: str,
    platform: str,
    used_today: Mapping[str, int],
    pending: int | None = None,
) -> Admission:
    """Tasks granted out of `wanted` on `pool`, the rest deferred with the reason.
    `used_today`: tasks scheduled today per pool and platform; `pending`: the pool's
    pending count, None when it could not be read (then only quotas apply)."""
    if wanted <= 0:
        return Admission(0, 0)
    if pool in policy.excluded_pools:
        return Admission(
            0, wanted, f"worker pool {pool} is excluded (scarce hardware)", excluded=True
        )
    if policy.max_pending is not None and pending is not None and pending >= policy.max_pending:
        return Admission(
            0,
            wanted,
            f"worker pool {pool} has {pending} pending tasks"
            f" (limit {policy.max_pending}): deferred",
        )
    granted, reason = wanted, ""
    for kind, key in (("worker pool", pool), ("platform", platform)):
        quota = policy.daily_quota.get(key)
        if quota is None:
            continue
        used = used_today.get(key, 0)
        left = max(0, quota - used)
        if left < granted:
            granted = left
            reason = f"daily quota of {kind} {key}: {used} of {quota} tasks used today"
    return Admission(granted, wanted - granted, reason)


def platform_of(label: str) -> str:
    """The platform of a task label: `test-linux1804-64/opt-mochitest-1` → `linux1804-64`;
    a label without a kind prefix or a slash is its own platform."""
    head = label.split("/", 1)[0]
    kind, _, platform = head.partition("-")
    return platform if platform and kind in {"test", "build", "source"} else head


def pool_of(definition: Mapping[str, Any]) -> str | None:
    """A task's worker pool from its definition or status (`taskQueueId`, else
    `provisionerId/workerType`); None when it names none."""
    queue = definition.get("taskQueueId")
    if isinstance(queue, str) and "/" in queue:
        return queue
    provisioner, worker_type = definition.get("provisionerId"), definition.get("workerType")
    if not (isinstance(provisioner, str) and isinstance(worker_type, str)):
        return None
    return f"{provisioner}/{worker_type}" if provisioner and worker_type else None
