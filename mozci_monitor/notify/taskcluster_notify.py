"""Mail and Matrix messages through the Taskcluster Notify service (``notify/v1``).

Request bodies follow ``v1/email-request.json`` and ``v1/matrix-request.json`` of the Notify
API reference. Notify itself drops duplicates (it answers 204 then), so retrying a send that
partly succeeded does not spam the recipients who already got it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import aiohttp
import structlog
import taskcluster.aio
import taskcluster.exceptions

from mozci_monitor.notify.model import Notification, NotificationError
from mozci_monitor.notify.render import render_html, render_markdown, render_subject, render_text

_log = structlog.get_logger(__name__)

# Limits from v1/email-request.json.
_SUBJECT_MAX = 255
_CONTENT_MAX = 102_400
_LINK_TEXT_MAX = 40
_LINK_HREF_MAX = 1024

MatrixMsgType = Literal["m.notice", "m.text", "m.emote"]


class NotifyClient(Protocol):
    """The two calls of ``taskcluster.aio.Notify`` this sink uses (a fake in tests)."""

    async def email(self, payload: Mapping[str, Any]) -> Any: ...

    async def matrix(self, payload: Mapping[str, Any]) -> Any: ...


def make_notify_client(
    root_url: str,
    *,
    session: aiohttp.ClientSession | None,
    credentials: Mapping[str, str] | None = None,
    max_retries: int = 1,
) -> NotifyClient:
    """A ``taskcluster.aio.Notify`` on ``root_url``.

    Without ``credentials`` the client falls back on ``TASKCLUSTER_CLIENT_ID`` /
    ``TASKCLUSTER_ACCESS_TOKEN``. Retries stay few: the daemon's outbox retries durably.
    """
    options: dict[str, Any] = {"rootUrl": root_url, "maxRetries": max_retries}
    if credentials:
        options["credentials"] = dict(credentials)
    client: NotifyClient = taskcluster.aio.Notify(options, session=session)
    return client


def email_request(
    notification: Notification, address: str, *, link_text: str = "Open campaign"
) -> dict[str, Any]:
    """A ``v1/email-request.json`` body; ``details["url"]`` (if any) becomes the mail's button."""
    body: dict[str, Any] = {
        "address": address,
        "subject": render_subject(notification)[:_SUBJECT_MAX],
        "content": render_markdown(notification)[:_CONTENT_MAX],
        "template": "simple",
    }
    url = notification.details.get("url")
    if isinstance(url, str) and url and len(url) <= _LINK_HREF_MAX:
        body["link"] = {"text": link_text[:_LINK_TEXT_MAX], "href": url}
    return body


def matrix_request(
    notification: Notification, room_id: str, *, msgtype: MatrixMsgType = "m.notice"
) -> dict[str, Any]:
    """A ``v1/matrix-request.json`` body: plain ``body`` plus an HTML ``formattedBody``."""
    return {
        "roomId": room_id,
        "body": render_text(notification),
        "format": "org.matrix.custom.html",
        "formattedBody": render_html(notification),
        "msgtype": msgtype,
    }


class TaskclusterNotifySink:
    """Sends one mail per address and one Matrix message per room through Notify.

    Every target is tried even when an earlier one fails; the error then lists all the
    failed targets.
    """

    def __init__(
        self,
        client: NotifyClient,
        *,
        emails: Sequence[str] = (),
        matrix_rooms: Sequence[str] = (),
        matrix_msgtype: MatrixMsgType = "m.notice",
        name: str = "taskcluster-notify",
    ) -> None:
        if not emails and not matrix_rooms:
            raise ValueError("TaskclusterNotifySink needs at least one email address or room")
        self.name = name
        self._client = client
        self._emails = tuple(emails)
        self._rooms = tuple(matrix_rooms)
        self._msgtype = matrix_msgtype

    async def send(self, notification: Notification) -> None:
        failures: list[str] = []
        for address in self._emails:
            error = await self._call(self._client.email, email_request(notification, address))
            if error:
                failures.append(f"email to {address}: {error}")
        for room in self._rooms:
            payload = matrix_request(notification, room, msgtype=self._msgtype)
            error = await self._call(self._client.matrix, payload)
            if error:
                failures.append(f"matrix room {room}: {error}")
        if failures:
            raise NotificationError(self.name, notification.key, "; ".join(failures))
        _log.debug(
            "taskcluster notify delivered",
            sink=self.name,
            key=notification.key,
            emails=len(self._emails),
            rooms=len(self._rooms),
        )

    @staticmethod
    async def _call(method: Any, payload: dict[str, Any]) -> str | None:
        """None on success, else a one-line reason."""
        try:
            await method(payload)
        except taskcluster.exceptions.TaskclusterRestFailure as exc:
            return f"HTTP {exc.status_code}: {_first_line(str(exc))}"
        except taskcluster.exceptions.TaskclusterFailure as exc:
            return f"{type(exc).__name__}: {_first_line(str(exc))}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {_first_line(str(exc))}"
        return None


def _first_line(message: str) -> str:
    # Taskcluster's error messages carry the whole request description over many lines.
    return message.strip().splitlines()[0] if message.strip() else "(no message)"
