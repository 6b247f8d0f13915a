"""Small typed values the source clients return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.errors import MalformedMessage
from mozci_monitor.core.messages import parse_status
from mozci_monitor.core.model import Run as TaskRun
from mozci_monitor.core.model import TaskStatus

JsonObject = Mapping[str, Any]

__all__ = ["TaskRun", "TaskStatus", "status_from_json"]


def status_from_json(status: object) -> TaskStatus:
    """The queue's task status structure, checked as strictly as a Pulse message's.

    One ``TaskStatus`` type serves Pulse messages, queue answers and the store.
    """
    if not isinstance(status, Mapping):
        raise MalformedMessage("status is not an object")
    return parse_status(status)


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
class TaskGroupMember:
    """One entry of `queue.listTaskGroup`: status plus the raw task definition."""

    task_id: str
    label: str | None
    status: TaskStatus
    task: JsonObject = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, entry: JsonObject) -> TaskGroupMember:
        """Raises :class:`MalformedMessage` when the status is not a queue task status."""
        status = status_from_json(entry.get("status"))
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
