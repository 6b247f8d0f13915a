"""Fast, strict decoding of Pulse task-status bodies into the core's `TaskEvent`.

The core's `parse_message` checks an untrusted body field by field in Python (~90 µs per
message). Here msgspec decodes the body straight into typed structs in C and only the
cross-field rules run in Python. The core stays the one definition of what is valid: the
fast path accepts a body only when every rule of `parse_message` holds and builds the very
same `TaskEvent`; anything it has the least doubt about (a type msgspec refuses, a rule
that fails, a body that is not plain UTF-8 JSON of modest depth) goes to `parse_message`,
which accepts it or rejects it with today's reason. Rejections are rare, so the slow path
costs nothing in the common case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from mozci_monitor.core.errors import InputError
from mozci_monitor.core.messages import MAX_BODY_BYTES, is_slug_id, parse_message
from mozci_monitor.core.model import (
    EXCHANGE_PREFIX,
    REASONS_CREATED,
    REASONS_RESOLVED,
    TASK_STATES,
    RunState,
    TaskEvent,
    TaskEventKind,
    TaskStatus,
)

# json.loads (the core's decoder) refuses deep nesting with a RecursionError that msgspec
# may not hit in a field it skips; no real message comes near this many brackets.
_MAX_BRACKETS = 256
_MAX_LABEL = 4096
_PRIMARY_FIELDS = 10
_KINDS = {EXCHANGE_PREFIX + kind.value: kind for kind in TaskEventKind}
_OPEN_RUN_STATES = frozenset({RunState.PENDING, RunState.RUNNING})


class _Run(msgspec.Struct, rename="camel"):  # fields as on the wire, in snake case
    run_id: int
    state: str
    reason_created: str
    reason_resolved: str | None = None
    scheduled: str | None = None
    started: str | None = None
    resolved: str | None = None
    worker_group: str | None = None
    worker_id: str | None = None


class _Status(msgspec.Struct, rename="camel"):
    task_id: str
    task_group_id: str
    state: str
    retries_left: int
    runs: list[_Run]
    # The core's defaults for fields a message may leave out (a null is for the core).
    provisioner_id: str = ""
    worker_type: str = ""
    scheduler_id: str = ""
    deadline: str = ""


class _Tags(msgspec.Struct, rename="camel"):
    label: str | None = None


class _Task(msgspec.Struct, rename="camel"):
    tags: _Tags


class _Body(msgspec.Struct, rename="camel"):
    version: int
    status: _Status
    run_id: int | None = None
    task: _Task | None = None


_DECODER = msgspec.json.Decoder(_Body)
_TO_STATUS = msgspec.convert


class _Doubt(InputError):
    """The fast path is not sure: let the core parser decide (and give the reason)."""


def decode_message(
    exchange: str, routing_key: str, body: bytes | str | Mapping[str, Any]
) -> TaskEvent:
    """Same contract as `core.messages.parse_message`: a `TaskEvent` or `MalformedMessage`."""
    if isinstance(body, bytes | str) and isinstance(exchange, str) and isinstance(routing_key, str):
        try:
            return _fast(exchange, routing_key, body)
        except (_Doubt, msgspec.MsgspecError, RecursionError, UnicodeError):
            pass
    return parse_message(exchange, routing_key, body)


def _fast(exchange: str, routing_key: str, body: bytes | str) -> TaskEvent:
    kind = _KINDS.get(exchange)
    if kind is None or len(body) > MAX_BODY_BYTES:
        raise _Doubt
    raw = body.encode() if isinstance(body, str) else body
    if not raw.isascii():
        raw.decode("utf-8")  # msgspec does not validate the strings it skips
    if raw.count(b"[") + raw.count(b"{") > _MAX_BRACKETS:
        raise _Doubt
    message = _DECODER.decode(raw)
    if message.version != 1:
        raise _Doubt
    status = _status(message.status)
    run_id = message.run_id
    if run_id is not None:
        _check(0 <= run_id <= 1000 and run_id < len(status.runs))
    elif kind is not TaskEventKind.DEFINED and kind is not TaskEventKind.EXCEPTION:
        raise _Doubt
    _check_routing_key(routing_key, status, run_id)
    label = None
    if message.task is not None:
        label = message.task.tags.label
        _check(label is None or 0 < len(label) <= _MAX_LABEL)
    return TaskEvent(kind=kind, status=status, run_id=run_id, label=label, routing_key=routing_key)


def _status(wire: _Status) -> TaskStatus:
    # The core's records built by msgspec in C, field by field of the same names (the
    # records' own __init__ sets each field through the frozen guard: most of the cost).
    status = _TO_STATUS(wire, type=TaskStatus, from_attributes=True)
    _check(is_slug_id(status.task_id) and is_slug_id(status.task_group_id))
    _check(status.state in TASK_STATES and 0 <= status.retries_left <= 999)
    runs = status.runs
    for index, run in enumerate(runs):
        _check(run.run_id == index and run.reason_created in REASONS_CREATED)
        if run.state in _OPEN_RUN_STATES:
            # The core drops an open run's resolution reason; a message with one is for it.
            _check(run.reason_resolved is None)
        else:
            _check(run.reason_resolved in REASONS_RESOLVED)
    _check(status.state == (runs[-1].state.value if runs else "unscheduled"))
    return status


def _check_routing_key(routing_key: str, status: TaskStatus, run_id: int | None) -> None:
    if routing_key.startswith("route."):
        return
    parts = routing_key.split(".")
    _check(
        len(parts) == _PRIMARY_FIELDS
        and parts[0] == "primary"
        and parts[1] == status.task_id
        and parts[8] == status.task_group_id
        and parts[2] == ("_" if run_id is None else str(run_id))
    )


def _check(condition: bool) -> None:
    if not condition:
        raise _Doubt
