"""Trips to the store's thread before an action leaves (issue 17's latency).

Every trip to the store's single thread waits behind the engine's batch in progress, so
an action's latency grows by one batch per trip it makes before its call to Taskcluster.
Claiming the outbox and marking the first entries started share one trip; entries past
the concurrency limit are marked when their turn comes, not while they wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mozci_monitor.actuator import Actuator, ActuatorSettings
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push, Run, RunState, TaskStatus
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
PUSH = Push("autoland", "a" * 40, "GROUPxxxxxxxxxxxxxxxxx")


class Log:
    """What happened, in order: trips to the store's thread and calls to Taskcluster."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.entries: list[str] = []

    async def in_store(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.entries.append(f"trip {fn.__name__}")
        return fn(*args, **kwargs)

    async def task(self, task_id: str) -> dict[str, Any]:
        """The push's decision task, whose routes name the repo (checked before acting)."""
        return {
            "routes": [f"index.gecko.v2.{PUSH.repo}.revision.{PUSH.revision}.taskgraph.decision"]
        }

    async def rerun_task(self, task_id: str) -> TaskStatus:
        started = {
            entry.action.task_id
            for entry in self.store.actions_of(request_id="req-1")
            if entry.started_at is not None
        }
        self.entries.append(f"rerun {task_id} (started: {','.join(sorted(started))})")
        run = Run(1, RunState.PENDING, "rerun")
        return TaskStatus(task_id, PUSH.task_group_id, "pending", 0, (run,))


def _actuator(log: Log, concurrency: int) -> Actuator:
    async def on_permanent_failure(action: Action, error: str) -> None:
        raise AssertionError(f"{action.key} given up: {error}")

    return Actuator(
        in_store=log.in_store,
        store=log.store,
        taskcluster=log,  # type: ignore[arg-type]
        render=lambda *a, **k: None,
        sinks=[],
        on_permanent_failure=on_permanent_failure,
        now=lambda: AT,
        settings=ActuatorSettings(concurrency=concurrency),
    )


def _rerun(n: int) -> Action:
    return Action(
        f"req-1/rerun/{n}", ActionKind.RERUN, PUSH, request_id="req-1", task_id=f"task-{n}"
    )


async def test_an_action_leaves_after_one_trip(tmp_path: Path) -> None:
    log = Log(SqliteStore(tmp_path / "state.sqlite3"))
    log.store.add_action(_rerun(1), AT)
    assert await _actuator(log, concurrency=8).drain() is False
    assert log.entries == [
        "trip _claim_and_start",
        "rerun task-1 (started: task-1)",
        "trip mark_action_done",
    ]
    (entry,) = log.store.actions_of(request_id="req-1")
    assert (entry.state, entry.attempts) == ("done", 1)


async def test_entries_past_the_concurrency_are_started_when_their_turn_comes(
    tmp_path: Path,
) -> None:
    log = Log(SqliteStore(tmp_path / "state.sqlite3"))
    for n in (1, 2):
        log.store.add_action(_rerun(n), AT)
    assert await _actuator(log, concurrency=1).drain() is False
    assert log.entries == [
        "trip _claim_and_start",
        "rerun task-1 (started: task-1)",
        "trip mark_action_done",
        "trip _claim_for_performing",
        "rerun task-2 (started: task-1,task-2)",
        "trip mark_action_done",
    ]
    assert [entry.state for entry in log.store.actions_of(request_id="req-1")] == ["done"] * 2
