"""What the HTTP API needs from the daemon, as a Protocol, and the plain views it returns.

The API edge imports no other edge: the daemon (or a test) implements `ApiBackend` over
whatever store and engine it has. Core types are shared; everything else the API shows is a
small frozen view defined here, so the JSON shape does not follow storage details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.kinds import AnyParams
from mozci_monitor.core.model import Request


@dataclass(frozen=True, slots=True)
class TimelineEntryView:
    """One line of a request's history as stored (sequence number, wall time, what)."""

    seq: int
    at: str
    kind: str
    task_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionView:
    """One outbox entry: what the monitor decided to do and how it went."""

    key: str
    kind: str
    state: str  # pending | done | failed
    why: str = ""
    result: str | None = None
    error: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class HealthView:
    """The daemon's health at one instant.

    `alive`: the event loop and the Pulse consumer loop are both making progress (the
    systemd watchdog may be fed). `ready`: the daemon can do useful work now (started,
    broker connected, store writable). `reasons` says, in words, what is wrong.
    """

    alive: bool
    ready: bool
    reasons: tuple[str, ...] = ()
    checks: Mapping[str, bool] = field(default_factory=dict)
    status: str = ""  # one line for `systemctl status`


# A validated request to start a campaign: the kind's typed parameters (see
# `mozci_monitor.submissions.parse_submission`), defaults applied. `None` budgets mean
# "the configured default".
CampaignSubmission = AnyParams


class SubmissionRefused(SubmissionError):
    """The backend cannot start this (valid) submission; `field` names the culprit if any."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class ApiBackend(Protocol):
    async def list_campaigns(self, *, open_only: bool, limit: int) -> list[Campaign]: ...

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        """The campaign with this id, or the only one whose id starts with it."""
        ...

    async def campaign_requests(self, campaign_id: str) -> list[Request]: ...

    async def request_timeline(self, request_id: str) -> list[TimelineEntryView]: ...

    async def campaign_actions(self, campaign_id: str) -> list[ActionView]:
        """The campaign's own actions and those of its requests, each once."""
        ...

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        """Start the campaign; may raise `SubmissionRefused`."""
        ...

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None: ...

    def health(self) -> HealthView: ...


class MetricsSource(Protocol):
    """Anything that renders a Prometheus exposition (`mozci_monitor.metrics.Metrics`)."""

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        ...
