"""fill: schedule every job of a push's full task graph that did not run (filtered)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds._params import (
    LOOKED_UP_TASK_GROUP,
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    Budgets,
    CampaignParams,
    Param,
    param,
)
from mozci_monitor.core.model import Push, Request

SUMMARY = "schedule every job of a push that did not run"


def _patterns(help_text: str) -> Param:
    return Param(
        help_text,
        max_items=MAX_PATTERNS,
        min_length=1,
        max_length=MAX_PATTERN_LENGTH,
        user_regex=True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FillParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.FILL

    task_group: str | None = param(LOOKED_UP_TASK_GROUP, None)
    include: tuple[str, ...] = param(_patterns("regular expression labels must match"), ())
    exclude: tuple[str, ...] = param(_patterns("regular expression labels must not match"), ())


class Matcher(Protocol):
    """A compiled user pattern; the edges compile them with a linear-time engine."""

    def search(self, text: str) -> object: ...


def build(
    params: FillParams, push: Push, campaign_id: str, budgets: Budgets
) -> tuple[Campaign, list[Request]]:
    """The campaign alone: its requests are added once the push's full graph is read."""
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.FILL,
        push=push,
        params={
            "include": list(params.include),
            "exclude": list(params.exclude),
            "max_actions_per_request": budgets.per_request,
        },
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    return campaign, []


def select_labels(
    labels: Sequence[str], include: Sequence[Matcher], exclude: Sequence[Matcher]
) -> list[str]:
    """Like the old triggerbyfilters: every include pattern must match, no exclude may."""
    chosen = []
    for label in labels:
        if include and not all(p.search(label) for p in include):
            continue
        if any(p.search(label) for p in exclude):
            continue
        chosen.append(label)
    return chosen
