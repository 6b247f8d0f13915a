"""The actuator acts only on a push whose decision task names the repository the campaign
named: a campaign that renames the repository (to get a fresh daily budget for the same
push) has its actions abandoned with the reason, and Taskcluster never sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from store.pulse_builder import GROUP, slug

from mozci_monitor.actuator import Actuator
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push, Run, RunState, TaskStatus
from mozci_monitor.sources import NotFound
from mozci_monitor.store.sqlite import SqliteStore

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"
AT = "2026-11-22T12:00:00.000Z"


class DecisionTaskcluster:
    """Knows one decision task (id = its group's) of `project`; records reruns."""

    def __init__(self, project: str | None) -> None:
        self.project = project
        self.reruns: list[str] = []

    async def task(self, task_id: str) -> dict[str, Any]:
        if task_id != GROUP or self.project is None:
            raise NotFound(f"task {task_id}", source="taskcluster")
        return {
            "routes": [
                f"index.gecko.v2.{self.project}.revision.{REVISION}.taskgraph.decision",
                f"tc-treeherder.v2.{self.project}.{REVISION}.88565",
            ]
        }

    async def rerun_task(self, task_id: str) -> TaskStatus:
        self.reruns.append(task_id)
        runs = (
            Run(0, RunState.EXCEPTION, "scheduled", "internal-error"),
            Run(1, RunState.PENDING, "rerun"),
        )
        return TaskStatus(task_id, GROUP, "pending", 0, runs)


async def _perform(tmp_path: Path, tc: DecisionTaskcluster, repos: list[str]) -> list[str]:
    store = SqliteStore(tmp_path / "state.sqlite3")
    for n, repo in enumerate(repos):
        with store.transaction():
            store.add_action(
                Action(
                    key=f"k-{repo}",
                    kind=ActionKind.RERUN,
                    push=Push(repo, REVISION, GROUP),
                    task_id=slug(n + 1),
                    why="infrastructure exception",
                ),
                AT,
            )
    abandoned: list[str] = []

    async def in_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def on_permanent_failure(action: Action, error: str) -> None:
        abandoned.append(f"{action.key}: {error}")

    actuator = Actuator(
        in_store=in_store,
        store=store,
        taskcluster=tc,  # type: ignore[arg-type]
        render=lambda *a, **k: None,  # type: ignore[arg-type,return-value]
        sinks=(),
        on_permanent_failure=on_permanent_failure,
        now=lambda: AT,
    )
    assert await actuator.drain() is False  # nothing left to retry
    return abandoned


async def test_a_renamed_repository_does_not_act(tmp_path: Path) -> None:
    tc = DecisionTaskcluster("autoland")
    abandoned = await _perform(tmp_path, tc, ["autoland", "autoland-b1", "zzz"])
    assert tc.reruns == [slug(1)]  # only the campaign that named the push's own repository
    assert sorted(abandoned) == [
        f"k-autoland-b1: repo 'autoland-b1' is not the push's: its decision task {GROUP}"
        " belongs to 'autoland'",
        f"k-zzz: repo 'zzz' is not the push's: its decision task {GROUP} belongs to 'autoland'",
    ]


async def test_without_a_decision_task_to_ask_the_action_goes_ahead(tmp_path: Path) -> None:
    tc = DecisionTaskcluster(None)  # task(group) answers 404
    abandoned = await _perform(tmp_path, tc, ["autoland"])
    assert (tc.reruns, abandoned) == ([slug(1)], [])
