"""Builds the configured sinks from the ``[notify]`` table of the daemon's configuration.

Example::

    [notify]
    sinks = ["log", "webhook", "taskcluster", "pulse"]
    webhook_url = "https://hooks.slack.com/services/..."   # secret
    webhook_timeout = 10
    email = ["sheriff@example.com"]
    matrix_room = "!abcdef:mozilla.org"                     # or matrix_rooms = [...]
    taskcluster_root_url = "https://firefox-ci-tc.services.mozilla.com"
    taskcluster_client_id = "..."                            # optional: else the TASKCLUSTER_*
    taskcluster_access_token = "..."                         # environment variables are used
    pulse_user = "mozci-monitor"
    pulse_url = "amqps://user:password@pulse.mozilla.org:5671"  # secret

Unknown sink names and missing or malformed settings raise :class:`NotifyConfigError` at start
rather than on the first notification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from kombu.connection import Connection

from mozci_monitor.core.errors import NotifyConfigError as NotifyConfigError
from mozci_monitor.notify.log_sink import LogSink
from mozci_monitor.notify.model import Sink
from mozci_monitor.notify.pulse_sink import PulseSink
from mozci_monitor.notify.taskcluster_notify import (
    NotifyClient,
    TaskclusterNotifySink,
    make_notify_client,
)
from mozci_monitor.notify.webhook import WebhookSink

SINK_NAMES = ("log", "webhook", "taskcluster", "pulse")


def build_sinks(
    config: Mapping[str, Any],
    *,
    session: aiohttp.ClientSession,
    notify_client: NotifyClient | None = None,
    pulse_url: str | None = None,
    pulse_connection_factory: Callable[[], Connection] | None = None,
) -> list[Sink]:
    """One sink per entry of ``config["sinks"]`` (default: ``["log"]``), in that order.

    ``session`` serves the webhook and the Taskcluster client. ``notify_client`` replaces the
    Taskcluster client (tests); ``pulse_url`` / ``pulse_connection_factory`` override
    ``config["pulse_url"]`` (the daemon may share the URL of its Pulse consumer).
    """
    names = _str_list(config, "sinks", default=["log"])
    if len(set(names)) != len(names):
        raise NotifyConfigError(f"notify.sinks lists a sink twice: {names}")
    sinks: list[Sink] = []
    for name in names:
        if name == "log":
            sinks.append(LogSink())
        elif name == "webhook":
            sinks.append(_webhook(config, session))
        elif name == "taskcluster":
            sinks.append(_taskcluster(config, session, notify_client))
        elif name == "pulse":
            sinks.append(_pulse(config, pulse_url, pulse_connection_factory))
        else:
            raise NotifyConfigError(
                f"notify.sinks: unknown sink {name!r} (known: {', '.join(SINK_NAMES)})"
            )
    return sinks


async def close_sinks(sinks: Sequence[Sink]) -> None:
    """Releases what sinks hold (the Pulse connection and thread); others need nothing."""
    for sink in sinks:
        aclose = getattr(sink, "aclose", None)
        if aclose is not None:
            await aclose()


def _webhook(config: Mapping[str, Any], session: aiohttp.ClientSession) -> WebhookSink:
    url = _required_str(config, "webhook_url", "webhook")
    if not url.startswith(("https://", "http://")):
        # Do not echo the value: it is a secret.
        raise NotifyConfigError("notify.webhook_url must be an http(s) URL")
    timeout = config.get("webhook_timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise NotifyConfigError("notify.webhook_timeout must be a positive number of seconds")
    return WebhookSink(url, session=session, timeout=float(timeout))


def _taskcluster(
    config: Mapping[str, Any],
    session: aiohttp.ClientSession,
    notify_client: NotifyClient | None,
) -> TaskclusterNotifySink:
    emails = _str_list(config, "email", default=[])
    rooms = _str_list(config, "matrix_rooms", default=[])
    if "matrix_room" in config:
        rooms = [_required_str(config, "matrix_room", "taskcluster"), *rooms]
    if not emails and not rooms:
        raise NotifyConfigError(
            "the taskcluster sink needs notify.email and/or notify.matrix_room(s)"
        )
    for address in emails:
        if "@" not in address:
            raise NotifyConfigError(f"notify.email: {address!r} is not an email address")
    for room in rooms:
        if not room.startswith("!") or ":" not in room:
            raise NotifyConfigError(
                f"notify.matrix_room: {room!r} is not a room id like '!abc:mozilla.org'"
            )
    if notify_client is None:
        root_url = _required_str(config, "taskcluster_root_url", "taskcluster")
        client_id = config.get("taskcluster_client_id")
        access_token = config.get("taskcluster_access_token")
        credentials = None
        if client_id or access_token:
            if not (isinstance(client_id, str) and isinstance(access_token, str)):
                raise NotifyConfigError(
                    "notify.taskcluster_client_id and notify.taskcluster_access_token go together"
                )
            credentials = {"clientId": client_id, "accessToken": access_token}
        notify_client = make_notify_client(root_url, session=session, credentials=credentials)
    return TaskclusterNotifySink(notify_client, emails=emails, matrix_rooms=rooms)


def _pulse(
    config: Mapping[str, Any],
    pulse_url: str | None,
    factory: Callable[[], Connection] | None,
) -> PulseSink:
    user = _required_str(config, "pulse_user", "pulse")
    if "/" in user:
        raise NotifyConfigError(f"notify.pulse_user: {user!r} must not contain '/'")
    if factory is not None:
        return PulseSink(user=user, connection_factory=factory)
    url = pulse_url or _required_str(config, "pulse_url", "pulse")
    return PulseSink(url, user=user)


def _required_str(config: Mapping[str, Any], key: str, sink: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise NotifyConfigError(f"the {sink} sink needs notify.{key} (a non-empty string)")
    return value


def _str_list(config: Mapping[str, Any], key: str, *, default: list[str]) -> list[str]:
    value = config.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise NotifyConfigError(f"notify.{key} must be a list of non-empty strings")
    return list(value)
