"""Trips to the store's thread before an action leaves (issue 17's latency).

Every trip to the store's single thread waits behind the engine's batch in progress, so
an action's latency grows by one batch per trip it makes before its call to Taskcluster.
Claiming the outbox and marking the first entry started share one trip; the others are
marked when their turn comes (an entry marked started and never attempted is in doubt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.actuator import Actuator, ActuatorSettings
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.errors import StoreError
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


async def test_only_the_first_entry_is_started_with_the_claim(tmp_path: Path) -> None:
    log = Log(SqliteStore(tmp_path / "state.sqlite3"))
    for n in (1, 2):
        log.store.add_action(_rerun(n), AT)
    assert await _actuator(log, concurrency=8).drain() is False
    # The second entry makes its own trip to be marked (the two attempts may interleave
    # either way): one trip, not two, before each rerun, and each started before its rerun.
    trips = [entry for entry in log.entries if entry.startswith("trip ")]
    assert trips[0] == "trip _claim_and_start"
    assert sorted(trips[1:]) == [
        "trip _claim_for_performing",
        "trip mark_action_done",
        "trip mark_action_done",
    ]
    reruns = [entry for entry in log.entries if entry.startswith("rerun ")]
    first, second = sorted(reruns)
    assert first.startswith("rerun task-1 ") and "task-1" in first.split("started: ")[1]
    assert second.startswith("rerun task-2 ") and "task-2" in second.split("started: ")[1]
    assert [entry.state for entry in log.store.actions_of(request_id="req-1")] == ["done"] * 2


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


async def test_a_start_mark_that_fails_with_the_claim_is_made_again_by_its_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is kept (the entries were leased) and the entry is marked once, by its
    own attempt: one store error never leaves an entry started twice or not attempted."""
    log = Log(SqliteStore(tmp_path / "state.sqlite3"))
    log.store.add_action(_rerun(1), AT)
    mark = log.store.mark_action_started
    failures = [StoreError("database is locked")]

    def mark_once_failing(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return mark(*args, **kwargs)

    monkeypatch.setattr(log.store, "mark_action_started", mark_once_failing)
    assert await _actuator(log, concurrency=8).drain() is False
    assert log.entries == [
        "trip _claim_and_start",
        "trip _claim_for_performing",
        "rerun task-1 (started: task-1)",
        "trip mark_action_done",
    ]
    (entry,) = log.store.actions_of(request_id="req-1")
    assert (entry.state, entry.attempts) == ("done", 1)
