"""Message parsing: conformance on real Pulse messages, a rejection table, and fuzzing."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_registry import backfill_status, validator_for
from support.mutation import Edit, apply_edits, field_edits, json_paths

from mozci_monitor.core.machine import decide, matches, observe, phase_of
from mozci_monitor.core.messages import (
    MAX_BODY_BYTES,
    MalformedMessage,
    is_slug_id,
    parse_message,
    parse_status,
)
from mozci_monitor.core.model import (
    EXCHANGE_PREFIX,
    TASK_EXCHANGES,
    Phase,
    Push,
    Request,
    RequestState,
    Run,
    TaskEvent,
    TaskEventKind,
    TaskStatus,
)

from .builders import GROUP, LABEL, TASK_A, TASK_B, slug

Message = dict[str, Any]

# --------------------------------------------------------------------------- real data


def _pulse_messages(reference_dir: Path) -> dict[str, Message]:
    path = reference_dir / "treeherder" / "taskcluster_pulse_messages.json"
    messages: dict[str, Message] = json.loads(path.read_text(encoding="utf-8"))
    assert len(messages) == 91
    return messages


def _task_definitions(reference_dir: Path) -> dict[str, Message]:
    path = reference_dir / "treeherder" / "taskcluster_tasks.json"
    definitions: dict[str, Message] = json.loads(path.read_text(encoding="utf-8"))
    return definitions


def _kind_name(exchange: str) -> str:
    return exchange.removeprefix(EXCHANGE_PREFIX)


def _assert_run_equals(run: Run, payload_run: Message) -> None:
    assert run.run_id == payload_run["runId"]
    assert run.state.value == payload_run["state"]
    assert run.reason_created == payload_run["reasonCreated"]
    assert run.reason_resolved == payload_run.get("reasonResolved")
    assert run.scheduled == payload_run.get("scheduled")
    assert run.started == payload_run.get("started")
    assert run.resolved == payload_run.get("resolved")
    assert run.worker_group == payload_run.get("workerGroup")
    assert run.worker_id == payload_run.get("workerId")


def _assert_status_equals(status: TaskStatus, payload_status: Message) -> None:
    assert status.task_id == payload_status["taskId"]
    assert status.task_group_id == payload_status["taskGroupId"]
    assert status.state == payload_status["state"]
    assert status.retries_left == payload_status["retriesLeft"]
    assert status.provisioner_id == payload_status["provisionerId"]
    assert status.worker_type == payload_status["workerType"]
    assert status.scheduler_id == payload_status["schedulerId"]
    assert status.deadline == payload_status["deadline"]
    assert len(status.runs) == len(payload_status["runs"])
    for run, payload_run in zip(status.runs, payload_status["runs"], strict=True):
        _assert_run_equals(run, payload_run)


def test_every_real_message_parses_to_its_payload(reference_dir: Path) -> None:
    kinds: Counter[TaskEventKind] = Counter()
    for task_id, message in _pulse_messages(reference_dir).items():
        payload = message["payload"]
        event = parse_message(message["exchange"], message["routes"], json.dumps(payload))
        kinds[event.kind] += 1
        assert event.kind.value == _kind_name(message["exchange"])
        assert event.task_id == task_id == payload["status"]["taskId"]
        assert event.task_group_id == payload["status"]["taskGroupId"]
        assert event.run_id == payload["runId"]
        assert event.routing_key == message["routes"]
        assert event.label is None  # 2019 messages predate task.tags in messages
        _assert_status_equals(event.status, payload["status"])
    assert kinds == {
        TaskEventKind.PENDING: 67,
        TaskEventKind.COMPLETED: 13,
        TaskEventKind.RUNNING: 11,
    }


def test_real_messages_parse_alike_from_bytes_str_and_mapping(reference_dir: Path) -> None:
    for message in _pulse_messages(reference_dir).values():
        payload, exchange, key = message["payload"], message["exchange"], message["routes"]
        from_mapping = parse_message(exchange, key, payload)
        assert parse_message(exchange, key, json.dumps(payload)) == from_mapping
        assert parse_message(exchange, key, json.dumps(payload).encode()) == from_mapping


def test_real_messages_with_task_tags_carry_the_label(reference_dir: Path) -> None:
    """Today's queue adds `task.tags`; feed the real tags of the same tasks through."""
    definitions = _task_definitions(reference_dir)
    labelled = 0
    for task_id, message in _pulse_messages(reference_dir).items():
        tags = definitions[task_id]["tags"]
        payload = {**message["payload"], "task": {"tags": tags}}
        event = parse_message(message["exchange"], message["routes"], payload)
        assert event.label == tags.get("label")
        labelled += event.label is not None
    assert labelled == 83


def test_real_messages_give_the_expected_phases(reference_dir: Path) -> None:
    phases = Counter(
        phase_of(parse_message(m["exchange"], m["routes"], m["payload"]).status)[0]
        for m in _pulse_messages(reference_dir).values()
    )
    assert phases == {Phase.PENDING: 67, Phase.COMPLETED: 13, Phase.RUNNING: 11}


def test_real_messages_drive_requests_for_their_labels(reference_dir: Path) -> None:
    """Parse → observe → matches → decide on real data: each labelled task opens its request."""
    definitions = _task_definitions(reference_dir)
    expected = {"pending": RequestState.PENDING, "running": RequestState.RUNNING}
    expected["completed"] = RequestState.COMPLETED
    states: Counter[RequestState] = Counter()
    for task_id, message in _pulse_messages(reference_dir).items():
        tags = definitions[task_id]["tags"]
        payload = {**message["payload"], "task": {"tags": tags}}
        event = parse_message(message["exchange"], message["routes"], payload)
        push = Push("mozilla-central", "0" * 40, definitions[task_id]["taskGroupId"])
        req = Request("r", push, tags.get("label") or "some-label")
        update = observe(None, event.status, event.label)
        if event.label is None:
            assert not matches(req, update.record)
            continue
        assert matches(req, update.record)
        decision = decide(req, {}, update)
        assert decision.request.task_ids == (task_id,)
        assert decision.request.state is expected[event.status.state]
        states[decision.request.state] += 1
    assert sum(states.values()) == 83


def test_real_payloads_validate_against_the_queue_schemas(reference_dir: Path) -> None:
    definitions = _task_definitions(reference_dir)
    for task_id, message in _pulse_messages(reference_dir).items():
        validator = validator_for(reference_dir, f"{_kind_name(message['exchange'])}-message.json")
        payload = copy.deepcopy(message["payload"])
        payload["status"] = backfill_status(payload["status"])
        payload["task"] = {"tags": definitions[task_id]["tags"]}
        errors = [error.message for error in validator.iter_errors(payload)]
        assert errors == [], task_id


def test_schema_drift_since_2019_is_only_the_two_new_status_fields(reference_dir: Path) -> None:
    missing: Counter[str] = Counter()
    for message in _pulse_messages(reference_dir).values():
        validator = validator_for(reference_dir, f"{_kind_name(message['exchange'])}-message.json")
        for error in validator.iter_errors(message["payload"]):
            assert error.validator == "required", error.message
            missing[error.message] += 1
    assert missing == {
        "'taskQueueId' is a required property": 91,
        "'projectId' is a required property": 91,
    }


@pytest.mark.parametrize(
    ("where", "value", "schema_keyword"),
    [
        pytest.param(("status", "taskId"), "not-a-slugid", "pattern", id="status-ref"),
        pytest.param(("status", "taskGroupId"), "x", "pattern", id="task-json-ref"),
        pytest.param(("status", "runs", 0, "state"), "done", "enum", id="run-state"),
        pytest.param(("task", "tags", "label"), 5, "type", id="tags-ref"),
        pytest.param(("version",), 2, "enum", id="version"),
    ],
)
def test_schema_refs_are_resolved(
    reference_dir: Path, where: tuple[str | int, ...], value: object, schema_keyword: str
) -> None:
    """Invalid values behind a relative `$ref` are caught, so the refs really resolve."""
    message = next(iter(_pulse_messages(reference_dir).values()))
    payload = copy.deepcopy(message["payload"])
    payload["status"] = backfill_status(payload["status"])
    payload["task"] = {"tags": {"label": LABEL}}
    validator = validator_for(reference_dir, "task-pending-message.json")
    assert list(validator.iter_errors(payload)) == []
    target: Any = payload
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    assert [error.validator for error in validator.iter_errors(payload)] == [schema_keyword]


def test_task_group_statuses_parse(reference_dir: Path) -> None:
    groups = sorted((reference_dir / "task-groups").glob("*.json"))
    assert [g.stem for g in groups] == ["FG3goVnCQfif8ZEOaM_4IA", "MibGDsa4Q7uFNzDf7EV6nw"]
    validator = validator_for(reference_dir, "task-status.json")
    phases: dict[str, Counter[Phase]] = {}
    for path in groups:
        dump = json.loads(path.read_text(encoding="utf-8"))
        counts: Counter[Phase] = Counter()
        for entry in dump["tasks"]:
            status = parse_status(entry["status"])
            _assert_status_equals(status, entry["status"])
            assert status.task_group_id == dump["taskGroupId"]
            assert list(validator.iter_errors(backfill_status(entry["status"]))) == []
            counts[phase_of(status)[0]] += 1
        phases[path.stem] = counts
    assert phases == {
        "MibGDsa4Q7uFNzDf7EV6nw": {Phase.COMPLETED: 195, Phase.ORANGE: 6},
        "FG3goVnCQfif8ZEOaM_4IA": {Phase.COMPLETED: 6, Phase.ORANGE: 1},
    }


# --------------------------------------------------------------------------- a valid base

WORKER = ("us-west-1", "i-0123456789abcdef0")


def _run(
    run_id: int, state: str, created: str = "scheduled", resolved: str | None = None
) -> Message:
    run: Message = {
        "runId": run_id,
        "state": state,
        "reasonCreated": created,
        "scheduled": "2019-06-26T19:36:10.316Z",
    }
    if state != "pending":
        run |= {"workerGroup": WORKER[0], "workerId": WORKER[1]}
        run["started"] = "2019-06-26T19:40:00.000Z"
    if resolved is not None:
        run |= {"reasonResolved": resolved, "resolved": "2019-06-26T19:50:00.000Z"}
    return run


def _status(*runs: Message) -> Message:
    return {
        "taskId": TASK_A,
        "taskGroupId": GROUP,
        "provisionerId": "aws-provisioner-v1",
        "workerType": "gecko-t-linux-large",
        "schedulerId": "gecko-level-3",
        "deadline": "2019-06-27T19:13:51.402Z",
        "expires": "2020-06-25T19:13:51.402Z",
        "retriesLeft": 5,
        "state": runs[-1]["state"] if runs else "unscheduled",
        "runs": list(runs),
    }


def _key(run_id: int | None, worker: tuple[str, str] | None = WORKER) -> str:
    group, worker_id = worker or ("_", "_")
    run = "_" if run_id is None else str(run_id)
    return (
        f"primary.{TASK_A}.{run}.{group}.{worker_id}.aws-provisioner-v1"
        f".gecko-t-linux-large.gecko-level-3.{GROUP}._"
    )


def base() -> tuple[str, str, Message]:
    """A valid task-completed delivery: exchange, routing key, payload."""
    payload = {
        "version": 1,
        "runId": 0,
        "status": _status(_run(0, "completed", resolved="completed")),
        "workerGroup": WORKER[0],
        "workerId": WORKER[1],
        "task": {"tags": {"label": LABEL, "kind": "test"}},
    }
    return EXCHANGE_PREFIX + "task-completed", _key(0), payload


def test_base_message_is_valid_for_the_parser_and_the_schema(reference_dir: Path) -> None:
    exchange, key, payload = base()
    event = parse_message(exchange, key, payload)
    assert (event.kind, event.run_id, event.label) == (TaskEventKind.COMPLETED, 0, LABEL)
    schema_payload = {**payload, "status": backfill_status(payload["status"])}
    validator = validator_for(reference_dir, "task-completed-message.json")
    assert list(validator.iter_errors(schema_payload)) == []


# --------------------------------------------------------------------------- accepted variants

ACCEPTED: list[Any] = [
    pytest.param(
        "task-defined",
        _key(None, None),
        {"version": 1, "status": _status(), "task": {"tags": {}}},
        (None, None),
        id="defined-without-runId",
    ),
    pytest.param(
        "task-pending",
        _key(0, None),
        {"version": 1, "runId": 0, "status": _status(_run(0, "pending"))},
        (0, None),
        id="pending-without-task",
    ),
    pytest.param(
        "task-exception",
        _key(None, None),
        {"version": 1, "status": _status(_run(0, "exception", "exception", "canceled"))},
        (None, None),
        id="exception-canceled-before-it-ran",
    ),
    pytest.param(
        "task-exception",
        _key(0),
        {
            "version": 1,
            "runId": 0,
            "status": _status(
                _run(0, "exception", resolved="claim-expired"), _run(1, "pending", "retry")
            ),
            "task": {"tags": {"label": LABEL}},
        },
        (0, LABEL),
        id="exception-with-the-retry-run-already-added",
    ),
    pytest.param(
        "task-failed",
        "route.tc-treeherder.v2.try.0123456789abcdef.12345",
        {
            "version": 1,
            "runId": 1,
            "status": _status(
                _run(0, "completed", resolved="completed"),
                _run(1, "failed", "rerun", "failed"),
            ),
        },
        (1, None),
        id="cc-route-copy-of-a-rerun",
    ),
]


@pytest.mark.parametrize(("kind", "key", "payload", "expected"), ACCEPTED)
def test_accepted_variants(
    kind: str, key: str, payload: Message, expected: tuple[int | None, str | None]
) -> None:
    event = parse_message(EXCHANGE_PREFIX + kind, key, json.dumps(payload))
    assert event.kind.value == kind
    assert (event.run_id, event.label) == expected
    _assert_status_equals(event.status, payload["status"])


def test_body_at_the_size_limit_is_accepted() -> None:
    exchange, key, payload = base()
    text = json.dumps(payload).encode()
    padded = text + b" " * (MAX_BODY_BYTES - len(text))
    assert len(padded) == MAX_BODY_BYTES
    assert parse_message(exchange, key, padded).task_id == TASK_A


# --------------------------------------------------------------------------- rejections

Mutation = Callable[[str, str, Message], tuple[str, str, bytes | str | Message]]


def _set(path: tuple[str | int, ...], value: object) -> Mutation:
    def mutate(exchange: str, key: str, payload: Message) -> tuple[str, str, Message]:
        target: Any = payload
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return exchange, key, payload

    return mutate


def _drop(path: tuple[str | int, ...]) -> Mutation:
    def mutate(exchange: str, key: str, payload: Message) -> tuple[str, str, Message]:
        target: Any = payload
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        return exchange, key, payload

    return mutate


def _body(body: bytes | str) -> Mutation:
    return lambda exchange, key, payload: (exchange, key, body)


def _exchange(exchange: str) -> Mutation:
    return lambda _, key, payload: (exchange, key, payload)


def _routing(transform: Callable[[list[str]], list[str]]) -> Mutation:
    return lambda exchange, key, payload: (exchange, ".".join(transform(key.split("."))), payload)


def _replace_field(index: int, value: str) -> Callable[[list[str]], list[str]]:
    def transform(parts: list[str]) -> list[str]:
        return [value if i == index else part for i, part in enumerate(parts)]

    return transform


def _kind_without_run_id(kind: str) -> Mutation:
    def mutate(_: str, key: str, payload: Message) -> tuple[str, str, Message]:
        del payload["runId"]
        return EXCHANGE_PREFIX + kind, key, payload

    return mutate


RUN0 = ("status", "runs", 0)
REJECTIONS: list[Any] = [
    # the body itself
    pytest.param(_body(b'{"version": 1,'), "body is not JSON", id="truncated-json"),
    pytest.param(_body(b"\xff\xfe\x00garbage"), "body is not JSON", id="not-utf8"),
    pytest.param(_body(b""), "body is not JSON", id="empty-body"),
    pytest.param(_body("NaN"), "must be a JSON object, got float", id="json-nan"),
    pytest.param(_body(b"[1, 2]"), "must be a JSON object, got list", id="json-array"),
    pytest.param(_body(b'"text"'), "must be a JSON object, got str", id="json-string"),
    pytest.param(_body(b"null"), "must be a JSON object, got NoneType", id="json-null"),
    pytest.param(_body(b" " * MAX_BODY_BYTES + b"{}"), "body too large", id="body-over-1MiB-bytes"),
    pytest.param(_body(" " * MAX_BODY_BYTES + "{}"), "body too large", id="body-over-1MiB-str"),
    # envelope
    pytest.param(_set(("version",), 2), "version must be 1, got 2", id="version-2"),
    pytest.param(_set(("version",), "1"), "version must be 1, got '1'", id="version-string"),
    pytest.param(_drop(("version",)), "version must be 1, got None", id="version-missing"),
    pytest.param(_set(("version",), [1]), "version must be 1", id="version-list"),
    pytest.param(
        _set(("version",), True),
        "version must be 1",
        id="version-true",
    ),
    pytest.param(_drop(("status",)), "status must be an object, got NoneType", id="no-status"),
    pytest.param(_set(("status",), []), "status must be an object, got list", id="status-list"),
    pytest.param(_set(("status",), "x"), "status must be an object, got str", id="status-str"),
    # status
    pytest.param(_set(("status", "taskId"), "nope"), "status.taskId is not a slugid", id="bad-id"),
    pytest.param(
        _set(("status", "taskId"), TASK_A[:8] + "A" + TASK_A[9:]),
        "status.taskId is not a slugid",
        id="id-not-v4",
    ),
    pytest.param(_set(("status", "taskId"), 42), "status.taskId is not a slugid", id="id-int"),
    pytest.param(
        _set(("status", "taskId"), [TASK_A]), "status.taskId is not a slugid", id="id-list"
    ),
    pytest.param(
        _set(("status", "taskGroupId"), "x" * 22),
        "status.taskGroupId is not a slugid",
        id="bad-group",
    ),
    pytest.param(_drop(("status", "taskGroupId")), "taskGroupId is not a slugid", id="no-group"),
    pytest.param(
        lambda exchange, key, payload: (
            exchange,
            "route.index.gecko.v2.try.latest",
            {**payload, "status": {**payload["status"], "taskId": TASK_A + "\n"}},
        ),
        "status.taskId is not a slugid",
        id="id-trailing-newline-on-cc-route",
    ),
    pytest.param(
        _set(("status", "state"), "done"), "status.state is not a task state", id="unknown-state"
    ),
    pytest.param(
        _set(("status", "state"), ["completed"]),
        "status.state is not a task state",
        id="state-list",
    ),
    pytest.param(
        _set(("status", "state"), {"completed": 1}),
        "status.state is not a task state",
        id="state-dict",
    ),
    pytest.param(
        _set(("status", "state"), "running"),
        "status.state 'running' disagrees with the last run's state 'completed'",
        id="state-disagrees-with-run",
    ),
    pytest.param(
        _set(("status", "state"), "unscheduled"),
        "disagrees with the last run's state",
        id="unscheduled-with-runs",
    ),
    pytest.param(
        _set(("status", "retriesLeft"), -1), "retriesLeft must be 0..999", id="retries-neg"
    ),
    pytest.param(
        _set(("status", "retriesLeft"), 1000), "retriesLeft must be 0..999", id="retries-1000"
    ),
    pytest.param(
        _set(("status", "retriesLeft"), "5"), "retriesLeft must be 0..999", id="retries-str"
    ),
    pytest.param(
        _set(("status", "retriesLeft"), True), "retriesLeft must be 0..999", id="retries-bool"
    ),
    pytest.param(_drop(("status", "retriesLeft")), "retriesLeft must be 0..999", id="no-retries"),
    pytest.param(_set(("status", "runs"), {"0": {}}), "status.runs must be a list", id="runs-dict"),
    pytest.param(_set(("status", "runs"), None), "status.runs must be a list", id="runs-null"),
    pytest.param(_drop(("status", "runs")), "status.runs must be a list", id="runs-missing"),
    # runs
    pytest.param(
        _set(("status", "runs"), ["completed"]), "runs[0] must be an object", id="run-not-object"
    ),
    pytest.param(_set((*RUN0, "runId"), 1), "runs[0].runId must be 0, got 1", id="run-id-order"),
    pytest.param(_set((*RUN0, "runId"), "0"), "runs[0].runId must be 0", id="run-id-str"),
    pytest.param(_set((*RUN0, "runId"), [0]), "runs[0].runId must be 0", id="run-id-list"),
    pytest.param(
        _set((*RUN0, "state"), "done"), "runs[0].state is not a run state", id="run-state"
    ),
    pytest.param(
        _set((*RUN0, "state"), "unscheduled"),
        "runs[0].state is not a run state",
        id="run-unscheduled",
    ),
    pytest.param(
        _set((*RUN0, "state"), ["x"]), "runs[0].state is not a run state", id="run-st-list"
    ),
    pytest.param(
        _set((*RUN0, "reasonCreated"), "because"),
        "runs[0].reasonCreated unknown",
        id="reason-created-unknown",
    ),
    pytest.param(
        _set((*RUN0, "reasonCreated"), {"a": 1}),
        "runs[0].reasonCreated unknown",
        id="reason-created-dict",
    ),
    pytest.param(
        _drop((*RUN0, "reasonResolved")),
        "runs[0] is completed but reasonResolved is None",
        id="reason-resolved-missing",
    ),
    pytest.param(
        _set((*RUN0, "reasonResolved"), "oops"),
        "runs[0] is completed but reasonResolved is 'oops'",
        id="reason-resolved-unknown",
    ),
    pytest.param(
        _set((*RUN0, "reasonResolved"), []),
        "runs[0] is completed but reasonResolved is []",
        id="reason-resolved-list",
    ),
    pytest.param(
        _set(
            ("status", "runs"),
            [
                _run(0, "exception", resolved="claim-expired"),
                _run(2, "completed", "retry", "completed"),
            ],
        ),
        "runs[1].runId must be 1, got 2",
        id="run-ids-skip",
    ),
    # runId of the message
    *(
        pytest.param(
            _kind_without_run_id(kind), f"{kind} message without runId", id=f"{kind}-no-run"
        )
        for kind in ("task-pending", "task-running", "task-completed", "task-failed")
    ),
    pytest.param(_set(("runId",), -1), "runId must be 0..1000, got -1", id="run-id-neg"),
    pytest.param(_set(("runId",), 1001), "runId must be 0..1000, got 1001", id="run-id-1001"),
    pytest.param(_set(("runId",), "0"), "runId must be 0..1000, got '0'", id="run-id-string"),
    pytest.param(_set(("runId",), True), "runId must be 0..1000, got True", id="run-id-bool"),
    pytest.param(_set(("runId",), [0]), "runId must be 0..1000, got [0]", id="run-id-in-list"),
    pytest.param(_set(("runId",), 1), "runId 1 is not among the status runs", id="run-id-unknown"),
    # routing key
    pytest.param(
        _routing(lambda parts: parts[:-1]), "routing key is neither primary", id="key-9-fields"
    ),
    pytest.param(
        _routing(lambda parts: [*parts, "extra"]),
        "routing key is neither primary",
        id="key-11-fields",
    ),
    pytest.param(
        _routing(_replace_field(0, "secondary")),
        "routing key is neither primary",
        id="key-not-primary",
    ),
    pytest.param(_routing(lambda parts: []), "routing key is neither primary", id="key-empty"),
    pytest.param(
        _routing(_replace_field(1, TASK_B)),
        "routing key taskId differs from status.taskId",
        id="key-other-task",
    ),
    pytest.param(
        _routing(_replace_field(8, slug(9))),
        "routing key taskGroupId differs from the status",
        id="key-other-group",
    ),
    pytest.param(
        _routing(_replace_field(2, "1")),
        "routing key runId '1' differs from '0'",
        id="key-other-run",
    ),
    pytest.param(
        _routing(_replace_field(2, "_")),
        "routing key runId '_' differs from '0'",
        id="key-run-missing",
    ),
    # exchange
    pytest.param(
        _exchange(EXCHANGE_PREFIX + "artifact-created"), "not a task exchange", id="artifact"
    ),
    pytest.param(
        _exchange("exchange/taskcluster-github/v1/task-completed"),
        "not a task exchange",
        id="other-service",
    ),
    pytest.param(_exchange(""), "not a task exchange", id="empty-exchange"),
    # task subset
    pytest.param(_set(("task", "tags"), "x"), "task.tags must be an object", id="tags-str"),
    pytest.param(_set(("task", "tags"), ["a"]), "task.tags must be an object", id="tags-list"),
    pytest.param(_drop(("task", "tags")), "task.tags must be an object", id="tags-missing"),
    pytest.param(
        _set(("task", "tags", "label"), 5), "task.tags.label must be a string", id="label-int"
    ),
    pytest.param(
        _set(("task", "tags", "label"), ""), "task.tags.label must be a string", id="label-empty"
    ),
    pytest.param(
        _set(("task", "tags", "label"), "x" * 4097),
        "task.tags.label must be a string",
        id="label-too-long",
    ),
]


@pytest.mark.parametrize(("mutate", "reason"), REJECTIONS)
def test_rejections(mutate: Mutation, reason: str) -> None:
    exchange, key, body = mutate(*base())
    with pytest.raises(MalformedMessage) as caught:
        parse_message(exchange, key, body)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason
    assert len(caught.value.reason) < 300, "a reason is one readable line"
    assert "\n" not in caught.value.reason


def test_rejection_reasons_quote_hostile_values_briefly() -> None:
    exchange, key, payload = base()
    payload["status"]["taskId"] = "x" * 10_000
    with pytest.raises(MalformedMessage) as caught:
        parse_message(exchange, key, payload)
    assert len(caught.value.reason) < 150


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    exchange, key, _ = base()
    body = b"[" * 100_000 + b"]" * 100_000
    assert len(body) < MAX_BODY_BYTES
    with pytest.raises(MalformedMessage):
        parse_message(exchange, key, body)


@pytest.mark.parametrize("decoded", [[1, 2], 5, None, 1.5, True], ids=repr)
def test_decoded_non_object_body_is_malformed_not_a_crash(decoded: object) -> None:
    exchange, key, _ = base()
    with pytest.raises(MalformedMessage):
        parse_message(exchange, key, decoded)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- slugids


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TASK_A, True),
        (GROUP, True),
        (slug(0), True),
        ("MibGDsa4Q7uFNzDf7EV6nw", True),
        (TASK_A[:-1], False),  # 21 chars
        (TASK_A + "A", False),  # 23 chars
        (TASK_A[:8] + "A" + TASK_A[9:], False),  # version nibble is not 4
        (TASK_A[:-1] + "B", False),  # trailing bits must be zero
        (TASK_A[:4] + "+" + TASK_A[5:], False),  # not url-safe base64
        (TASK_A + "\n", False),  # `$` alone would match before a final newline
        (None, False),
        (42, False),
        ([TASK_A], False),
    ],
    ids=repr,
)
def test_is_slug_id(value: object, expected: bool) -> None:
    assert is_slug_id(value) is expected


# --------------------------------------------------------------------------- fuzzing

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([TASK_A, GROUP, "completed", "pending", "exception", "scheduled", 0, 1])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_exchanges = st.sampled_from([*TASK_EXCHANGES, EXCHANGE_PREFIX + "artifact-created", "x"])
_keys = st.sampled_from([_key(0), _key(None, None), _key(1), "route.x.y"]) | st.text(max_size=60)


def _parse_or_reject(exchange: str, key: str, body: bytes | str | Message) -> TaskEvent | None:
    try:
        event = parse_message(exchange, key, body)
    except MalformedMessage as error:
        assert error.reason
        return None
    assert is_slug_id(event.task_id) and is_slug_id(event.task_group_id)
    assert event.status.state == (
        event.status.runs[-1].state if event.status.runs else "unscheduled"
    )
    return event


@settings(max_examples=300, deadline=None)
@given(exchange=_exchanges, key=_keys, body=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(exchange: str, key: str, body: bytes) -> None:
    _parse_or_reject(exchange, key, body)


@settings(max_examples=300, deadline=None)
@given(exchange=_exchanges, key=_keys, payload=st.dictionaries(st.text(max_size=10), _json_values))
def test_fuzz_arbitrary_json_objects(exchange: str, key: str, payload: Message) -> None:
    _parse_or_reject(exchange, key, json.dumps(payload))
    _parse_or_reject(exchange, key, payload)


_BASE_PATHS = json_paths(base()[2])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(TASK_EXCHANGES),
    edits=field_edits(_BASE_PATHS, _json_values),
    as_text=st.booleans(),
)
def test_fuzz_mutated_real_shape(kind: str, edits: list[Edit], as_text: bool) -> None:
    """Replace or delete fields of a valid message deep inside: only MalformedMessage."""
    _, key, payload = base()
    apply_edits(payload, edits)
    body: bytes | str | Message = json.dumps(payload) if as_text else payload
    _parse_or_reject(kind, key, body)
