"""Plain-data encodings of model objects, for stores and the wire (JSON-compatible dicts)."""

from __future__ import annotations

from typing import Any

from mozci_monitor.core.model import Run, TaskStatus


def status_to_json(status: TaskStatus) -> dict[str, Any]:
    """The Taskcluster task-status shape, so `parse_status` reads it back unchanged."""
    return {
        "taskId": status.task_id,
        "taskGroupId": status.task_group_id,
        "state": status.state,
        "retriesLeft": status.retries_left,
        "provisionerId": status.provisioner_id,
        "workerType": status.worker_type,
        "schedulerId": status.scheduler_id,
        "deadline": status.deadline,
        "runs": [_run_to_json(run) for run in status.runs],
    }


def _run_to_json(run: Run) -> dict[str, Any]:
    encoded: dict[str, Any] = {
        "runId": run.run_id,
        "state": run.state.value,
        "reasonCreated": run.reason_created,
    }
    optional = {
        "reasonResolved": run.reason_resolved,
        "scheduled": run.scheduled,
        "started": run.started,
        "resolved": run.resolved,
        "workerGroup": run.worker_group,
        "workerId": run.worker_id,
    }
    encoded.update({key: value for key, value in optional.items() if value is not None})
    return encoded
