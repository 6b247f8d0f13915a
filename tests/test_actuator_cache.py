"""The actuator's actions.json cache forgets the groups nobody watches any more."""

from __future__ import annotations

from typing import Any

from mozci_monitor.actuator import Actuator
from mozci_monitor.core.actions import Action


class _Queue:
    def __init__(self) -> None:
        self.read: list[str] = []

    async def find_decision_task(self, repo: str, revision: str) -> str:
        return f"decision-of-{revision}"

    async def artifact_json(self, task_id: str, name: str) -> Any:
        self.read.append(task_id)
        return {"actions": []}


async def _no_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
    raise AssertionError("no store call expected")


async def _no_failure(action: Action, error: str) -> None:
    raise AssertionError(error)


async def test_actions_json_of_unwatched_groups_is_read_again_only_when_needed() -> None:
    queue = _Queue()
    actuator = Actuator(
        in_store=_no_store,
        store=None,  # type: ignore[arg-type]
        taskcluster=queue,  # type: ignore[arg-type]
        render=lambda *args, **kwargs: None,  # type: ignore[arg-type,return-value]
        sinks=(),
        on_permanent_failure=_no_failure,
        now=lambda: "2026-11-22T10:00:00.000Z",
    )
    for group in ("g1", "g2", "g1", "g2"):
        await actuator._actions_json_for("autoland", f"rev-{group}", group)
    assert queue.read == ["decision-of-rev-g1", "decision-of-rev-g2"]

    actuator.forget_unwatched({"g2"})
    for group in ("g1", "g2"):
        await actuator._actions_json_for("autoland", f"rev-{group}", group)

    assert queue.read == ["decision-of-rev-g1", "decision-of-rev-g2", "decision-of-rev-g1"]
