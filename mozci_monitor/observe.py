"""What the daemon reports to an observer it is given: typed events, not log lines.

Log event names and fields are for people and may change at any time; a program that follows
the daemon (the demo's live timeline, a test) passes an :data:`Observer` instead and receives
these values, emitted at the same points as the corresponding log lines. Standard library only.

An observer is called on the event loop and must return quickly; an exception it raises is
logged by the caller and never disturbs the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestChanged:
    """A request's state changed (any transition, not only the final one)."""

    request_id: str
    label: str
    state: str
    failure: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class ActionDone:
    """An action of the outbox was performed (or decided, in a dry run)."""

    key: str
    kind: str
    task_id: str | None
    labels: tuple[str, ...]
    why: str
    result: str


@dataclass(frozen=True, slots=True)
class ActionRetrying:
    """An attempt failed; the action stays in the outbox for another one."""

    key: str
    kind: str
    error: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ActionAbandoned:
    """An action was given up for good."""

    key: str
    kind: str
    error: str


@dataclass(frozen=True, slots=True)
class ActionWithdrawn:
    """An action was closed unperformed: what it was for had ended (`core.withdrawal`)."""

    key: str
    kind: str
    why: str


@dataclass(frozen=True, slots=True)
class CampaignFinished:
    campaign_id: str
    kind: str
    state: str
    outcome: str | None


@dataclass(frozen=True, slots=True)
class NotificationSent:
    """One sink delivered one notification."""

    sink: str
    key: str
    campaign_id: str | None
    title: str


Event = (
    RequestChanged
    | ActionDone
    | ActionRetrying
    | ActionAbandoned
    | ActionWithdrawn
    | CampaignFinished
    | NotificationSent
)
Observer = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The observer of a daemon nobody follows."""


def guarded(observer: Observer | None) -> Observer:
    """``observer``, or :func:`ignore`, made unable to raise into the daemon."""
    if observer is None:
        return ignore
    follow = observer

    def call(event: Event) -> None:
        try:
            follow(event)
        except Exception:
            _log.exception("observer failed on %s", type(event).__name__)

    return call
