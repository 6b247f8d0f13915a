"""Running under systemd: READY, STATUS, WATCHDOG pings gated on health, STOPPING.

The watchdog must only be fed while the process does useful work: this coroutine runs on
the event loop (a blocked loop sends nothing) and pings only while `health().alive`, which
the daemon derives from its Pulse consumer loop being recent. A consumer hung on a silent
broker therefore stops the pings, and systemd (``WatchdogSec=``) restarts the service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

import structlog

from mozci_monitor.api.backend import HealthView
from mozci_monitor.sdnotify import watchdog_interval as systemd_watchdog_interval

log = structlog.get_logger(__name__)

DEFAULT_STATUS_INTERVAL = 10.0


class Notifier(Protocol):
    """What `mozci_monitor.sdnotify.SystemdNotifier` offers."""

    def ready(self, status: str | None = None) -> bool: ...
    def status(self, text: str) -> bool: ...
    def watchdog(self) -> bool: ...
    def stopping(self, status: str | None = None) -> bool: ...


async def run_systemd_integration(
    notifier: Notifier,
    health: Callable[[], HealthView],
    stop_event: asyncio.Event,
    *,
    watchdog_interval: float | None = None,
    status_interval: float = DEFAULT_STATUS_INTERVAL,
) -> None:
    """Report to systemd until `stop_event` is set, then send STOPPING and return.

    READY is sent the first time `health().alive` (the daemon started and its loops run).
    `watchdog_interval`: seconds systemd waits for a ping; None reads ``WATCHDOG_USEC``
    (``sd_watchdog_enabled``), 0 disables pings. Pings go at half the interval.
    """
    interval = systemd_watchdog_interval() if watchdog_interval is None else watchdog_interval
    tick = min(status_interval, interval / 2) if interval else status_interval
    ready_sent = False
    last_status: str | None = None
    withheld = False
    while not stop_event.is_set():
        view = health()
        status = _status_line(view)
        if not ready_sent and view.alive:
            notifier.ready(status)
            ready_sent, last_status = True, status
            log.info("systemd: ready", status=status)
        elif ready_sent and status != last_status:
            notifier.status(status)
            last_status = status
        if ready_sent and interval:
            if view.alive:
                notifier.watchdog()
                if withheld:
                    log.info("systemd watchdog: pinging again")
                withheld = False
            elif not withheld:
                withheld = True
                log.error("systemd watchdog: not alive, pings withheld", reasons=view.reasons)
        # asyncio.timeout: wait_for can swallow a cancellation on 3.11 (CPython gh-86296).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(tick):
                await stop_event.wait()
    notifier.stopping("stopping")
    log.info("systemd: stopping")


def _status_line(view: HealthView) -> str:
    if view.status:
        return view.status
    if view.ready:
        return "ready"
    return "not ready: " + "; ".join(view.reasons) if view.reasons else "starting"
