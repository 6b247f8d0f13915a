"""What a campaign adds once the push's full graph is read (downstream and fill)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import RemedyPolicy, Request


@dataclass(frozen=True, slots=True)
class Expansion:
    """The requests and actions to add, and the campaign with its params brought up to date.

    `found` says, per build (downstream) or for the whole push (fill, key ""), which labels
    were found missing: what the log reports.
    """

    campaign: Campaign
    requests: tuple[Request, ...] = ()
    actions: tuple[Action, ...] = ()
    found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def added_request(campaign: Campaign, label: str, budget: int, *, scheduled: bool) -> Request:
    """A request a campaign adds for one label; unless its task exists, the campaign's own
    add-new-jobs action is what will bring it (counted as that request's one action and
    its one task)."""
    return Request(
        request_id=f"{campaign.campaign_id}-{_short(label)}",
        push=campaign.push,
        label=label,
        remedy=RemedyPolicy.WATCH,
        max_actions=budget,
        expected_new=0 if scheduled else 1,
        actions=0 if scheduled else 1,
        tasks=0 if scheduled else 1,
    )


def per_request_budget(campaign: Campaign) -> int:
    """The budget recorded for the requests the campaign adds (see the kinds' `build`)."""
    return int(campaign.params.get("max_actions_per_request", 3))


def unique(requests: Sequence[Request]) -> tuple[Request, ...]:
    seen: dict[str, Request] = {}
    for request in requests:
        seen.setdefault(request.request_id, request)
    return tuple(seen.values())


def _short(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()[:10]
