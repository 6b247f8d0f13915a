"""until-fail: retrigger a label in batches while no run failed; report the first failure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mozci_monitor.core.campaign import (
    Answer,
    Campaign,
    CampaignDecision,
    CampaignKind,
    CampaignState,
    finish_if,
)
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    LABEL,
    LOOKED_UP_TASK_GROUP,
    MAX_RUNS_BUDGET,
    Budgets,
    CampaignParams,
    Param,
    count,
    param,
)
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, Request, RequestState

SUMMARY = "retrigger a label in batches until a run fails (an intermittent)"


@dataclass(frozen=True, slots=True, kw_only=True)
class UntilFailParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.UNTIL_FAIL

    task_group: str | None = param(LOOKED_UP_TASK_GROUP, None)
    label: str = param(LABEL)
    # Each batch is one retrigger of `batch` runs.
    batch: int = param(count(ACTION_MAX_TIMES, "runs at a time"), 5)
    budget: int = param(count(MAX_RUNS_BUDGET, "runs at most"), 50)
    keep_pending: bool = param(Param("do not cancel open runs after a failure"), False)


def build(
    params: UntilFailParams, push: Push, campaign_id: str, budgets: Budgets
) -> tuple[Campaign, list[Request]]:
    """One request wanting `budget` runs, retriggered `batch` at a time until one fails."""
    cancel_on_fail = not params.keep_pending
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=params.label,
        wanted=params.budget,
        remedy=RemedyPolicy.UNTIL_FAIL,
        batch=params.batch,
        cancel_on_fail=cancel_on_fail,
        # One retrigger per batch, plus room for a rerun or two of infrastructure failures.
        max_actions=math.ceil(params.budget / params.batch) + 3,
    )
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.UNTIL_FAIL,
        push=push,
        label=params.label,
        params={
            "batch": params.batch,
            "budget": params.budget,
            "cancel_on_fail": cancel_on_fail,
        },
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    return campaign, [request]


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """The failing task and the green runs before it, or that the budget ran out."""
    request = requests[0]
    runs = request.runs_green + request.runs_orange
    answer: dict[str, Any] = {
        "answer": {
            "failed_task": request.first_orange,
            "green": request.runs_green,
            "orange": request.runs_orange,
        }
    }
    if request.failure is FailureKind.ORANGE:
        return (
            CampaignState.FINISHED,
            f"failure hit on run {runs} ({request.runs_green} green before it):"
            f" task {request.first_orange}",
            answer,
        )
    if request.state is RequestState.COMPLETED:
        return CampaignState.FINISHED, f"no failure in {runs} runs (budget reached)", answer
    if request.failure is FailureKind.BUDGET:
        return (
            CampaignState.GAVE_UP,
            f"{request.reason}; {request.runs_green} green runs, no failure",
            answer,
        )
    return CampaignState.FAILED, request.reason or request.state.value, answer


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Ends with its one request."""
    return finish_if(campaign, requests, answer, need_requests=True)
