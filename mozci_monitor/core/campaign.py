"""Campaigns: what a person asked for, made of requests, finished once and notified once."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
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
    CONFIRM = "confirm"


def new_campaign_id() -> str:
    """A fresh campaign id, ``c-`` and ten hex digits (the API's id pattern accepts it)."""
    return "c-" + secrets.token_hex(5)


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
    # Campaign budget, in tasks (`core.actions.tasks_of`); None = only per-request budgets.
    max_actions: int | None = None
    actions: int = 0  # actions on Firefox CI queued for it
    tasks: int = 0  # tasks they scheduled: what `max_actions` bounds
    dry_run: bool = False

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_CAMPAIGN_STATES

    @property
    def tasks_left(self) -> int | None:
        return None if self.max_actions is None else max(0, self.max_actions - self.tasks)


@dataclass(frozen=True, slots=True)
class CampaignDecision:
    campaign: Campaign
    actions: tuple[Action, ...] = ()
    changed: bool = False
    # Requests the campaign grows by (a search's next batch), recorded with the decision.
    new_requests: tuple[Request, ...] = ()
    # Open requests whose runs still out no longer matter before the answer (a search's
    # pushes left behind the first bad one): the engine ends them and cancels their runs.
    obsolete_requests: tuple[str, ...] = ()


def summarise(requests: Sequence[Request]) -> dict[str, Any]:
    states: dict[str, int] = {}
    for request in requests:
        key = request.state.value + (f"/{request.failure.value}" if request.failure else "")
        states[key] = states.get(key, 0) + 1
    return {
        "requests": len(requests),
        "states": dict(sorted(states.items())),
        "actions": sum(request.actions for request in requests),
        "tasks": sum(request.tasks for request in requests),
    }


def progress_campaign(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Finish a campaign once its requests are final, with its answer, and notify once.

    When a campaign ends and with what answer is its kind's (`core/kinds/<kind>.py`).
    """
    if campaign.is_final:
        return CampaignDecision(campaign)
    # The kinds' modules build on this one: imported here, not at the top, to avoid a cycle.
    from mozci_monitor.core.kinds import REGISTRY

    return REGISTRY[campaign.kind].progress(campaign, requests)


def until_every_request_ended(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Campaigns whose requests are known from the start (watch)."""
    if not requests:
        return summary_only(campaign, requests)
    return finish_if(campaign, requests, requests_answer, need_requests=True)


def until_expanded_and_ended(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Campaigns that add requests once the push's full graph is read (downstream, fill).

    Not done before the graph was looked at, unless a build it watches ended without
    completing (then there is nothing to expand).
    """
    waiting = not campaign.params.get("expanded") and all(
        r.state is RequestState.COMPLETED or not r.is_final for r in requests
    )
    if waiting:
        return summary_only(campaign, requests)
    return finish_if(campaign, requests, requests_answer)


Answer = tuple[CampaignState, str, dict[str, Any]]


def finish_if(
    campaign: Campaign,
    requests: Sequence[Request],
    answer: Callable[[Campaign, Sequence[Request]], Answer],
    *,
    need_requests: bool = False,
) -> CampaignDecision:
    """Finished with `answer` once every request is final (and there is one, if needed)."""
    if any(not r.is_final for r in requests) or (need_requests and not requests):
        return summary_only(campaign, requests)
    state, outcome, extra = answer(campaign, requests)
    summary = {**summarise(requests), **extra}
    finished = replace(campaign, state=state, outcome=outcome, summary=summary)
    return CampaignDecision(finished, (notification_action(finished),), True)


def summary_only(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    summary = {**campaign.summary, **summarise(requests)}
    if summary == campaign.summary:
        return CampaignDecision(campaign)
    return CampaignDecision(replace(campaign, summary=summary), (), True)


def requests_answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    state, outcome = (
        _verdict(requests)
        if requests
        else (
            CampaignState.FINISHED,
            "nothing was missing",
        )
    )
    extra: dict[str, Any] = {}
    if campaign.kind in (CampaignKind.DOWNSTREAM, CampaignKind.FILL):
        extra["added"] = list(campaign.params.get("added", ()))
    return state, outcome, extra


# The monitor gave up on these (a budget, a remedy that produced nothing, the request's
# bound): the campaign is announced as given up, with the reason.
GAVE_UP_FAILURES = frozenset({FailureKind.BUDGET, FailureKind.ACTION, FailureKind.TIMEOUT})


def _verdict(requests: Sequence[Request]) -> tuple[CampaignState, str]:
    total = len(requests)
    done = sum(1 for r in requests if r.state is RequestState.COMPLETED)
    budget = [r for r in requests if r.failure in GAVE_UP_FAILURES]
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


def fail_campaign(campaign: Campaign, reason: str) -> CampaignDecision:
    """End a campaign that cannot go on (e.g. a stored parameter no longer accepted)."""
    if campaign.is_final:
        return CampaignDecision(campaign)
    failed = replace(campaign, state=CampaignState.FAILED, outcome=reason)
    return CampaignDecision(failed, (notification_action(failed),), True)


# Limits of gecko's backfill action (its schema): beyond them, add-new-jobs per push.
BACKFILL_MAX_DEPTH = 25
BACKFILL_MAX_TIMES = 10


def backfill_action(campaign: Campaign, requests: Sequence[Request]) -> Action | None:
    """The in-tree backfill a backfill campaign starts with, when it goes that way.

    One action on the failing push's task of the label: gecko schedules the label (with
    `-bk` symbols, keeping the test manifests) on the `depth` pushes before it that lack
    it; each of those pushes has a request expecting the runs.
    """
    depth = campaign.params.get("backfill_depth")
    # The pushes it fills expect its runs; the others (judged by a signature, a push that
    # ran the label already) keep their own.
    requests = [r for r in requests if r.expected_new]
    if campaign.kind is not CampaignKind.BACKFILL or not depth or not requests:
        return None
    test_path = campaign.params.get("test_path")
    return Action(
        key=f"campaign:{campaign.campaign_id}:backfill",
        kind=ActionKind.BACKFILL,
        push=campaign.push,
        campaign_id=campaign.campaign_id,
        labels=(campaign.label or "",),
        times=int(campaign.params.get("times", 1)),
        why=f"backfill {campaign.label} on the {depth} pushes before {campaign.push.revision[:12]}",
        details={
            "depth": int(depth),
            "requests": ",".join(r.request_id for r in requests),
            **({"test_path": str(test_path)} if test_path else {}),
        },
    )


def campaign_start_action(campaign: Campaign, requests: Sequence[Request]) -> Action | None:
    """The one action a campaign starts with, if its kind starts with one (a backfill's
    in-tree backfill, a confirm's confirm-failures or retriggers); it names the requests
    that await its runs in `details["requests"]`."""
    # The kinds' modules build on this one: imported here, not at the top, to avoid a cycle.
    from mozci_monitor.core.kinds import REGISTRY

    start = REGISTRY[campaign.kind].start
    return None if start is None else start(campaign, requests)


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
