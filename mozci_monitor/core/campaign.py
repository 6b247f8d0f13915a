"""Campaigns: what a person asked for, made of requests, finished once and notified once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import FailureKind, Push, Request, RequestState


class CampaignKind(StrEnum):
    WATCH = "watch"
    DOWNSTREAM = "downstream"
    BACKFILL = "backfill"
    UNTIL_FAIL = "until-fail"
    FILL = "fill"
    BISECT = "bisect"


class CampaignState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"  # every request reached what it wanted
    GAVE_UP = "gave-up"  # a budget ran out, or something could not be done
    FAILED = "failed"  # requests ended, not all as wanted (orange, exception, coalesced)
    CANCELED = "canceled"


FINAL_CAMPAIGN_STATES = frozenset(
    {CampaignState.FINISHED, CampaignState.GAVE_UP, CampaignState.FAILED, CampaignState.CANCELED}
)


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    kind: CampaignKind
    push: Push
    label: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    state: CampaignState = CampaignState.RUNNING
    outcome: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    max_actions: int | None = None  # campaign budget; None = only per-request budgets
    actions: int = 0
    dry_run: bool = False

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_CAMPAIGN_STATES

    @property
    def actions_left(self) -> int | None:
        return None if self.max_actions is None else max(0, self.max_actions - self.actions)


@dataclass(frozen=True, slots=True)
class CampaignDecision:
    campaign: Campaign
    actions: tuple[Action, ...] = ()
    changed: bool = False


def summarise(requests: Sequence[Request]) -> dict[str, Any]:
    states: dict[str, int] = {}
    for request in requests:
        key = request.state.value + (f"/{request.failure.value}" if request.failure else "")
        states[key] = states.get(key, 0) + 1
    return {
        "requests": len(requests),
        "states": dict(sorted(states.items())),
        "actions": sum(request.actions for request in requests),
    }


def progress_campaign(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Finish a watch-like campaign once all its requests are final, and notify once.

    Watch, downstream and fill campaigns end when every request has ended. (The sheriff
    campaigns with an answer of their own — backfill, until-fail, bisect — build on this.)
    """
    # A downstream campaign is not done before its builds' tests were looked at, unless a
    # build it watches ended without completing (then there is nothing to expand).
    waiting = (
        campaign.kind is CampaignKind.DOWNSTREAM
        and not campaign.params.get("expanded")
        and all(r.state is RequestState.COMPLETED or not r.is_final for r in requests)
    )
    if campaign.is_final or waiting or not requests or any(not r.is_final for r in requests):
        summary = summarise(requests)
        if summary == campaign.summary or campaign.is_final:
            return CampaignDecision(campaign)
        return CampaignDecision(replace(campaign, summary=summary), (), True)
    state, outcome = _verdict(requests)
    finished = replace(campaign, state=state, outcome=outcome, summary=summarise(requests))
    return CampaignDecision(finished, (notification_action(finished),), True)


def _verdict(requests: Sequence[Request]) -> tuple[CampaignState, str]:
    total = len(requests)
    done = sum(1 for r in requests if r.state is RequestState.COMPLETED)
    budget = [r for r in requests if r.failure is FailureKind.BUDGET]
    if done == total:
        return CampaignState.FINISHED, f"all {total} requests satisfied"
    if budget:
        return CampaignState.GAVE_UP, f"{budget[0].reason} ({done} of {total} satisfied)"
    failed = [r for r in requests if r.state is not RequestState.COMPLETED]
    first = failed[0]
    detail = first.reason or first.state.value
    return CampaignState.FAILED, f"{done} of {total} satisfied; {first.label}: {detail}"


def cancel_campaign(campaign: Campaign, reason: str) -> CampaignDecision:
    if campaign.is_final:
        return CampaignDecision(campaign)
    canceled = replace(campaign, state=CampaignState.CANCELED, outcome=reason)
    return CampaignDecision(canceled, (notification_action(canceled),), True)


def notification_action(campaign: Campaign) -> Action:
    """The one notification of a campaign's end; its key makes it happen once."""
    return Action(
        key=f"campaign:{campaign.campaign_id}:finished",
        kind=ActionKind.NOTIFY,
        push=campaign.push,
        campaign_id=campaign.campaign_id,
        why=campaign.outcome or campaign.state.value,
        details={
            "kind": campaign.kind.value,
            "state": campaign.state.value,
            "outcome": campaign.outcome,
            "label": campaign.label,
        },
    )


def downstream_missing(
    build_label: str,
    dependencies: Mapping[str, Sequence[str]],
    scheduled: frozenset[str],
    coalesced: frozenset[str],
) -> tuple[str, ...]:
    """Tests depending on `build_label` in the full graph that will not run.

    A dependent is missing when it was optimised away (no task in the push's group) or its
    task was coalesced. `dependencies` maps each label of the full graph to the labels it
    depends on.
    """
    dependents = sorted(label for label, needs in dependencies.items() if build_label in needs)
    return tuple(label for label in dependents if label not in scheduled or label in coalesced)
