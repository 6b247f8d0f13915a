"""The fast decoder gives what the core parser gives: the same event, or the same reason.

Every case of the core's tables (tests/core/test_messages.py) goes through both, as JSON
bytes and text, plus the inputs where a fast JSON decoder and `json.loads` part ways.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from core.test_messages import (
    ACCEPTED,
    REJECTIONS,
    _exchanges,
    _json_values,
    _keys,
    base,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.mutation import Edit, apply_edits, field_edits, json_paths

from mozci_monitor import decoding
from mozci_monitor.core.messages import MalformedMessage, parse_message
from mozci_monitor.core.model import EXCHANGE_PREFIX, TASK_EXCHANGES, TaskEvent
from mozci_monitor.decoding import decode_message

Body = bytes | str | Mapping[str, Any]


def _outcome(parse: Any, exchange: str, key: str, body: Body) -> TaskEvent | str:
    try:
        event: TaskEvent = parse(exchange, key, body)
    except MalformedMessage as error:
        return "rejected: " + error.reason
    return event


def _assert_alike(exchange: str, key: str, body: Body) -> TaskEvent | str:
    expected = _outcome(parse_message, exchange, key, body)
    assert _outcome(decode_message, exchange, key, body) == expected
    return expected


@pytest.fixture
def fast_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the decoder hands a body to the core parser: valid messages must not."""

    def slow(*_: object) -> TaskEvent:
        raise AssertionError("a valid message took the slow path")

    monkeypatch.setattr(decoding, "parse_message", slow)


def _as_json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def test_a_valid_message_decodes_on_the_fast_path_to_the_core_event(fast_path_only: None) -> None:
    exchange, key, payload = base()
    expected = parse_message(exchange, key, copy.deepcopy(payload))
    assert decode_message(exchange, key, _as_json(payload)) == expected
    assert decode_message(exchange, key, json.dumps(payload)) == expected
    assert expected.label is not None and expected.run_id == 0


@pytest.mark.parametrize(("kind", "key", "payload", "expected"), ACCEPTED)
def test_accepted_variants_decode_alike_on_the_fast_path(
    kind: str, key: str, payload: dict[str, Any], expected: tuple[int | None, str | None]
) -> None:
    body = _as_json(payload)
    event = parse_message(EXCHANGE_PREFIX + kind, key, body)
    assert (event.run_id, event.label) == expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoding, "parse_message", None)  # a slow-path call would fail
        assert decode_message(EXCHANGE_PREFIX + kind, key, body) == event


@pytest.mark.parametrize(("mutate", "reason"), REJECTIONS)
def test_every_rejection_keeps_its_reason(mutate: Any, reason: str) -> None:
    exchange, key, body = mutate(*base())
    bodies = [body]
    if isinstance(body, Mapping):
        # A value JSON cannot carry leaves only the decoded form.
        with contextlib.suppress(TypeError, ValueError):
            bodies += [_as_json(body), json.dumps(body)]
    for each in bodies:
        outcome = _assert_alike(exchange, key, each)
        assert isinstance(outcome, str) and reason in outcome


def _with_field(name: str, raw_value: bytes) -> bytes:
    payload = base()[2]
    text = _as_json(payload)
    return text[:-1] + b', "' + name.encode() + b'": ' + raw_value + b"}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_with_field("extra", b'"\xff\xfe"'), id="invalid-utf8-in-an-unknown-field"),
        pytest.param(_with_field("extra", b"[" * 600 + b"]" * 600), id="deep-unknown-field"),
        pytest.param(_with_field("extra", b"[" * 200 + b"]" * 200), id="nested-unknown-field"),
        pytest.param(_with_field("extra", b"NaN"), id="nan-in-an-unknown-field"),
        pytest.param(_with_field("version", b"true"), id="duplicate-version-boolean"),
        pytest.param(_with_field("version", b"1.0"), id="duplicate-version-float"),
        pytest.param(_with_field("runId", b"0"), id="duplicate-run-id-same"),
        pytest.param(_with_field("task", b"5"), id="task-not-an-object"),
        pytest.param(_with_field("task", b"null"), id="task-null"),
        pytest.param(_with_field("task", b'{"tags": null}'), id="tags-null"),
        pytest.param(_with_field("task", b'{"tags": {"label": ""}}'), id="label-empty"),
        pytest.param(_with_field("task", b'{"tags": {"label": 3}}'), id="label-number"),
        pytest.param(b"\xef\xbb\xbf" + _as_json(base()[2]), id="utf8-bom"),
        pytest.param(_as_json(base()[2]).decode().encode("utf-16"), id="utf-16"),
        pytest.param(_as_json(base()[2]) + b" \n", id="trailing-whitespace"),
        pytest.param(_as_json(base()[2]) + b" x", id="trailing-garbage"),
    ],
)
def test_inputs_where_json_decoders_differ_get_the_core_answer(body: bytes) -> None:
    exchange, key, _ = base()
    _assert_alike(exchange, key, body)


def test_a_text_body_that_is_not_encodable_gets_the_core_answer() -> None:
    exchange, key, payload = base()
    text = json.dumps(payload)[:-1] + ', "extra": "\ud800"}'
    _assert_alike(exchange, key, text)


def test_a_decoded_body_goes_to_the_core_parser() -> None:
    exchange, key, payload = base()
    assert decode_message(exchange, key, payload) == parse_message(exchange, key, payload)


_BASE_PATHS = json_paths(base()[2])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(TASK_EXCHANGES),
    edits=field_edits(_BASE_PATHS, _json_values),
    as_text=st.booleans(),
)
def test_fuzz_mutated_real_shape_alike(kind: str, edits: list[Edit], as_text: bool) -> None:
    _, key, payload = base()
    apply_edits(payload, edits)
    text = json.dumps(payload)
    _assert_alike(kind, key, text if as_text else text.encode())


@settings(max_examples=300, deadline=None)
@given(exchange=_exchanges, key=_keys, body=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_alike(exchange: str, key: str, body: bytes) -> None:
    _assert_alike(exchange, key, body)
