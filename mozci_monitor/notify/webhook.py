"""JSON POST to an incoming webhook (Slack, Matrix hookshot, or anything reading ``text``)."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog

from mozci_monitor.notify.model import Notification, NotificationError
from mozci_monitor.notify.render import render_html, render_markdown
from mozci_monitor.redact import redact_capability_url, url_origin

_log = structlog.get_logger(__name__)

_MAX_ERROR_BODY = 200


def webhook_payload(notification: Notification) -> dict[str, Any]:
    """The request body.

    ``text`` is Markdown: Matrix hookshot generic webhooks render it (and prefer ``html``
    when present); Slack shows it as written, which reads as plain text. Both ignore other
    fields, which carry the structured notification for receivers that want it.
    """
    return {
        "text": render_markdown(notification),
        "html": render_html(notification),
        "notification": notification.as_json(),
    }


class WebhookSink:
    """POSTs :func:`webhook_payload` to ``url`` with the injected aiohttp session.

    The URL is a secret (the token sits in its path or query): logs and errors only ever
    show :func:`url_origin` of it.
    """

    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession,
        timeout: float = 10.0,
        name: str = "webhook",
    ) -> None:
        self.name = name
        self._url = url
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._where = url_origin(url)

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r}, url={self._where!r})"

    async def send(self, notification: Notification) -> None:
        try:
            async with self._session.post(
                self._url,
                json=webhook_payload(notification),
                timeout=self._timeout,
                # Receivers that deduplicate can use it; those that do not ignore it.
                headers={"Idempotency-Key": notification.key},
            ) as response:
                if not 200 <= response.status < 300:
                    body = (await response.text(errors="replace"))[:_MAX_ERROR_BODY]
                    raise NotificationError(
                        self.name,
                        notification.key,
                        f"POST {self._where} answered HTTP {response.status}: "
                        f"{redact_capability_url(body, self._url)!r}",
                    )
        except TimeoutError:  # asyncio.TimeoutError is this builtin since 3.11
            raise NotificationError(
                self.name,
                notification.key,
                f"POST {self._where} timed out after {self._timeout.total}s",
            ) from None
        except aiohttp.ClientError as exc:
            # `from None`: aiohttp's exceptions quote the full URL, secret included.
            raise NotificationError(
                self.name,
                notification.key,
                f"POST {self._where} failed: {type(exc).__name__}: "
                f"{redact_capability_url(str(exc), self._url)}",
            ) from None
        _log.debug("webhook delivered", sink=self.name, key=notification.key, url=self._where)


__all__ = ["WebhookSink", "webhook_payload"]
