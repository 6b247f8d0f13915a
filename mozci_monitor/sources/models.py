"""Small typed values the source clients return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonObject = Mapping[str, Any]


@dataclass(frozen=True)
class Changeset:
    node: str
    author: str | None = None
    desc: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class Push:
    """One hg push (pushlog): its ID, head revision, time (epoch s), pusher."""

    id: int
    revision: str
    date: int
    user: str
    changesets: tuple[Changeset, ...]


@dataclass(frozen=True)
class TreeherderPush:
    id: int
    revision: str
    author: str
    push_timestamp: int
    revisions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreeherderJob:
    """A Treeherder job; `label` is the Taskcluster task label (job_type_name)."""

    id: int
    label: str
    result: str
    state: str
    task_id: str | None
    retry_id: int | None
    push_id: int | None = None
    platform: str | None = None
    tier: int | None = None


@dataclass(frozen=True)
class TaskRun:
    run_id: int
    state: str
    reason_created: str
    reason_resolved: str | None = None

    @classmethod
    def from_json(cls, run: JsonObject) -> TaskRun:
        return cls(
            run_id=int(run["runId"]),
            state=str(run["state"]),
            reason_created=str(run.get("reasonCreated", "")),
            reason_resolved=run.get("reasonResolved"),
        )


@dataclass(frozen=True)
class TaskStatus:
    """The queue's task status structure (`status` of task-status-response)."""

    task_id: str
    task_group_id: str
    state: str
    retries_left: int
    runs: tuple[TaskRun, ...]

    @classmethod
    def from_json(cls, status: JsonObject) -> TaskStatus:
        return cls(
            task_id=str(status["taskId"]),
            task_group_id=str(status.get("taskGroupId", "")),
            state=str(status["state"]),
            retries_left=int(status.get("retriesLeft", 0)),
            runs=tuple(TaskRun.from_json(run) for run in status.get("runs", ())),
        )


@dataclass(frozen=True)
class TaskGroupMember:
    """One entry of `queue.listTaskGroup`: status plus the raw task definition."""

    task_id: str
    label: str | None
    status: TaskStatus
    task: JsonObject = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, entry: JsonObject) -> TaskGroupMember:
        status = TaskStatus.from_json(entry["status"])
        task = entry.get("task", {})
        return cls(
            task_id=status.task_id,
            label=task_label(task),
            status=status,
            task=task,
        )


def task_label(task: JsonObject) -> str | None:
    """Firefox CI's label of a task definition: tags.label, else metadata.name."""
    label = task.get("tags", {}).get("label") or task.get("metadata", {}).get("name")
    return str(label) if label else None
