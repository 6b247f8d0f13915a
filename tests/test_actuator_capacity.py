"""The actuator admits every action that schedules tasks within [capacity]: a daily quota
per pool or platform and a saturated pool defer the action (kept pending, not an attempt,
said once on the timeline, performed once room comes back, never twice), an excluded pool
refuses it, and an action deferred too long ends its request saying so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from store.pulse_builder import GROUP, slug

from mozci_monitor.actuator import Actuator
from mozci_monitor.capacity_gate import CapacityGate, GateSettings
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.capacity import CapacityPolicy
from mozci_monitor.core.model import Phase, Push, Run, RunState, TaskRecord, TaskStatus
from mozci_monitor.ports.store import OutboxEntry
from mozci_monitor.sources import TransientError
from mozci_monitor.store.sqlite import SqliteStore

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"
POOL = "gecko-t/t-linux-xlarge"
SCARCE = "proj-autophone/gecko-t-bitbar-gw-perf-a51"
LABEL = "test-linux1804-64/opt-mochitest-1"
DAY1 = "2026-11-22T12:00:00.000Z"
DAY2 = "2026-11-23T00:00:01.000Z"


class Queue:
    """Reruns tasks (recording them) and counts a pool's pending tasks."""

    def __init__(self, pending: int = 0) -> None:
        self.pending = pending
        self.pending_reads = 0
        self.reruns: list[str] = []

    async def task(self, task_id: str) -> dict[str, Any]:
        return {}  # no decision task routes: the repository check lets it through

    async def pending_tasks(self, task_queue_id: str) -> int:
        self.pending_reads += 1
        if self.pending < 0:
            raise TransientError("queue down", source="taskcluster")
        return self.pending

    async def rerun_task(self, task_id: str) -> TaskStatus:
        self.reruns.append(task_id)
        runs = (
            Run(0, RunState.EXCEPTION, "scheduled", "internal-error"),
            Run(1, RunState.PENDING, "rerun"),
        )
        return TaskStatus(task_id, GROUP, "pending", 0, runs)


class Rig:
    def __init__(self, tmp_path: Path, policy: CapacityPolicy, queue: Queue) -> None:
        self.store = SqliteStore(tmp_path / "state.sqlite3")
        self.queue = queue
        self.now = DAY1
        self.abandoned: list[str] = []
        self.deferred: list[str] = []
        gate = CapacityGate(
            GateSettings(policy, max_deferral=6 * 3600, pending_refresh=0.0),
            in_store=self.in_store,
            store=self.store,
            pending=queue,
            owner="local",  # the actuator's default name in claims
        )
        self.actuator = Actuator(
            in_store=self.in_store,
            store=self.store,
            taskcluster=queue,  # type: ignore[arg-type]
            render=lambda *a, **k: None,  # type: ignore[arg-type,return-value]
            sinks=(),
            on_permanent_failure=self.on_abandoned,
            now=lambda: self.now,
            capacity=gate,
            on_deferred=self.on_deferred,
        )

    async def in_store(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def on_abandoned(self, action: Action, error: str) -> None:
        self.abandoned.append(f"{action.key}: {error}")

    async def on_deferred(self, action: Action, reason: str) -> None:
        self.deferred.append(f"{action.key}: {reason}")

    def rerun(self, n: int, pool: str = POOL) -> str:
        """A known task (its status names its pool) and a rerun of it in the outbox."""
        provisioner, worker_type = pool.split("/")
        status = TaskStatus(
            slug(n),
            GROUP,
            "exception",
            0,
            (Run(0, RunState.EXCEPTION, "scheduled"),),
            provisioner_id=provisioner,
            worker_type=worker_type,
        )
        key = f"rerun-{n}"
        with self.store.transaction():
            self.store.save_task(
                TaskRecord(slug(n), GROUP, LABEL, status, Phase.EXCEPTION), self.now
            )
            self.store.add_action(
                Action(
                    key,
                    ActionKind.RERUN,
                    Push("autoland", REVISION, GROUP),
                    task_id=slug(n),
                    details={"runs": 1},
                ),
                self.now,
            )
        return key

    def pending(self, key: str) -> OutboxEntry | None:
        return {e.key: e for e in self.store.pending_actions(limit=1000)}.get(key)


async def test_a_daily_pool_quota_defers_the_rest_until_the_next_day(tmp_path: Path) -> None:
    rig = Rig(tmp_path, CapacityPolicy(daily_quota={POOL: 2}), Queue())
    keys = [rig.rerun(n) for n in (1, 2, 3)]
    assert await rig.actuator.drain() is True  # the third waits: retried later
    assert rig.queue.reruns == [slug(1), slug(2)]
    waiting = rig.pending(keys[2])
    assert waiting is not None and waiting.state == "pending"
    assert waiting.attempts == 0 and waiting.started_at is None  # not tried, not in doubt
    assert (
        waiting.last_error
        == f"deferred: daily quota of worker pool {POOL}: 2 of 2 tasks used today"
    )
    assert rig.deferred == [f"rerun-3: daily quota of worker pool {POOL}: 2 of 2 tasks used today"]

    assert await rig.actuator.drain() is True  # still today: still waiting, said once
    assert len(rig.deferred) == 1 and rig.queue.reruns == [slug(1), slug(2)]

    rig.now = DAY2  # a new UTC day: the quota is whole again
    assert await rig.actuator.drain() is False
    assert rig.queue.reruns == [slug(1), slug(2), slug(3)]  # each once
    assert rig.abandoned == []


async def test_a_platform_quota_counts_every_pool_of_the_platform(tmp_path: Path) -> None:
    rig = Rig(tmp_path, CapacityPolicy(daily_quota={"linux1804-64": 1}), Queue())
    rig.rerun(1)
    rig.rerun(2, pool="gecko-t/t-linux-large")
    assert await rig.actuator.drain() is True
    assert rig.queue.reruns == [slug(1)]
    assert rig.deferred == [
        "rerun-2: daily quota of platform linux1804-64: 1 of 1 tasks used today"
    ]


async def test_a_saturated_pool_defers_until_its_queue_drains(tmp_path: Path) -> None:
    queue = Queue(pending=600)
    rig = Rig(tmp_path, CapacityPolicy(max_pending=500), queue)
    rig.rerun(1)
    assert await rig.actuator.drain() is True
    assert queue.reruns == []
    assert rig.deferred == [
        f"rerun-1: worker pool {POOL} has 600 pending tasks (limit 500): deferred"
    ]
    queue.pending = 20
    assert await rig.actuator.drain() is False
    assert queue.reruns == [slug(1)]


async def test_an_unreadable_pending_count_leaves_the_quotas_alone_in_charge(
    tmp_path: Path,
) -> None:
    queue = Queue(pending=-1)  # the queue answers 5xx
    rig = Rig(tmp_path, CapacityPolicy(max_pending=500), queue)
    rig.rerun(1)
    assert await rig.actuator.drain() is False
    assert queue.reruns == [slug(1)] and queue.pending_reads == 1


async def test_an_excluded_pool_is_refused_with_the_reason(tmp_path: Path) -> None:
    rig = Rig(tmp_path, CapacityPolicy(excluded_pools=frozenset({SCARCE})), Queue())
    rig.rerun(1, pool=SCARCE)
    assert await rig.actuator.drain() is False
    assert rig.queue.reruns == []
    assert rig.abandoned == [
        f"rerun-1: refused: worker pool {SCARCE} is excluded (scarce hardware)"
    ]


async def test_no_action_waits_forever(tmp_path: Path) -> None:
    queue = Queue(pending=600)
    rig = Rig(tmp_path, CapacityPolicy(max_pending=500), queue)
    rig.rerun(1)
    assert await rig.actuator.drain() is True
    rig.now = "2026-11-22T18:00:00.000Z"  # six hours after it was decided
    assert await rig.actuator.drain() is False
    assert queue.reruns == []
    assert len(rig.abandoned) == 1
    assert rig.abandoned[0].startswith(
        "rerun-1: deferred too long: waited 6.0 h for capacity (capacity.max_deferral 6.0 h);"
        f" last: worker pool {POOL} has 600 pending tasks"
    )


async def test_what_fits_is_granted_the_rest_deferred(tmp_path: Path) -> None:
    """An add-new-jobs of five runs with three left in the pool's quota runs three."""
    rig = Rig(tmp_path, CapacityPolicy(daily_quota={POOL: 3}), Queue())
    rig.rerun(1)  # a task of the label on the push: where its pool is read
    gate = rig.actuator._capacity
    assert gate is not None
    more = Action(
        "more", ActionKind.ADD_NEW_JOBS, Push("autoland", REVISION, GROUP), labels=(LABEL,), times=5
    )
    verdict = await gate.admit(more, day=DAY1[:10])
    assert verdict.action is not None and verdict.action.times == 3
    assert verdict.reason == f"daily quota of worker pool {POOL}: 0 of 3 tasks used today"
    # Reserved until released: a second one finds the quota used.
    again = await gate.admit(
        Action("again", ActionKind.RETRIGGER, more.push, task_id=slug(1)), day=DAY1[:10]
    )
    assert again.action is None and again.reason.endswith("3 of 3 tasks used today")


async def test_an_action_granted_whole_is_located_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where an action's tasks go is a store read (and maybe the full task graph): made
    once to decide, and again only for an action sized down (fewer tasks to reserve)."""
    rig = Rig(tmp_path, CapacityPolicy(daily_quota={POOL: 5}), Queue())
    located: list[str] = []
    locate = rig.store.tasks_of_action

    def counted(action: Action) -> Any:
        located.append(action.key)
        return locate(action)

    monkeypatch.setattr(rig.store, "tasks_of_action", counted)
    rig.rerun(1)
    assert await rig.actuator.drain() is False
    assert located == ["rerun-1"]


async def test_an_action_sized_down_is_recorded_before_it_is_scheduled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrigger of five with two left in the quota schedules two; the outbox says so
    before the trigger, so the daily budget and the quota count two, not five."""
    rig = Rig(tmp_path, CapacityPolicy(daily_quota={POOL: 3}), Queue())
    rig.rerun(1)
    assert await rig.actuator.drain() is False  # the rerun: one task of the quota's three
    push = Push("autoland", REVISION, GROUP)
    decided = Action(
        "more",
        ActionKind.RETRIGGER,
        push,
        request_id="req-1",
        task_id=slug(1),
        labels=(LABEL,),
        times=5,
    )
    with rig.store.transaction():
        rig.store.add_action(decided, rig.now)
    assert rig.store.count_tasks(repo="autoland", day=DAY1[:10]) == 1 + 5
    seen: list[tuple[int, int]] = []

    async def schedule(action: Action) -> str:
        seen.append((action.times, rig.store.count_tasks(repo="autoland", day=DAY1[:10])))
        return "retriggered"

    monkeypatch.setattr(rig.actuator, "_schedule", schedule)
    await rig.actuator.drain()
    assert seen == [(2, 1 + 2)]  # the rerun's task and the two the retrigger schedules
    (done,) = rig.store.actions_of(request_id="req-1")
    assert (done.action.times, done.action.details.get("sized_from")) == (2, 5)
