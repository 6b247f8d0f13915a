"""Several Actuators over one PostgreSQL outbox, each working only on what it claimed.

In-process and fast: three actuators (each with its own connection and store thread, like
three daemons) drain one outbox at the same time; a fake Taskcluster and a recording sink
count what reached the outside world. And the crash case: an instance that claimed an
entry, performed it and died before marking it done; the instance taking it over after
the lease finds it in doubt and confirms instead of acting twice.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from mozci_monitor.actuator import Actuator, ActuatorSettings
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push
from mozci_monitor.notify import Notification
from mozci_monitor.sources.models import TaskRun, TaskStatus
from mozci_monitor.store.postgres import PostgresStore

T = TypeVar("T")
AT = "2026-11-22T12:00:00.000Z"
PUSH = Push("autoland", "a" * 40, "GROUPxxxxxxxxxxxxxxxxx")


class FakeQueue:
    """The part of Taskcluster the actuator calls for reruns; counts them per task."""

    def __init__(self) -> None:
        self.reruns: dict[str, int] = {}

    def _status(self, task_id: str) -> TaskStatus:
        runs = 1 + self.reruns.get(task_id, 0)
        return TaskStatus(
            task_id=task_id,
            task_group_id=PUSH.task_group_id,
            state="pending" if runs > 1 else "exception",
            retries_left=0,
            runs=tuple(
                TaskRun(run_id=n, state="exception", reason_created="scheduled")
                for n in range(runs)
            ),
        )

    async def rerun_task(self, task_id: str) -> TaskStatus:
        await asyncio.sleep(0)  # let the other instances run in between
        self.reruns[task_id] = self.reruns.get(task_id, 0) + 1
        return self._status(task_id)

    async def status(self, task_id: str) -> TaskStatus:
        return self._status(task_id)

    async def task(self, task_id: str) -> dict[str, Any]:
        """The push's decision task (its id is the group's), whose routes name the repo."""
        assert task_id == PUSH.task_group_id
        route = f"index.gecko.v2.{PUSH.repo}.revision.{PUSH.revision}.taskgraph.decision"
        return {"routes": [route]}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Taskcluster call {name}")


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, notification: Notification) -> None:
        await asyncio.sleep(0)
        self.sent.append(notification.key)


class Instance:
    """One daemon's worth: a connection, its store thread, an actuator owning claims."""

    def __init__(
        self, dsn: str, owner: str, queue: FakeQueue, sink: Recorder, lease: float = 300.0
    ) -> None:
        self.store = PostgresStore(dsn)
        self.owner, self.lease = owner, lease
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.actuator = Actuator(
            in_store=self.in_store,
            store=self.store,
            taskcluster=queue,  # type: ignore[arg-type]
            render=_no_render,
            sinks=[sink],
            on_permanent_failure=_no_failure,
            now=lambda: AT,
            settings=ActuatorSettings(batch=4, owner=owner, lease_seconds=lease),
        )

    async def in_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.store.close()


def _no_render(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("no in-tree action in these tests")


async def _no_failure(action: Action, error: str) -> None:
    raise AssertionError(f"{action.key} abandoned: {error}")


def _rerun(n: int) -> Action:
    return Action(
        f"req-{n}/rerun/1",
        ActionKind.RERUN,
        PUSH,
        request_id=f"req-{n}",
        task_id=f"task-{n:03d}",
        why="infrastructure exception",
        details={"runs": 1},
    )


def _notify(n: int) -> Action:
    return Action(f"campaign:c-{n}:finished", ActionKind.NOTIFY, PUSH, why="finished")


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def sink() -> Recorder:
    return Recorder()


@pytest.fixture
def instances(pg_dsn: str, queue: FakeQueue, sink: Recorder) -> Iterator[list[Instance]]:
    made = [Instance(pg_dsn, f"d{n}", queue, sink) for n in range(3)]
    yield made
    for instance in made:
        instance.close()


async def test_three_actuators_perform_every_entry_once(
    instances: list[Instance], queue: FakeQueue, sink: Recorder
) -> None:
    store = instances[0].store
    with store.transaction():
        for n in range(40):
            store.add_action(_rerun(n), AT)
        for n in range(10):
            store.add_action(_notify(n), AT)

    async def until_empty(instance: Instance) -> None:
        while await instance.actuator.drain() or await instance.in_store(
            instance.store.claim_actions, instance.owner, lease_seconds=instance.lease, limit=1
        ):
            pass

    await asyncio.gather(*(until_empty(instance) for instance in instances))

    assert queue.reruns == {f"task-{n:03d}": 1 for n in range(40)}
    assert sorted(sink.sent) == sorted(f"campaign:c-{n}:finished" for n in range(10))
    assert store.pending_actions() == []
    performed = [sum(i.actuator.performed.values()) for i in instances]
    assert sum(performed) == 50


async def test_an_entry_left_in_doubt_by_a_dead_instance_is_confirmed_not_redone(
    pg_dsn: str, queue: FakeQueue, sink: Recorder
) -> None:
    action = _rerun(1)
    dead = PostgresStore(pg_dsn)
    try:
        dead.add_action(action, AT)
        # The dead instance: claimed (its lease has run out since), started, performed...
        dead.claim_actions("dead", lease_seconds=0.0)
        assert dead.mark_action_started(action.key, AT, owner="dead")
        await queue.rerun_task("task-001")
        # ... and died before marking it done.
        survivor = Instance(pg_dsn, "alive", queue, sink)
        try:
            assert await survivor.actuator.drain() is False
        finally:
            survivor.close()
        (entry,) = dead.actions_of(request_id="req-1")
        assert queue.reruns == {"task-001": 1}
        assert entry.state == "done" and entry.attempts == 2
        assert entry.result is not None and entry.result.startswith("already performed")
        assert dead.claim_of(action.key)[0] == "alive"
        # The dead one, were it only paused, is fenced off its old claim.
        assert dead.mark_action_started(action.key, AT, owner="dead") is False
    finally:
        dead.close()
