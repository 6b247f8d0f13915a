"""Plain-data encodings of model objects, for stores and the wire (JSON-compatible dicts)."""

from __future__ import annotations

from typing import Any

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Push, Run, RunState, TaskStatus


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


def status_from_json(data: dict[str, Any]) -> TaskStatus:
    """The inverse of `status_to_json`, for data this program wrote itself.

    No validation: `parse_status` already checked the status when it arrived, and
    re-checking every stored task on every read was the engine's largest single cost.
    """
    return TaskStatus(
        task_id=data["taskId"],
        task_group_id=data["taskGroupId"],
        state=data["state"],
        retries_left=data["retriesLeft"],
        runs=tuple(
            Run(
                run_id=run["runId"],
                state=RunState(run["state"]),
                reason_created=run["reasonCreated"],
                reason_resolved=run.get("reasonResolved"),
                scheduled=run.get("scheduled"),
                started=run.get("started"),
                resolved=run.get("resolved"),
                worker_group=run.get("workerGroup"),
                worker_id=run.get("workerId"),
            )
            for run in data["runs"]
        ),
        provisioner_id=data.get("provisionerId", ""),
        worker_type=data.get("workerType", ""),
        scheduler_id=data.get("schedulerId", ""),
        deadline=data.get("deadline", ""),
    )


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


def action_to_json(action: Action) -> dict[str, Any]:
    push = action.push
    return {
        "key": action.key,
        "kind": action.kind.value,
        "push": None
        if push is None
        else {"repo": push.repo, "revision": push.revision, "task_group_id": push.task_group_id},
        "request_id": action.request_id,
        "campaign_id": action.campaign_id,
        "task_id": action.task_id,
        "labels": list(action.labels),
        "times": action.times,
        "why": action.why,
        "details": dict(action.details),
    }


def action_from_json(data: dict[str, Any]) -> Action:
    push = data.get("push")
    return Action(
        key=data["key"],
        kind=ActionKind(data["kind"]),
        push=None if push is None else Push(push["repo"], push["revision"], push["task_group_id"]),
        request_id=data.get("request_id"),
        campaign_id=data.get("campaign_id"),
        task_id=data.get("task_id"),
        labels=tuple(data.get("labels", ())),
        times=int(data.get("times", 1)),
        why=str(data.get("why", "")),
        details=dict(data.get("details", {})),
    )
