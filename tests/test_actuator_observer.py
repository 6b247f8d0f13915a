"""The actuator tells its observer what it did, as typed events (the demo's timeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.actuator import Actuator, ActuatorSettings
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push, Run, RunState, TaskStatus
from mozci_monitor.notify import Notification
from mozci_monitor.observe import (
    ActionAbandoned,
    ActionDone,
    ActionRetrying,
    Event,
    NotificationSent,
)
from mozci_monitor.sources.errors import NotFound, TransientError
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
PUSH = Push("autoland", "a" * 40, "GROUPxxxxxxxxxxxxxxxxx")


class Queue:
    """Reruns answer with the errors queued for them, then succeed."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    async def rerun_task(self, task_id: str) -> TaskStatus:
        if self.errors:
            raise self.errors.pop(0)
        run = Run(1, RunState.PENDING, "rerun")
        return TaskStatus(task_id, PUSH.task_group_id, "pending", 0, (run,))

    async def task(self, task_id: str) -> dict[str, Any]:
        """The push's decision task (its id is the group's), whose routes name the repo."""
        assert task_id == PUSH.task_group_id
        return {
            "routes": [f"index.gecko.v2.{PUSH.repo}.revision.{PUSH.revision}.taskgraph.decision"]
        }

    async def status(self, task_id: str) -> TaskStatus:
        # Asked after a failed attempt (in doubt): the rerun did not happen.
        run = Run(0, RunState.EXCEPTION, "scheduled", "worker-shutdown")
        return TaskStatus(task_id, PUSH.task_group_id, "exception", 0, (run,))

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Taskcluster call {name}")


class Sink:
    name = "recorder"

    async def send(self, notification: Notification) -> None:
        pass


def _actuator(store: SqliteStore, queue: Queue, events: list[Event]) -> Actuator:
    async def in_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def on_permanent_failure(action: Action, error: str) -> None:
        pass

    return Actuator(
        in_store=in_store,
        store=store,
        taskcluster=queue,  # type: ignore[arg-type]
        render=lambda *a, **k: None,
        sinks=[Sink()],
        on_permanent_failure=on_permanent_failure,
        now=lambda: AT,
        settings=ActuatorSettings(max_attempts=3),
        observer=events.append,
    )


def _rerun() -> Action:
    return Action(
        "req-1/rerun/1",
        ActionKind.RERUN,
        PUSH,
        request_id="req-1",
        task_id="task-1",
        why="infrastructure exception",
        details={"runs": 1},
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "state.sqlite3")


async def test_a_retried_action_reports_the_retry_then_the_success(store: SqliteStore) -> None:
    events: list[Event] = []
    actuator = _actuator(store, Queue(TransientError("503", source="taskcluster")), events)
    store.add_action(_rerun(), AT)
    assert await actuator.drain() is True  # retry later
    assert await actuator.drain() is False
    assert events == [
        ActionRetrying("req-1/rerun/1", "rerun", "TransientError: taskcluster: 503", 1),
        ActionDone(
            "req-1/rerun/1", "rerun", "task-1", (), "infrastructure exception", events[1].result
        ),
    ]


async def test_a_given_up_action_reports_it(store: SqliteStore) -> None:
    events: list[Event] = []
    actuator = _actuator(store, Queue(NotFound("no such task", source="taskcluster")), events)
    store.add_action(_rerun(), AT)
    await actuator.drain()
    (event,) = events
    assert isinstance(event, ActionAbandoned)
    assert (event.key, event.kind) == ("req-1/rerun/1", "rerun")
    assert "no such task" in event.error


async def test_a_notification_reports_each_delivering_sink(store: SqliteStore) -> None:
    events: list[Event] = []
    actuator = _actuator(store, Queue(), events)
    store.add_action(Action("campaign:c-1:finished", ActionKind.NOTIFY, PUSH, why="done"), AT)
    assert await actuator.drain() is False
    sent, done = events
    assert isinstance(sent, NotificationSent) and isinstance(done, ActionDone)
    assert (sent.sink, sent.key) == ("recorder", "campaign:c-1:finished")
    assert sent.title
    assert (done.kind, done.why) == ("notify", "done")
