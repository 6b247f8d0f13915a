"""downstream: when a build completes, schedule its tests that were optimised away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.kinds._expansion import (
    Expansion,
    added_request,
    per_request_budget,
    unique,
)
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


def expand(
    campaign: Campaign,
    builds: Sequence[str],
    completed: Sequence[str],
    graph: Mapping[str, Sequence[str]],
    scheduled: frozenset[str],
    coalesced: frozenset[str],
) -> Expansion | None:
    """The tests to schedule for the campaign's builds that completed, or None (nothing new).

    `builds`: the builds the campaign watches; `completed`: those with a completed task;
    `scheduled`: every label with a task on the push; `coalesced`: those whose every task
    was superseded. A build is expanded once; later, only tests coalesced since are added.
    """
    done = set(campaign.params.get("expanded_builds", ()))
    finished = [build for build in completed if build not in done]
    requests: list[Request] = []
    actions: list[Action] = []
    found: dict[str, tuple[str, ...]] = {}
    budget = per_request_budget(campaign)
    already = set(campaign.params.get("added", ()))
    for build in completed:
        tests = missing(build, graph, scheduled, coalesced)
        if build in done:
            # Expanded before: only tests coalesced since then are new; their requests
            # reschedule them through the watch remedy.
            tests = tuple(label for label in tests if label not in already)
            if not tests:
                continue
        never_scheduled = tuple(label for label in tests if label not in scheduled)
        requests.extend(
            added_request(campaign, label, budget, scheduled=label not in never_scheduled)
            for label in tests
        )
        if never_scheduled:
            actions.append(
                Action(
                    key=f"{campaign.campaign_id}/downstream/{build}",
                    kind=ActionKind.ADD_NEW_JOBS,
                    push=campaign.push,
                    campaign_id=campaign.campaign_id,
                    labels=never_scheduled,
                    times=1,
                    why=f"{build} completed; its tests were optimised away",
                )
            )
        found[build] = tests
    if not requests and not finished:
        return None
    expanded = sorted(done | set(finished))
    params = dict(campaign.params)
    params["expanded_builds"] = expanded
    params["expanded"] = set(expanded) >= set(builds)
    params["added"] = sorted({*params.get("added", ()), *(r.label for r in requests)})
    return Expansion(replace(campaign, params=params), unique(requests), tuple(actions), found)
