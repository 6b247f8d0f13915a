"""Publishes notifications to a Pulse (RabbitMQ) topic exchange of our own.

Pulse only lets a user declare exchanges named ``exchange/<user>/...``; ours are
``exchange/<user>/mozci-monitor/v1/<kind>``, one per campaign kind, like Taskcluster's one
exchange per task event. Routing keys are ``<kind>.<outcome>.<campaign_id>`` so consumers can
bind e.g. ``*.gave-up.#``.

kombu is blocking and its connections are not thread-safe: every broker call of a sink runs
on that sink's single worker thread, which keeps one connection open across sends. (kombu is
only partly typed, hence the ``no-untyped-call`` ignores.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import structlog
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.messaging import Producer

from mozci_monitor.notify.model import Notification, NotificationError

_log = structlog.get_logger(__name__)

MESSAGE_VERSION = 1


def exchange_name(user: str, kind: str) -> str:
    """``exchange/<user>/mozci-monitor/v1/<kind>``: the prefix Pulse requires of ``user``."""
    if not user or "/" in user:
        raise ValueError(f"invalid Pulse user {user!r}")
    return f"exchange/{user}/mozci-monitor/v1/{_key_part(kind)}"


def routing_key(notification: Notification) -> str:
    """``<kind>.<outcome>.<campaign_id>``, dots inside each part replaced by ``_``."""
    parts = (notification.kind, notification.outcome, notification.campaign_id)
    return ".".join(_key_part(part) for part in parts)


def message_body(notification: Notification) -> dict[str, Any]:
    """The JSON body: the notification's structured form plus a schema version."""
    return {"version": MESSAGE_VERSION, **notification.as_json()}


def _key_part(value: str) -> str:
    # A dot would split one field into two routing-key words; an empty word reads as `_`, the
    # Taskcluster convention for empty routing-key fields.
    return value.replace(".", "_").replace("/", "_") or "_"


class PulseSink:
    """Publishes each notification as a persistent JSON message, with publisher confirms.

    ``url`` is a kombu URL (``amqps://user:password@pulse.mozilla.org:5671`` in production,
    ``memory://`` in tests); it is never logged whole. Pass ``connection_factory`` instead to
    control how connections are built. On a connection error kombu reconnects and retries up
    to ``max_retries`` times; if that is not enough the connection is dropped, the next send
    opens a fresh one, and this send raises :class:`NotificationError`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        user: str,
        connection_factory: Callable[[], Connection] | None = None,
        max_retries: int = 2,
        confirm_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        name: str = "pulse",
    ) -> None:
        if (url is None) == (connection_factory is None):
            raise ValueError("PulseSink needs exactly one of url or connection_factory")
        exchange_name(user, "check")  # validates the user early, at configuration time
        self.name = name
        self.user = user
        self._max_retries = max_retries
        self._confirm_timeout = confirm_timeout
        self._factory = connection_factory or _url_factory(
            url or "",
            max_retries=max_retries,
            connect_timeout=connect_timeout,
            connection_name=f"mozci-monitor {name}",
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"notify-{name}"
        )
        # Touched only from the worker thread.
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._closed = False
        # How many connections this sink has opened (1 while the first one holds up).
        self.connections_opened = 0

    async def send(self, notification: Notification) -> None:
        """Publishes on the worker thread. Cancelling the await does not stop a publish
        already under way: a retried send may then publish twice, with the same message_id
        (the notification key) for consumers to deduplicate on."""
        if self._closed:
            raise NotificationError(self.name, notification.key, "the sink is closed")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._publish, notification)

    async def aclose(self) -> None:
        """Closes the broker connection and stops the worker thread; sends fail after this."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_connection)
        self._executor.shutdown(wait=False)

    def _publish(self, notification: Notification) -> None:
        exchange = Exchange(  # type: ignore[no-untyped-call]
            exchange_name(self.user, notification.kind),
            type="topic",
            durable=True,
            auto_delete=False,
        )
        key = routing_key(notification)
        try:
            producer = self._get_producer()
            producer.publish(  # type: ignore[no-untyped-call]
                message_body(notification),
                exchange=exchange,
                routing_key=key,
                declare=[exchange],
                serializer="json",
                delivery_mode="persistent",
                message_id=notification.key,
                retry=True,
                retry_policy={
                    "max_retries": self._max_retries,
                    "interval_start": 0,
                    "interval_step": 1,
                    "interval_max": 2,
                },
                confirm_timeout=self._confirm_timeout,
            )
        except Exception as exc:
            # Whatever broke (connection, channel, nack, confirm timeout), the connection may
            # be half-dead: start from a fresh one next time.
            where = self._where()
            self._drop_connection()
            raise NotificationError(
                self.name,
                notification.key,
                f"publish to {exchange.name} ({key}) on {where} failed: "
                f"{type(exc).__name__}: {exc}",
            ) from exc
        _log.debug(
            "pulse notification published",
            sink=self.name,
            key=notification.key,
            exchange=exchange.name,
            routing_key=key,
        )

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._connection = self._factory()
            self.connections_opened += 1
            # The channel (and so the network connection) is opened lazily, inside
            # publish()'s retry loop, so a broker that is down is retried like any error.
            self._producer = Producer(self._connection)  # type: ignore[no-untyped-call]
        return self._producer

    def _drop_connection(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()  # type: ignore[no-untyped-call]
            except Exception as exc:  # closing a broken connection may fail; it is gone anyway
                _log.debug("pulse connection release failed", sink=self.name, error=repr(exc))

    def _where(self) -> str:
        if self._connection is None:
            return "<no connection>"
        # as_uri() masks the password.
        return str(self._connection.as_uri())


def _url_factory(
    url: str, *, max_retries: int, connect_timeout: float, connection_name: str
) -> Callable[[], Connection]:
    def make() -> Connection:
        return Connection(  # type: ignore[no-untyped-call]
            url,
            connect_timeout=connect_timeout,
            transport_options={
                # Honoured by the py-amqp transport (the real broker), ignored by memory://.
                "confirm_publish": True,
                # Bounds the reconnection loop of Connection.default_channel, which
                # otherwise retries forever and would wedge the worker thread.
                "max_retries": max_retries,
                "interval_start": 0,
                "interval_step": 1,
                "interval_max": 2,
                # Shown by the broker's management UI (and PulseGuardian): says who we are.
                "client_properties": {"connection_name": connection_name},
            },
        )

    return make
