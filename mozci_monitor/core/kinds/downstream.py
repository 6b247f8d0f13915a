"""downstream: when a build completes, schedule its tests that were optimised away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds._params import LABEL, TASK_GROUP, Budgets, CampaignParams, param
from mozci_monitor.core.model import Push, RemedyPolicy, Request

SUMMARY = "when a build completes, schedule its tests that were optimised away"


@dataclass(frozen=True, slots=True, kw_only=True)
class DownstreamParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.DOWNSTREAM

    task_group: str = param(TASK_GROUP)
    build: str | None = param(
        replace(LABEL, help="build label (default: every build of the push)"), None
    )


def build(
    params: DownstreamParams, campaign_id: str, budgets: Budgets
) -> tuple[Campaign, list[Request]]:
    """The campaign, and a request for its build if one was named.

    The build's tests are found when it completes (the reconciler expands the campaign),
    each with the per-request budget recorded here.
    """
    push = Push(params.repo, params.revision, params.task_group)
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.DOWNSTREAM,
        push=push,
        label=params.build,
        params={"times": 1, "max_actions_per_request": budgets.per_request},
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    requests = []
    if params.build:
        requests.append(
            Request(
                request_id=f"{campaign_id}-build",
                push=push,
                label=params.build,
                remedy=RemedyPolicy.WATCH,
                max_actions=budgets.per_request,
            )
        )
    return campaign, requests


def missing(
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
