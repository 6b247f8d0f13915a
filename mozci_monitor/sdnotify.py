"""A tiny client of systemd's service notification protocol (``sd_notify(3)``).

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET``: a datagram socket to which the service
sends newline-separated ``KEY=VALUE`` assignments (``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ``STOPPING=1``). A leading ``@`` names a socket in Linux's abstract
namespace. Without the variable (not run by systemd) every call is a no-op.

Written here rather than taken from PyPI: ``sdnotify`` (last release 2017) is untyped and has
no watchdog support; ``systemd-watchdog`` cannot send ``STOPPING=1`` and reports a 24-hour
interval when the watchdog is off; ``systemd-python`` and ``cysystemd`` are C extensions that
need libsystemd to build. The protocol itself is one ``sendto`` per message.

The socket is non-blocking: if systemd's queue is full the message is dropped (and logged)
instead of stalling the event loop; notifications are advisory, a later one supersedes it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

_log = structlog.get_logger(__name__)


def _socket_address(raw: str) -> str | None:
    if raw.startswith("@"):
        # Abstract namespace: a leading NUL instead of a filesystem path.
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # systemd >= 254 also hands out vsock: addresses (for VMs); not supported here.
    return None


def watchdog_interval(
    environ: Mapping[str, str] | None = None, *, pid: int | None = None
) -> float | None:
    """Seconds within which systemd expects ``WATCHDOG=1``, or None when the watchdog is off.

    Mirrors ``sd_watchdog_enabled(3)``: ``WATCHDOG_USEC`` must be a positive integer and, when
    ``WATCHDOG_PID`` is set, it must be this process's pid (the variables may have been
    inherited from a parent). Ping at least twice per interval.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid is not None:
        if not watchdog_pid.isdigit():
            return None
        if int(watchdog_pid) != (os.getpid() if pid is None else pid):
            return None
    return int(usec) / 1_000_000


class SystemdNotifier:
    """Sends notifications to the socket named by ``NOTIFY_SOCKET`` (read once, at creation).

    Every method returns True if the message was handed to systemd, False if notification is
    disabled or the send failed; failures are logged, never raised: a daemon must not stop
    because its supervisor is not listening.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(raw) if raw else None
        if raw and self._address is None:
            _log.warning("unsupported NOTIFY_SOCKET address; systemd notifications disabled")
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Sends ``KEY=VALUE`` assignments in one datagram (what ``sd_notify`` does)."""
        if self._address is None or not assignments:
            return False
        for assignment in assignments:
            if "=" not in assignment or "\n" in assignment:
                raise ValueError(f"not a single KEY=VALUE assignment: {assignment!r}")
        message = "\n".join(assignments).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            _log.warning("systemd notification not sent", error=repr(exc), message=message)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup finished: systemd considers the unit started."""
        return self.notify("READY=1", *_status(status))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        """Still alive (resets the watchdog timer)."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown started."""
        return self.notify("STOPPING=1", *_status(status))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    # A newline would end the assignment and start another one.
    return ("STATUS=" + " ".join(text.splitlines()),)
