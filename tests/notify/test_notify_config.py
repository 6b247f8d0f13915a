"""build_sinks: the [notify] table turned into sinks, and refused when it cannot be."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import kombu
import pytest
from notify_http_stub import HttpStub, Reply

from mozci_monitor.notify import (
    LogSink,
    Notification,
    NotifyConfigError,
    PulseSink,
    Sink,
    TaskclusterNotifySink,
    WebhookSink,
    build_sinks,
    close_sinks,
)


class FakeNotify:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    async def email(self, payload: Mapping[str, Any]) -> Any:
        self.calls.append(("email", payload))

    async def matrix(self, payload: Mapping[str, Any]) -> Any:
        self.calls.append(("matrix", payload))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_default_is_log_only(session: aiohttp.ClientSession) -> None:
    sinks = build_sinks({}, session=session)
    assert [type(s) for s in sinks] == [LogSink]


async def test_all_sinks_in_configured_order(
    session: aiohttp.ClientSession, http_stub: HttpStub, notification: Notification
) -> None:
    fake = FakeNotify()
    config = {
        "sinks": ["pulse", "webhook", "taskcluster", "log"],
        "webhook_url": http_stub.url("/hook/secret"),
        "webhook_timeout": 5,
        "email": "sheriff@example.com",
        "matrix_room": "!room:mozilla.org",
        "matrix_rooms": ["!other:mozilla.org"],
        "pulse_user": "mozci-test-config",
        "pulse_url": "memory://",
    }
    sinks = build_sinks(config, session=session, notify_client=fake)
    try:
        assert [type(s) for s in sinks] == [PulseSink, WebhookSink, TaskclusterNotifySink, LogSink]
        assert [s.name for s in sinks] == ["pulse", "webhook", "taskcluster-notify", "log"]
        assert all(isinstance(s, Sink) for s in sinks)
        for sink in sinks:
            await sink.send(notification)
        assert [kind for kind, _ in fake.calls] == ["email", "matrix", "matrix"]
        assert [p.get("roomId") for _, p in fake.calls[1:]] == [
            "!room:mozilla.org",
            "!other:mozilla.org",
        ]
        assert http_stub.requests[0].path == "/hook/secret"
    finally:
        await close_sinks(sinks)


async def test_pulse_url_argument_wins(session: aiohttp.ClientSession) -> None:
    sinks = build_sinks(
        {"sinks": ["pulse"], "pulse_user": "u", "pulse_url": "amqp://nowhere:1//"},
        session=session,
        pulse_connection_factory=lambda: kombu.Connection("memory://"),
    )
    await close_sinks(sinks)
    sinks = build_sinks(
        {"sinks": ["pulse"], "pulse_user": "u"}, session=session, pulse_url="memory://"
    )
    await close_sinks(sinks)


async def test_taskcluster_sink_uses_root_url_and_credentials(
    session: aiohttp.ClientSession, http_stub: HttpStub, notification: Notification
) -> None:
    http_stub.default = Reply(status=200, body={})
    config = {
        "sinks": ["taskcluster"],
        "email": ["a@example.com"],
        "taskcluster_root_url": http_stub.url("").rstrip("/"),
        "taskcluster_client_id": "project/mozci",
        "taskcluster_access_token": "token",
    }
    [sink] = build_sinks(config, session=session)
    await sink.send(notification)
    [request] = http_stub.requests
    assert request.path == "/api/notify/v1/email"
    assert 'id="project/mozci"' in request.headers["Authorization"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sinks": ["irc"]}, "unknown sink 'irc'"),
        ({"sinks": ["log", "log"]}, "lists a sink twice"),
        ({"sinks": "log,webhook"}, "unknown sink 'log,webhook'"),  # one string is one name
        ({"sinks": [1]}, "list of non-empty strings"),
        ({"sinks": ["webhook"]}, "notify.webhook_url"),
        ({"sinks": ["webhook"], "webhook_url": "ftp://x/secret"}, "http(s) URL"),
        (
            {"sinks": ["webhook"], "webhook_url": "https://x/y", "webhook_timeout": 0},
            "webhook_timeout",
        ),
        ({"sinks": ["taskcluster"], "taskcluster_root_url": "https://tc"}, "email and/or"),
        ({"sinks": ["taskcluster"], "email": ["nobody"]}, "not an email address"),
        ({"sinks": ["taskcluster"], "matrix_room": "#alias:mozilla.org"}, "not a room id"),
        ({"sinks": ["taskcluster"], "email": ["a@b.c"]}, "taskcluster_root_url"),
        (
            {
                "sinks": ["taskcluster"],
                "email": ["a@b.c"],
                "taskcluster_root_url": "https://tc",
                "taskcluster_client_id": "only-id",
            },
            "go together",
        ),
        ({"sinks": ["pulse"], "pulse_url": "memory://"}, "notify.pulse_user"),
        ({"sinks": ["pulse"], "pulse_user": "a/b", "pulse_url": "memory://"}, "must not"),
        ({"sinks": ["pulse"], "pulse_user": "u"}, "notify.pulse_url"),
    ],
)
async def test_bad_configs_are_refused(
    session: aiohttp.ClientSession, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        build_sinks(config, session=session)
    assert message in str(caught.value)


async def test_webhook_secret_not_echoed_in_config_errors(
    session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        build_sinks(
            {"sinks": ["webhook"], "webhook_url": "hooks.slack.com/T0/SECRET"}, session=session
        )
    assert "SECRET" not in str(caught.value)
