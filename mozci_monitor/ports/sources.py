"""What the application needs of the remote sources (Taskcluster, hg pushlog), and the
plain values and errors they exchange.

`mozci_monitor.sources` implements these; only the composition root builds the clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mozci_monitor.sources.actions import ActionError, HookCall
from mozci_monitor.sources.analysis import analyse_revisions
from mozci_monitor.sources.errors import NotFound, SourceError, SourceUnavailable, TransientError
from mozci_monitor.sources.models import Push as HgPush
from mozci_monitor.sources.models import TaskGroupMember, TaskStatus
from mozci_monitor.sources.task_results import TaskResults

__all__ = [
    "ActionError",
    "ActionSource",
    "GroupSource",
    "HgPush",
    "HookCall",
    "NotFound",
    "PendingCounts",
    "Pushlog",
    "Queue",
    "Render",
    "ResultsSource",
    "SourceError",
    "SourceUnavailable",
    "TaskGroupMember",
    "TaskResults",
    "TaskStatus",
    "TaskclusterPort",
    "TransientError",
    "analyse_revisions",
]

# A task's test results (its latest run's errorsummary artifacts), None when it has none.
ResultsSource = Callable[[str], Awaitable[TaskResults | None]]

# Renders an in-tree action of the push's actions.json into the hook call that performs it.
Render = Callable[..., HookCall]


class ActionSource(Protocol):
    """What the actuator needs of Taskcluster (satisfied by sources.TaskclusterClient)."""

    async def task(self, task_id: str) -> dict[str, Any]: ...
    async def status(self, task_id: str) -> TaskStatus: ...
    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]: ...
    async def artifact_json(self, task_id: str, name: str) -> Any: ...
    async def find_decision_task(self, repo: str, revision: str) -> str: ...
    async def trigger_hook(
        self, hook_group_id: str, hook_id: str, payload: dict[str, Any]
    ) -> str | None: ...
    async def rerun_task(self, task_id: str) -> TaskStatus: ...
    async def cancel_task(self, task_id: str) -> TaskStatus: ...


class PendingCounts(Protocol):
    """How busy a worker pool is: its pending tasks (`queue.taskQueueCounts`)."""

    async def pending_tasks(self, task_queue_id: str) -> int: ...


class GroupSource(Protocol):
    """What the reconciler reads: a task group's members and its decision task's graph."""

    async def task(self, task_id: str) -> dict[str, Any]: ...
    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]: ...
    async def artifact_json(self, task_id: str, name: str) -> Any: ...


class Queue(Protocol):
    """What the planners read of the queue and the index (and, to check a submission,
    the decision task's full task graph; to confirm a task, its definition and status)."""

    async def task(self, task_id: str) -> dict[str, Any]: ...
    async def status(self, task_id: str) -> TaskStatus: ...
    async def find_decision_task(self, repo: str, revision: str) -> str: ...
    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]: ...
    async def artifact_json(self, task_id: str, name: str) -> Any: ...


class TaskclusterPort(ActionSource, GroupSource, PendingCounts, Protocol):
    """Everything the daemon does with Taskcluster."""


class Pushlog(Protocol):
    """The hg pushlog, for campaigns over ranges of pushes (backfill, bisect)."""

    async def pushes(
        self, repo: str, first_id: int, last_id: int, *, full: bool = False
    ) -> list[HgPush]: ...
    async def push_for_revision(
        self, repo: str, revision: str, *, full: bool = False
    ) -> HgPush: ...
