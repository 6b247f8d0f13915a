"""The task-status document the store writes, built and encoded by msgspec in C.

The same JSON text as `json_text(core.codec.status_to_json(status))`, key for key and in
the same order (the Taskcluster shape `status_from_json` reads back): a run's unset
optional fields are left out, the status's own fields are always there. Building the
nested dicts in Python first was most of the cost of writing a task row, and a batch
writes one per message.
"""

from __future__ import annotations

import msgspec

from mozci_monitor.core.model import TaskStatus


class _Run(msgspec.Struct, rename="camel", omit_defaults=True):
    run_id: int
    state: str
    reason_created: str
    reason_resolved: str | None = None
    scheduled: str | None = None
    started: str | None = None
    resolved: str | None = None
    worker_group: str | None = None
    worker_id: str | None = None


class StatusDocument(msgspec.Struct, rename="camel"):
    task_id: str
    task_group_id: str
    state: str
    retries_left: int
    provisioner_id: str
    worker_type: str
    scheduler_id: str
    deadline: str
    runs: tuple[_Run, ...]


def status_document(status: TaskStatus) -> StatusDocument:
    """What `json_text` encodes as the stored status of a task."""
    return msgspec.convert(status, type=StatusDocument, from_attributes=True)
