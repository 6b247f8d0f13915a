"""until-fail: retrigger a label in batches while no run failed; report the first failure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from mozci_monitor.core.campaign import Campaign, CampaignKind
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
from mozci_monitor.core.model import Push, RemedyPolicy, Request

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
