"""What a notification is, what a sink promises, and how a sink reports failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from mozci_monitor.core.errors import NotificationError as NotificationError


@dataclass(frozen=True)
class Link:
    """A place to look (Treeherder, Taskcluster): rendered as a link where the channel can."""

    text: str
    url: str


Cell = str | Link


@dataclass(frozen=True)
class Table:
    """A short table under the answer; cells are text or links."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Notification:
    """One message about a campaign, delivered identically by every sink.

    ``key`` is the daemon's idempotency key (e.g. ``"campaign:<id>:finished"``): sinks pass it
    along where the channel has room for it so receivers can drop duplicates of a retried send.
    """

    key: str
    campaign_id: str
    kind: str
    outcome: str
    title: str
    text: str
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The structure behind `text`, for channels that show tables and links (Markdown, HTML);
    # `text` is the plain rendering of both.
    table: Table | None = None
    links: tuple[Link, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form every structured sink ships (JSON-serialisable)."""
        return {
            "key": self.key,
            "campaignId": self.campaign_id,
            "kind": self.kind,
            "outcome": self.outcome,
            "title": self.title,
            "text": self.text,
            "details": dict(self.details),
        }


@runtime_checkable
class Sink(Protocol):
    """Delivers one notification; raises :class:`NotificationError` when it could not.

    Sinks do no deduplication or persistence: the daemon's outbox does both.
    """

    name: str

    async def send(self, notification: Notification) -> None: ...
