"""What the actuator needs of a notification sink, and the notification it delivers.

`mozci_monitor.notify` implements `Sink` (log, webhook, Taskcluster Notify, Pulse).
"""

from __future__ import annotations

from mozci_monitor.notify.answers import campaign_notification
from mozci_monitor.notify.model import Notification, NotificationError, Sink

__all__ = ["Notification", "NotificationError", "Sink", "campaign_notification"]
