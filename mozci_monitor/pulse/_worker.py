"""The kombu thread: owns the connection and channel, consumes, acks, binds, reconnects.

Only this thread touches kombu objects (channels are not thread-safe). Other threads leave
requests in `SharedState` and wake it through the `Waker`, so an ack goes out as soon as it
is requested instead of after the next drain timeout.

Liveness: the loop refreshes `last_loop_monotonic` on every pass while the link is live
(something arrived from the broker within one heartbeat interval; the broker sends
heartbeats about every half interval). A kombu call that blocks, a broker frozen with its
socket still open, or a reconnect that keeps timing out all leave the timestamp stale, which
is what `PulseConsumer.is_stalled` reports. Reconnect back-off after a refused or closed
connection does refresh it: the thread is then healthy, just disconnected.
"""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import structlog
from amqp.exceptions import ConnectionForced
from kombu.connection import Connection as _KombuConnection
from kombu.exceptions import KombuError

from mozci_monitor.core.errors import Stopped
from mozci_monitor.redact import redact_text, redact_url

from ._acks import Unsettled
from ._bridge import Settle, SharedState
from ._read_ahead import ReadAhead
from ._wakeup import Waker, readable_now, wait_readable
from .delivery import Delivery
from .settings import ConsumerSettings

log = structlog.get_logger(__name__)

# Upper bound on frames read before the thread goes back to acks and bindings.
_MAX_FRAMES_PER_PASS = 3000
# Unbinding is never urgent (a message of a group no longer watched is only counted as
# unwatched), but each key costs one round trip per exchange during which nothing is
# acked: under load, one key per this many seconds; at once when a pass drained nothing.
_UNBIND_INTERVAL = 1.0
# Transports without a socket (memory://) are polled at this interval.
_POLL_INTERVAL = 0.02
# Error codes that retrying cannot fix while starting: access refused, not found,
# precondition failed (queue declared with other arguments), not allowed.
_FATAL_CODES = frozenset({403, 404, 406, 530})

StartCallback = Callable[[BaseException | None], None]


class Connection(Protocol):
    """The part of kombu.Connection this thread uses (kombu itself is untyped)."""

    @property
    def connection(self) -> Any: ...  # the transport's (amqp.Connection for amqp://)
    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]: ...
    @property
    def channel_errors(self) -> tuple[type[BaseException], ...]: ...

    def ensure_connection(self, *, max_retries: int) -> object: ...
    def get_heartbeat_interval(self) -> float: ...
    def heartbeat_check(self, rate: int = 2) -> None: ...
    def collect(self) -> None: ...
    def release(self) -> None: ...
    def channel(self) -> Any: ...
    def drain_events(self, *, timeout: float) -> object: ...


class StopConsuming(Stopped):
    """Raised inside the thread when a clean stop has been carried out."""


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_fatal_at_start(exc: BaseException) -> bool:
    """Errors that retrying cannot fix: credentials, permissions, certificates, arguments."""
    return any(
        isinstance(link, ssl.SSLCertVerificationError)
        or getattr(link, "code", None) in _FATAL_CODES
        or getattr(link, "reply_code", None) in _FATAL_CODES
        for link in _exception_chain(exc)
    )


def is_silence(exc: BaseException) -> bool:
    """The broker stopped answering (as opposed to refusing or closing the connection)."""
    for link in _exception_chain(exc):
        if isinstance(link, TimeoutError):
            return True
        if isinstance(link, ConnectionForced) and "heartbeat" in str(link).lower():
            return True
    return False


def describe(exc: BaseException, url: str) -> str:
    """The error as text, redacted; the URL's password is masked wherever it appears, quoted
    or not (kombu's messages quote it either way)."""
    password = urlsplit(url).password or ""
    return redact_text(f"{type(exc).__name__}: {exc}", (password, unquote(password)))


class KombuWorker:
    def __init__(
        self,
        settings: ConsumerSettings,
        state: SharedState,
        waker: Waker,
        on_started: StartCallback,
    ) -> None:
        self._settings = settings
        self._state = state
        self._waker = waker
        self._on_started = on_started
        self._started = False
        self._sessions = 0
        self._generation = 0
        # What the durable queue may already be bound to (the last run's bindings): keys
        # among these that are not desired any more get unbound on the first sync.
        self._bound: set[str] = set(settings.routing_keys)
        self._bindings_version = -1
        self._quiet = True  # the last pass drained no delivery
        self._next_unbind = 0.0
        self._declared_once = False
        self._queue_lost = False
        self._consumer_tag = ""
        self._consumer_cancelled = False
        self._pending: list[Delivery] = []
        self._unsettled = Unsettled()  # of the current channel, for multiple acks
        self._last_frames: int | None = None
        self._last_inbound = time.monotonic()
        self._read_ahead: ReadAhead | None = None
        self._url = redact_url(settings.url)
        self._log = log.bind(queue=settings.queue_name, url=self._url)

    # -- thread entry --------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # a bug: report it rather than dying silently
            self._log.exception("pulse.worker_crashed")
            self._state.set_error(describe(exc, self._settings.url))
            self._report_start(exc)
        finally:
            self._state.set_connected(False)
            self._report_start(ConnectionError("consumer stopped before connecting"))

    def _run(self) -> None:
        failures = 0
        while not self._state.stop_requested:
            connection = self._new_connection()
            sessions_before = self._sessions
            silent = False
            try:
                self._serve(connection)
                return
            except StopConsuming:
                return
            except Exception as exc:
                silent = is_silence(exc)
                error = describe(exc, self._settings.url)
                self._state.set_error(error)
                expected = (
                    *connection.connection_errors,
                    *connection.channel_errors,
                    OSError,
                    KombuError,
                )
                if not self._started and (is_fatal_at_start(exc) or not isinstance(exc, expected)):
                    self._log.error("pulse.connect_failed", error=error)
                    self._report_start(exc)
                    return
                if isinstance(exc, expected):
                    self._log.warning("pulse.connection_lost", error=error, silent=silent)
                else:
                    self._log.exception("pulse.unexpected_error", error=error)
            finally:
                self._discard(connection)
                self._state.set_connected(False)
            if self._sessions > sessions_before:
                failures = 0  # that session got as far as consuming: start the back-off over
            delay = self._backoff(failures)
            failures += 1
            self._sleep(delay, refresh_liveness=not silent)

    def _backoff(self, failures: int) -> float:
        ceiling = min(
            self._settings.reconnect_max_delay,
            self._settings.reconnect_initial_delay * (2 ** min(failures, 30)),
        )
        return random.uniform(ceiling / 2, ceiling)  # jitter: consumers do not reconnect in step

    def _sleep(self, delay: float, *, refresh_liveness: bool) -> None:
        deadline = time.monotonic() + delay
        while not self._state.stop_requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if refresh_liveness:
                self._state.touch(time.monotonic())
            self._waker.wait(min(remaining, 1.0))

    def _report_start(self, error: BaseException | None) -> None:
        if not self._started:
            self._started = True
            self._on_started(error)

    # -- connection ----------------------------------------------------------------------

    def _new_connection(self) -> Connection:
        ssl_options: dict[str, Any] | bool = False
        if self._settings.uses_tls:
            host = urlsplit(self._settings.url).hostname
            context: dict[str, Any] = {"check_hostname": True}
            if self._settings.tls_ca_file:
                context["cafile"] = self._settings.tls_ca_file
            ssl_options = {"context": context, "server_hostname": host}
        heartbeat = max(1, round(self._settings.heartbeat)) if self._settings.heartbeat else 0
        transport_options: dict[str, Any] = {}
        if hasattr(socket, "TCP_USER_TIMEOUT") and not self._settings.url.startswith("memory:"):
            # py-amqp drops a connection whose sent data stays unacknowledged for 1 s, which
            # a busy broker applying flow control (or a slow network) easily causes. Dead
            # peers are the heartbeats' job: allow as long as they do.
            user_timeout_ms = int(2 * (heartbeat or 15) * 1000)
            transport_options["socket_settings"] = {socket.TCP_USER_TIMEOUT: user_timeout_ms}
        connection: Connection = _KombuConnection(  # type: ignore[no-untyped-call]
            self._settings.url,
            heartbeat=heartbeat,  # AMQP negotiates whole seconds
            connect_timeout=self._settings.connect_timeout,
            ssl=ssl_options,
            transport_options=transport_options,
        )
        return connection

    def _serve(self, connection: Connection) -> None:
        connection.ensure_connection(max_retries=0)
        heartbeat = float(connection.get_heartbeat_interval() or 0)
        self._state.set_heartbeat(heartbeat)
        sock = _amqp_socket(connection)
        self._read_ahead = ReadAhead.install(connection.connection) if sock else None
        self._last_frames = None
        self._last_inbound = time.monotonic()
        channel = self._open_session(connection)
        while True:
            self._apply_requests(channel)
            deadline = self._state.close_deadline
            if deadline is not None:
                self._apply_requests(channel)  # acks requested just before the close
                self._close(connection, sock, deadline)
                raise StopConsuming
            self._wait_and_drain(connection, sock, heartbeat)
            self._quiet = not self._pending
            self._state.deliver(self._pending)
            self._pending = []
            if self._queue_lost:
                channel = self._recover_queue(connection, channel)
            connection.heartbeat_check(rate=2)
            self._refresh_liveness(connection, heartbeat)

    def _discard(self, connection: Connection) -> None:
        # collect() drops the socket without the close handshake, which would block forever
        # on a broker that keeps the TCP connection open but never answers.
        with contextlib.suppress(Exception):
            connection.collect()
        self._pending = []

    def _close(self, connection: Connection, sock: socket.socket | None, deadline: float) -> None:
        # A clean close (broker requeues nothing we acked), bounded by the stop deadline.
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(max(0.1, min(deadline - time.monotonic(), 5.0)))
        try:
            connection.release()
        except Exception as exc:
            self._log.info("pulse.close_unclean", error=describe(exc, self._settings.url))
            self._discard(connection)
        self._log.info("pulse.closed")

    # -- queue, bindings, consuming ------------------------------------------------------

    def _open_session(self, connection: Connection) -> Any:
        channel = self._declare_queue(connection)
        for name in self._settings.exchanges:
            channel.exchange_declare(
                exchange=name,
                type="topic",
                durable=True,
                auto_delete=False,
                passive=not self._settings.declare_exchanges,
            )
        self._bindings_version = -1
        self._sync_bindings(channel, rebind_all=True)
        # Positional: amqp and the virtual transports name the global flag differently.
        channel.basic_qos(0, self._settings.prefetch, False)
        self._generation += 1
        self._unsettled = Unsettled()
        self._consumer_tag = f"mozci-monitor-{uuid.uuid4().hex[:12]}"
        self._consumer_cancelled = False
        channel.basic_consume(
            queue=self._settings.queue_name,
            no_ack=False,
            callback=self._on_message,
            consumer_tag=self._consumer_tag,
            on_cancel=self._on_cancel,
        )
        self._state.set_connected(True, generation=self._generation)
        self._state.set_error(None)
        if self._sessions > 0 and not self._queue_lost:
            self._state.count_reconnect()
        self._queue_lost = False
        self._sessions += 1
        self._log.info("pulse.consuming", generation=self._generation, bindings=len(self._bound))
        self._report_start(None)
        return channel

    def _declare_queue(self, connection: Connection) -> Any:
        name = self._settings.queue_name
        channel = connection.channel()
        try:
            channel.queue_declare(queue=name, passive=True)
            existed = True
        except connection.channel_errors:
            existed = False
            with contextlib.suppress(Exception):
                channel.close()
            channel = connection.channel()  # the failed passive declare closed the channel
        channel.queue_declare(
            queue=name,
            durable=True,
            exclusive=False,
            auto_delete=False,
            arguments=self._settings.queue_arguments or None,
        )
        if not existed:
            self._bound = set()
        if (not existed and self._declared_once) or self._queue_lost:
            self._state.count_queue_recreation()
            self._log.warning("pulse.queue_recreated")
        self._declared_once = True
        return channel

    def _recover_queue(self, connection: Connection, channel: Any) -> Any:
        """The broker cancelled our consumer: the queue was deleted (PulseGuardian does)."""
        self._log.warning("pulse.consumer_cancelled_by_broker")
        with contextlib.suppress(Exception):
            channel.close()
        self._bound = set()
        return self._open_session(connection)

    def _sync_bindings(self, channel: Any, *, rebind_all: bool = False) -> None:
        desired, version = self._state.bindings()
        if version == self._bindings_version and not rebind_all and self._bound <= desired:
            return
        queue = self._settings.queue_name
        to_bind = desired if rebind_all else desired - self._bound
        for key in sorted(to_bind):
            for exchange in self._settings.exchanges:
                channel.queue_bind(queue=queue, exchange=exchange, routing_key=key)
            self._bound.add(key)
        self._bindings_version = version
        to_unbind = sorted(self._bound - desired)
        if not rebind_all and to_unbind:
            now = time.monotonic()
            if not self._quiet and now < self._next_unbind:
                return
            self._next_unbind = now + _UNBIND_INTERVAL
            to_unbind = to_unbind if self._quiet else to_unbind[:1]
        for key in to_unbind:
            for exchange in self._settings.exchanges:
                channel.queue_unbind(queue=queue, exchange=exchange, routing_key=key)
            self._bound.discard(key)

    def _on_message(self, message: Any) -> None:
        info = message.delivery_info
        body = message.body
        if isinstance(body, str):
            body = body.encode()
        self._unsettled.delivered(message.delivery_tag)
        self._pending.append(
            Delivery(
                exchange=str(info.get("exchange", "")),
                routing_key=str(info.get("routing_key", "")),
                body=bytes(body),
                redelivered=bool(info.get("redelivered", False)),
                _tag=message.delivery_tag,
                _generation=self._generation,
            )
        )

    def _on_cancel(self, consumer_tag: str) -> None:
        if consumer_tag == self._consumer_tag:
            self._queue_lost = True

    def _apply_requests(self, channel: Any) -> None:
        rejected = stale = 0
        acks: list[int | str] = []
        for delivery, how in self._state.take_settles():
            if delivery._generation != self._generation:
                stale += 1  # that channel is gone; the broker redelivers the message
            elif how is Settle.ACK:
                acks.append(delivery._tag)
            else:
                channel.basic_reject(delivery._tag, requeue=how is Settle.REQUEUE)
                self._unsettled.rejected(delivery._tag)
                rejected += 1
        acked = len(acks)
        if acks:
            # One frame for a committed batch instead of one per message.
            plan = self._unsettled.plan(acks)
            if plan.up_to is not None:
                channel.basic_ack(plan.up_to, multiple=True)
            for tag in plan.singles:
                channel.basic_ack(tag)
        if acked or rejected or stale:
            self._state.count_settled(acked, rejected, stale)
        self._sync_bindings(channel)
        if self._state.stop_requested and not self._consumer_cancelled:
            channel.basic_cancel(self._consumer_tag)
            self._consumer_cancelled = True
            self._log.info("pulse.consumer_cancelled")

    # -- waiting -------------------------------------------------------------------------

    def _wait_and_drain(
        self, connection: Connection, sock: socket.socket | None, heartbeat: float
    ) -> None:
        if sock is None:
            self._drain_polling(connection)
            return
        # Wake at least 4 times per heartbeat interval so heartbeat_check runs in time.
        tick = min(1.0, heartbeat / 4) if heartbeat else 1.0
        socket_ready = False
        if not self._buffered():
            socket_ready, _ = wait_readable(sock, self._waker, tick)
            if not socket_ready:
                return
        frames = 0
        while frames < _MAX_FRAMES_PER_PASS:
            if self._read_ahead is not None:
                frames += self._read_ahead.parse_buffered_frames(_MAX_FRAMES_PER_PASS - frames)
            # What is left is part of a frame, or nothing: the socket has the rest, if any.
            if frames >= _MAX_FRAMES_PER_PASS or not (socket_ready or readable_now(sock)):
                return
            socket_ready = False
            try:
                # A positive timeout: with 0, py-amqp busy-loops on a half-received frame.
                connection.drain_events(timeout=tick)
            except TimeoutError:
                return
            frames += 1

    def _buffered(self) -> bool:
        return self._read_ahead is not None and self._read_ahead.buffered()

    def _drain_polling(self, connection: Connection) -> None:
        drained = 0
        for _ in range(_MAX_FRAMES_PER_PASS):
            try:
                connection.drain_events(timeout=0)
            except TimeoutError:
                break
            drained += 1
        if not drained:
            self._waker.wait(_POLL_INTERVAL)

    def _refresh_liveness(self, connection: Connection, heartbeat: float) -> None:
        now = time.monotonic()
        frames = getattr(connection.connection, "bytes_recv", None)
        if frames is None or not heartbeat:
            self._state.touch(now)  # no heartbeats to judge the link by
            return
        if frames != self._last_frames:
            self._last_frames = frames
            self._last_inbound = now
        if now - self._last_inbound <= heartbeat:
            self._state.touch(now)


def _amqp_socket(connection: Connection) -> socket.socket | None:
    sock = getattr(connection.connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
