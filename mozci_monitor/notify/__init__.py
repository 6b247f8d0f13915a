"""Notification sinks: deliver one campaign notification each, raise NotificationError if not.

Durability and deduplication belong to the daemon's outbox; a sink only delivers.
"""

from mozci_monitor.notify.config import NotifyConfigError, build_sinks, close_sinks
from mozci_monitor.notify.log_sink import LogSink
from mozci_monitor.notify.model import Notification, NotificationError, Sink
from mozci_monitor.notify.pulse_sink import PulseSink
from mozci_monitor.notify.render import (
    render_html,
    render_markdown,
    render_subject,
    render_text,
    render_title,
)
from mozci_monitor.notify.taskcluster_notify import (
    NotifyClient,
    TaskclusterNotifySink,
    make_notify_client,
)
from mozci_monitor.notify.webhook import WebhookSink

__all__ = [
    "LogSink",
    "Notification",
    "NotificationError",
    "NotifyClient",
    "NotifyConfigError",
    "PulseSink",
    "Sink",
    "TaskclusterNotifySink",
    "WebhookSink",
    "build_sinks",
    "close_sinks",
    "make_notify_client",
    "render_html",
    "render_markdown",
    "render_subject",
    "render_text",
    "render_title",
]
