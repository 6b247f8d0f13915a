"""An obsolete run's cancel (a range campaign answered) reaches Taskcluster only for a
task one of the request's action tasks created (taskgraph names it in `extra.parent`);
a run CI scheduled for the push itself is left alone, and the outbox says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from store.pulse_builder import GROUP, slug

from mozci_monitor.actuator import Actuator
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push, Run, RunState, TaskStatus
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
OURS, CI_OWN, ACTION_TASK = slug(1), slug(2), slug(900)


class Queue:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    async def task(self, task_id: str) -> dict[str, Any]:
        if task_id == OURS:
            return {"extra": {"parent": ACTION_TASK}, "dependencies": [ACTION_TASK]}
        if task_id == CI_OWN:
            return {"extra": {"parent": GROUP}, "dependencies": []}  # the decision task's
        return {}

    async def cancel_task(self, task_id: str) -> TaskStatus:
        self.cancelled.append(task_id)
        runs = (Run(0, RunState.EXCEPTION, "scheduled", "canceled"),)
        return TaskStatus(task_id, GROUP, "exception", 0, runs)


async def test_only_runs_our_action_tasks_created_are_cancelled(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    with store.transaction():
        for task_id in (OURS, CI_OWN):
            store.add_action(
                Action(
                    f"req-1/cancel/{task_id}",
                    ActionKind.CANCEL,
                    PUSH,
                    request_id="req-1",
                    task_id=task_id,
                    details={"created_by": ACTION_TASK},
                ),
                AT,
            )
    queue = Queue()

    async def in_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def abandoned(action: Action, error: str) -> None:
        raise AssertionError(error)

    actuator = Actuator(
        in_store=in_store,
        store=store,
        taskcluster=queue,  # type: ignore[arg-type]
        render=lambda *a, **k: None,  # type: ignore[arg-type,return-value]
        sinks=(),
        on_permanent_failure=abandoned,
        now=lambda: AT,
    )
    assert await actuator.drain() is False
    assert queue.cancelled == [OURS]
    results = {e.action.task_id: e.result for e in store.actions_of(request_id="req-1")}
    assert results == {
        OURS: f"canceled {OURS}",
        CI_OWN: f"left {CI_OWN} alone: none of our action tasks created it",
    }
