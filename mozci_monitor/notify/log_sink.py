"""The sink that always works: one structured log line per notification."""

from __future__ import annotations

import structlog

from mozci_monitor.notify.model import Notification
from mozci_monitor.notify.render import render_text

_log = structlog.get_logger(__name__)

# Outcomes a person should look at are logged as warnings; everything else at info.
_ATTENTION_OUTCOMES = frozenset({"gave-up", "budget-exhausted", "failed"})


class LogSink:
    """Writes the notification as one event of this module's structlog logger."""

    def __init__(self, *, name: str = "log") -> None:
        self.name = name

    async def send(self, notification: Notification) -> None:
        emit = _log.warning if notification.outcome in _ATTENTION_OUTCOMES else _log.info
        emit(
            "notification",
            sink=self.name,
            key=notification.key,
            campaign_id=notification.campaign_id,
            kind=notification.kind,
            outcome=notification.outcome,
            title=notification.title,
            text=render_text(notification),
            details=dict(notification.details),
        )
