"""WebhookSink against a real local HTTP server: payload shape, failures, the URL secret."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from notify_http_stub import HttpStub, Reply
from structlog.testing import capture_logs

from mozci_monitor.notify import Notification, NotificationError, WebhookSink, render_markdown
from mozci_monitor.redact import redact_capability_url, url_origin

SECRET = "T000/B000/XXXXsecretXXXX"
SECRET_PATH = f"/services/{SECRET}"
QUERY_SECRET = "querysecret"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def url(http_stub: HttpStub) -> str:
    return http_stub.url(f"{SECRET_PATH}?token={QUERY_SECRET}")


async def test_posts_text_html_and_structured_details(
    session: aiohttp.ClientSession, http_stub: HttpStub, url: str, notification: Notification
) -> None:
    await WebhookSink(url, session=session).send(notification)

    [request] = http_stub.requests
    assert request.method == "POST"
    assert request.path == SECRET_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == notification.key
    assert request.body["text"] == render_markdown(notification)  # what Slack and hookshot read
    assert request.body["html"].startswith("<p><strong>")  # hookshot's formatted variant
    assert request.body["notification"] == notification.as_json()


async def test_any_2xx_is_success(
    session: aiohttp.ClientSession, http_stub: HttpStub, url: str, notification: Notification
) -> None:
    http_stub.queue(Reply(status=204), Reply(status=202, body="accepted"))
    sink = WebhookSink(url, session=session)
    await sink.send(notification)
    await sink.send(notification)
    assert len(http_stub.requests) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
async def test_non_2xx_raises_with_status_and_no_secret(
    session: aiohttp.ClientSession,
    http_stub: HttpStub,
    url: str,
    notification: Notification,
    status: int,
) -> None:
    # Some services echo the URL back in their error body: that must be scrubbed too.
    http_stub.queue(Reply(status=status, body=f"no_service at {SECRET_PATH}"))
    with pytest.raises(NotificationError) as caught:
        await WebhookSink(url, session=session).send(notification)
    message = str(caught.value)
    assert message.startswith(
        "webhook sink could not deliver notification 'campaign:c-42.7:finished': "
    )
    assert f"answered HTTP {status}" in message
    assert "no_service at" in message
    assert "http://127.0.0.1:" in message
    assert SECRET not in message
    assert QUERY_SECRET not in message
    assert (caught.value.sink, caught.value.key) == ("webhook", notification.key)


async def test_timeout_raises(
    session: aiohttp.ClientSession, http_stub: HttpStub, url: str, notification: Notification
) -> None:
    http_stub.queue(Reply(hang=True))
    with pytest.raises(NotificationError, match=r"timed out after 0\.2s"):
        await WebhookSink(url, session=session, timeout=0.2).send(notification)


async def test_unreachable_raises_without_secret(
    session: aiohttp.ClientSession, notification: Notification
) -> None:
    # Port 9 (discard) on localhost: nothing listens there.
    url = f"http://127.0.0.1:9{SECRET_PATH}"
    with pytest.raises(NotificationError) as caught:
        await WebhookSink(url, session=session).send(notification)
    assert "ClientConnectorError" in str(caught.value)
    assert SECRET not in str(caught.value)
    # Tracebacks print chained exceptions, and aiohttp's quote the URL: there must be none.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_url_secret_never_logged(
    session: aiohttp.ClientSession, http_stub: HttpStub, url: str, notification: Notification
) -> None:
    http_stub.queue(Reply(status=200), Reply(status=500))
    sink = WebhookSink(url, session=session)
    with capture_logs() as logs:
        await sink.send(notification)
        with pytest.raises(NotificationError):
            await sink.send(notification)
    assert any(event["event"] == "webhook delivered" for event in logs)
    assert SECRET not in repr(logs)
    assert QUERY_SECRET not in repr(logs)
    assert SECRET not in repr(sink)


def test_redact_url() -> None:
    assert url_origin(f"https://hooks.slack.com{SECRET_PATH}?t=1") == "https://hooks.slack.com/…"
    assert url_origin("https://matrix.example.org:8448/") == "https://matrix.example.org:8448"
    assert url_origin("amqps://user:pw@pulse.mozilla.org:5671") == "amqps://pulse.mozilla.org:5671"
    assert url_origin("http://[::1") == "<unparsable url>"


def test_scrub_removes_path_query_and_password() -> None:
    url = f"https://bot:hunter2@hooks.example.com{SECRET_PATH}?token={QUERY_SECRET}"
    text = f"failed on {url}; path {SECRET_PATH}; query token={QUERY_SECRET}; pw hunter2"
    out = redact_capability_url(text, url)
    for secret in (SECRET, QUERY_SECRET, "hunter2"):
        assert secret not in out
    assert "https://hooks.example.com/…" in out
