"""TaskclusterNotifySink: the real taskcluster.aio.Notify client against a local server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from notify_http_stub import HttpStub, Reply

from mozci_monitor.notify import (
    Notification,
    NotificationError,
    TaskclusterNotifySink,
    make_notify_client,
    render_html,
    render_text,
)
from mozci_monitor.notify.taskcluster_notify import email_request

# Request schemas of the Notify service, transcribed from taskcluster/taskcluster
# services/notify/schemas/v1/{email,matrix}-request.yml (the reference dir only has the API
# reference, which names them): the sink's bodies must validate against them.
EMAIL_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "address": {"type": "string", "format": "email"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
        "content": {"type": "string", "minLength": 1, "maxLength": 102400},
        "link": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "minLength": 1, "maxLength": 40},
                "href": {"type": "string", "minLength": 1, "maxLength": 1024, "format": "uri"},
            },
            "additionalProperties": False,
            "required": ["text", "href"],
        },
        "replyTo": {"type": "string", "format": "email"},
        "template": {"type": "string", "enum": ["simple", "fullscreen"]},
    },
    "additionalProperties": False,
    "required": ["address", "subject", "content"],
}
MATRIX_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "roomId": {"type": "string"},
        "body": {"type": "string"},
        "format": {"type": "string"},
        "formattedBody": {"type": "string"},
        "msgtype": {"type": "string", "enum": ["m.notice", "m.text", "m.emote"]},
    },
    "additionalProperties": False,
    "required": ["roomId", "body"],
}
SCHEMAS = {
    "v1/email-request.json#": EMAIL_REQUEST_SCHEMA,
    "v1/matrix-request.json#": MATRIX_REQUEST_SCHEMA,
}

ROOM = "!whDRjjSmICCgrhFHsQ:mozilla.org"
EMAILS = ("sheriff@example.com", "dev@example.org")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _client(http_stub: HttpStub, session: aiohttp.ClientSession, **kw: Any) -> Any:
    return make_notify_client(http_stub.url("").rstrip("/"), session=session, max_retries=0, **kw)


def _validate(body: Mapping[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())


async def test_sends_one_email_per_address_and_one_matrix_message(
    http_stub: HttpStub, session: aiohttp.ClientSession, notification: Notification
) -> None:
    http_stub.default = Reply(status=200, body={})
    sink = TaskclusterNotifySink(_client(http_stub, session), emails=EMAILS, matrix_rooms=[ROOM])
    await sink.send(notification)

    assert [(r.method, r.path) for r in http_stub.requests] == [
        ("POST", "/api/notify/v1/email"),
        ("POST", "/api/notify/v1/email"),
        ("POST", "/api/notify/v1/matrix"),
    ]
    mail, other_mail, matrix = (r.body for r in http_stub.requests)
    _validate(mail, EMAIL_REQUEST_SCHEMA)
    _validate(other_mail, EMAIL_REQUEST_SCHEMA)
    _validate(matrix, MATRIX_REQUEST_SCHEMA)
    assert [mail["address"], other_mail["address"]] == list(EMAILS)
    assert mail["subject"] == f"mozci-monitor until-fail gave-up: {notification.title}"
    assert notification.text.splitlines()[0] in mail["content"]
    assert mail["link"] == {"text": "Open campaign", "href": notification.details["url"]}
    assert matrix == {
        "roomId": ROOM,
        "body": render_text(notification),
        "format": "org.matrix.custom.html",
        "formattedBody": render_html(notification),
        "msgtype": "m.notice",
    }


async def test_routes_and_schemas_match_the_api_reference(
    reference_dir: Path,
    http_stub: HttpStub,
    session: aiohttp.ClientSession,
    notification: Notification,
) -> None:
    api = json.loads((reference_dir / "taskcluster" / "notify-api.json").read_text())
    assert api["serviceName"] == "notify" and api["apiVersion"] == "v1"
    entries = {entry["name"]: entry for entry in api["entries"]}

    http_stub.default = Reply(status=200, body={})
    sink = TaskclusterNotifySink(
        _client(http_stub, session), emails=EMAILS[:1], matrix_rooms=[ROOM]
    )
    await sink.send(notification)

    for request, name in zip(http_stub.requests, ("email", "matrix"), strict=True):
        entry = entries[name]
        assert request.method == entry["method"].upper()
        assert request.path == f"/api/{api['serviceName']}/{api['apiVersion']}{entry['route']}"
        _validate(request.body, SCHEMAS[entry["input"]])


async def test_requests_are_signed_with_the_given_credentials(
    http_stub: HttpStub, session: aiohttp.ClientSession, notification: Notification
) -> None:
    http_stub.default = Reply(status=200, body={})
    client = _client(
        http_stub, session, credentials={"clientId": "project/mozci", "accessToken": "s3cret"}
    )
    await TaskclusterNotifySink(client, emails=EMAILS[:1]).send(notification)
    [request] = http_stub.requests
    authorization = request.headers["Authorization"]
    assert authorization.startswith("Hawk ")
    assert 'id="project/mozci"' in authorization
    assert "s3cret" not in authorization


async def test_duplicate_answer_204_is_success(
    http_stub: HttpStub, session: aiohttp.ClientSession, notification: Notification
) -> None:
    # Notify answers 204 when it detected a duplicate and sent nothing: a retried send.
    http_stub.default = Reply(status=204)
    await TaskclusterNotifySink(_client(http_stub, session), matrix_rooms=[ROOM]).send(notification)
    assert len(http_stub.requests) == 1


async def test_failure_names_every_failed_target_after_trying_all(
    http_stub: HttpStub, session: aiohttp.ClientSession, notification: Notification
) -> None:
    http_stub.queue(
        Reply(status=403, body={"code": "InsufficientScopes", "message": "missing scope"}),
        Reply(status=200, body={}),
        Reply(status=400, body={"code": "InputError", "message": "bad room"}),
    )
    sink = TaskclusterNotifySink(_client(http_stub, session), emails=EMAILS, matrix_rooms=[ROOM])
    with pytest.raises(NotificationError) as caught:
        await sink.send(notification)
    assert len(http_stub.requests) == 3  # the 403 did not stop the others
    message = str(caught.value)
    assert message.startswith(
        "taskcluster-notify sink could not deliver notification 'campaign:c-42.7:finished': "
    )
    assert f"email to {EMAILS[0]}: HTTP 403" in message
    assert f"matrix room {ROOM}: HTTP 400" in message
    assert EMAILS[1] not in message


async def test_unreachable_service_raises(
    session: aiohttp.ClientSession, notification: Notification
) -> None:
    client = make_notify_client("http://127.0.0.1:9", session=session, max_retries=0)
    with pytest.raises(NotificationError, match=r"matrix room .*: TaskclusterConnectionError"):
        await TaskclusterNotifySink(client, matrix_rooms=[ROOM]).send(notification)


def test_email_limits_are_respected(notification: Notification) -> None:
    huge = replace(
        notification,
        title="x" * 400,
        text="line\n" * 30_000,
        details={"url": "https://example.com/" + "a" * 2000},
    )
    body = email_request(huge, "a@example.com")
    _validate(body, EMAIL_REQUEST_SCHEMA)
    assert "link" not in body  # a link too long for the schema is left out, not cut


def test_needs_a_target() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TaskclusterNotifySink(object())  # type: ignore[arg-type]
