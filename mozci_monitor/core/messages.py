"""Parse Taskcluster queue Pulse messages (and queue.status answers) into model objects.

Every check names what is wrong, so a rejected message can be logged and counted with a
reason a person understands. Nothing here raises anything but `MalformedMessage`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from mozci_monitor.core.errors import MalformedMessage as MalformedMessage
from mozci_monitor.core.model import (
    EXCHANGE_PREFIX,
    REASONS_CREATED,
    REASONS_RESOLVED,
    RUN_STATES,
    TASK_STATES,
    Run,
    RunState,
    TaskEvent,
    TaskEventKind,
    TaskStatus,
)

MAX_BODY_BYTES = 1 << 20  # real messages are a few KiB; anything this big is hostile
_SLUG = re.compile(r"[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]")
_KINDS = {kind.value: kind for kind in TaskEventKind}
# primary.<taskId>.<runId>.<workerGroup>.<workerId>.<provisionerId>.<workerType>
#        .<schedulerId>.<taskGroupId>.<reserved>
_PRIMARY_FIELDS = 10


@dataclass(frozen=True, slots=True)
class Rejection:
    """A delivery that could not be understood, kept with its reason (nothing is lost)."""

    exchange: str
    routing_key: str
    reason: str
    body: bytes


def is_slug_id(value: object) -> bool:
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def parse_message(
    exchange: str, routing_key: str, body: bytes | str | Mapping[str, Any]
) -> TaskEvent:
    """Turn one delivery from a task exchange into a `TaskEvent`, or raise `MalformedMessage`."""
    kind = _kind_of(exchange)
    payload = _decode(body)
    version = payload.get("version")
    _expect(_is_int(version) and version == 1, f"version must be 1, got {_short(version)}")
    status = parse_status(_object(payload.get("status"), "status"))

    run_id = payload.get("runId")
    if run_id is not None:
        _expect(_is_int(run_id) and 0 <= run_id <= 1000, f"runId must be 0..1000, got {run_id!r}")
        _expect(
            any(run.run_id == run_id for run in status.runs),
            f"runId {run_id} is not among the status runs",
        )
    elif kind is not TaskEventKind.DEFINED and kind is not TaskEventKind.EXCEPTION:
        raise MalformedMessage(f"{kind.value} message without runId")

    _check_routing_key(routing_key, status, run_id)
    return TaskEvent(
        kind=kind,
        status=status,
        run_id=run_id,
        label=_label_of(payload.get("task")),
        routing_key=routing_key,
    )


def parse_status(status: Mapping[str, Any]) -> TaskStatus:
    """Parse a task-status object (message `status`, or the `status` of queue.status)."""
    task_id = status.get("taskId")
    _expect(is_slug_id(task_id), f"status.taskId is not a slugid: {_short(task_id)}")
    group = status.get("taskGroupId")
    _expect(is_slug_id(group), f"status.taskGroupId is not a slugid: {_short(group)}")
    state = status.get("state")
    _expect(_one_of(state, TASK_STATES), f"status.state is not a task state: {_short(state)}")
    retries_left = status.get("retriesLeft")
    if not (_is_int(retries_left) and 0 <= retries_left <= 999):
        raise MalformedMessage(f"status.retriesLeft must be 0..999, got {_short(retries_left)}")
    runs_json = status.get("runs")
    if not isinstance(runs_json, list):
        raise MalformedMessage("status.runs must be a list")
    runs = tuple(_parse_run(index, run) for index, run in enumerate(runs_json))
    expected_state = runs[-1].state.value if runs else "unscheduled"
    _expect(
        state == expected_state,
        f"status.state {state!r} disagrees with the last run's state {expected_state!r}",
    )
    return TaskStatus(
        task_id=str(task_id),
        task_group_id=str(group),
        state=str(state),
        retries_left=retries_left,
        runs=runs,
        provisioner_id=_str_or_empty(status.get("provisionerId")),
        worker_type=_str_or_empty(status.get("workerType")),
        scheduler_id=_str_or_empty(status.get("schedulerId")),
        deadline=_str_or_empty(status.get("deadline")),
    )


def _parse_run(index: int, run_json: object) -> Run:
    run = _object(run_json, f"runs[{index}]")
    run_id = run.get("runId")
    _expect(
        _is_int(run_id) and run_id == index,
        f"runs[{index}].runId must be {index}, got {_short(run_id)}",
    )
    state = run.get("state")
    _expect(_one_of(state, RUN_STATES), f"runs[{index}].state is not a run state: {_short(state)}")
    created = run.get("reasonCreated")
    _expect(
        _one_of(created, REASONS_CREATED),
        f"runs[{index}].reasonCreated unknown: {_short(created)}",
    )
    resolved = run.get("reasonResolved")
    final = state not in (RunState.PENDING, RunState.RUNNING)
    if final:
        _expect(
            _one_of(resolved, REASONS_RESOLVED),
            f"runs[{index}] is {state} but reasonResolved is {_short(resolved)}",
        )
    return Run(
        run_id=index,
        state=RunState(str(state)),
        reason_created=str(created),
        reason_resolved=str(resolved) if final else None,
        scheduled=_opt_str(run.get("scheduled")),
        started=_opt_str(run.get("started")),
        resolved=_opt_str(run.get("resolved")),
        worker_group=_opt_str(run.get("workerGroup")),
        worker_id=_opt_str(run.get("workerId")),
    )


def _kind_of(exchange: str) -> TaskEventKind:
    if not isinstance(exchange, str) or not exchange.startswith(EXCHANGE_PREFIX):
        raise MalformedMessage(f"not a task exchange: {_short(exchange)}")
    kind = _KINDS.get(exchange[len(EXCHANGE_PREFIX) :])
    if kind is None:
        raise MalformedMessage(f"not a task exchange: {_short(exchange)}")
    return kind


def _decode(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, bytes | bytearray | str):
        raise MalformedMessage(f"body must be a JSON object, got {type(body).__name__}")
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body too large: {len(body)} bytes (limit {MAX_BODY_BYTES})")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedMessage(f"body is not JSON: {error}") from None
    except RecursionError:
        raise MalformedMessage("body is not JSON we accept: nested too deeply") from None
    if not isinstance(payload, dict):
        raise MalformedMessage(f"body must be a JSON object, got {type(payload).__name__}")
    return payload


def _check_routing_key(routing_key: str, status: TaskStatus, run_id: int | None) -> None:
    if not isinstance(routing_key, str):
        raise MalformedMessage("routing key must be a string")
    if routing_key.startswith("route."):
        return  # a CC copy: routes are free-form, the body is authoritative
    parts = routing_key.split(".")
    _expect(
        parts[0] == "primary" and len(parts) == _PRIMARY_FIELDS,
        f"routing key is neither primary.<9 fields> nor route.<route>: {_short(routing_key)}",
    )
    _expect(parts[1] == status.task_id, "routing key taskId differs from status.taskId")
    _expect(parts[8] == status.task_group_id, "routing key taskGroupId differs from the status")
    key_run = parts[2]
    expected_run = "_" if run_id is None else str(run_id)
    _expect(key_run == expected_run, f"routing key runId {key_run!r} differs from {expected_run!r}")


def _label_of(task: object) -> str | None:
    if not isinstance(task, Mapping):
        return None
    tags = task.get("tags")
    if not isinstance(tags, Mapping):
        raise MalformedMessage("task.tags must be an object")
    label = tags.get("label")
    if label is None:
        return None
    _expect(isinstance(label, str) and 0 < len(label) <= 4096, "task.tags.label must be a string")
    return str(label)


def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise MalformedMessage(reason)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedMessage(f"{what} must be an object, got {type(value).__name__}")
    return value


def _one_of(value: object, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _str_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
