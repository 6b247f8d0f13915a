"""A notification sink that keeps what it was given (next to the configured ones)."""

from __future__ import annotations

from mozci_monitor.notify import Notification


class RecordingSink:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)
