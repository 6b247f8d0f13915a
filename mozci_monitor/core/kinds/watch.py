"""watch: make sure N runs of a label happen on a push, and watch them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    LABEL,
    MAX_TASK_IDS,
    SLUG_PATTERN,
    TASK_GROUP,
    Budgets,
    CampaignParams,
    Param,
    count,
    param,
)
from mozci_monitor.core.model import Push, RemedyPolicy, Request

SUMMARY = "watch a label on a push until it ran `times` times"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.WATCH

    task_group: str = param(TASK_GROUP)
    label: str = param(LABEL)
    # One retrigger (or add-new-jobs) asks for all the missing runs at once.
    times: int = param(count(ACTION_MAX_TIMES, "runs wanted"), 1)
    green: bool = param(Param("only green runs count: retrigger oranges"), False)
    record_only: bool = param(Param("observe and record; never act"), False)
    task_ids: tuple[str, ...] = param(
        Param(
            "a task known to serve the request",
            pattern=SLUG_PATTERN,
            what="a Taskcluster slug id (22 characters)",
            max_items=MAX_TASK_IDS,
            option="task-id",
        ),
        (),
    )


def build(
    params: WatchParams, campaign_id: str, budgets: Budgets
) -> tuple[Campaign, list[Request]]:
    """The campaign and its one request: the submission says everything needed."""
    push = Push(params.repo, params.revision, params.task_group)
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.WATCH,
        push=push,
        label=params.label,
        params={"times": params.times},
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=params.label,
        wanted=params.times,
        task_ids=tuple(dict.fromkeys(params.task_ids)),
        remedy=RemedyPolicy.RECORD if params.record_only else RemedyPolicy.WATCH,
        require_green=params.green,
        max_actions=budgets.per_request,
    )
    return campaign, [request]
