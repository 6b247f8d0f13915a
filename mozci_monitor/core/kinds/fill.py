"""fill: schedule every job of a push's full task graph that did not run (filtered)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds._expansion import Expansion, added_request, per_request_budget
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


def expand(
    campaign: Campaign,
    never_ran: Sequence[str],
    include: Sequence[Matcher],
    exclude: Sequence[Matcher],
) -> Expansion:
    """Every label of the full graph that never ran and passes the filters, added once.

    One add-new-jobs brings them all; `include` and `exclude` are the campaign's patterns,
    compiled by the caller (users' patterns: with a linear-time engine).
    """
    labels = select_labels(never_ran, include, exclude)
    budget = per_request_budget(campaign)
    requests = tuple(added_request(campaign, label, budget, scheduled=False) for label in labels)
    actions: tuple[Action, ...] = ()
    if labels:
        actions = (
            Action(
                key=f"{campaign.campaign_id}/fill",
                kind=ActionKind.ADD_NEW_JOBS,
                push=campaign.push,
                campaign_id=campaign.campaign_id,
                labels=tuple(labels),
                why=f"{len(labels)} job(s) of the full graph never ran",
            ),
        )
    params = {**campaign.params, "expanded": True, "added": labels}
    return Expansion(replace(campaign, params=params), requests, actions, {"": tuple(labels)})
