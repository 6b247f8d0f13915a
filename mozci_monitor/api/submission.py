"""Turns a validated submission into the campaign and requests the engine starts.

The same shapes as the `watch` and `downstream` CLI commands build (ids ``c-<hex>``,
requests ``<campaign>-r1`` / ``<campaign>-build``), so a campaign looks the same whichever
way it was submitted. The backend then hands them to ``Daemon.start_campaign``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from mozci_monitor.api.backend import CampaignSubmission, SubmissionRefused
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.model import Push, RemedyPolicy, Request


@dataclass(frozen=True, slots=True)
class SubmissionDefaults:
    """Budgets from the settings (``[actions]``) used when a submission names none."""

    max_actions_per_request: int = 3
    max_actions_per_campaign: int = 0  # 0: no campaign-wide limit


BUILDABLE_KINDS = frozenset({CampaignKind.WATCH, CampaignKind.DOWNSTREAM})


def new_campaign_id() -> str:
    return "c-" + secrets.token_hex(5)


def build_campaign(
    submission: CampaignSubmission,
    defaults: SubmissionDefaults = SubmissionDefaults(),
    *,
    campaign_id: str | None = None,
) -> tuple[Campaign, list[Request]]:
    """Watch and downstream campaigns, whose requests follow from the submission alone.

    The sheriff kinds (backfill, bisect, until-fail, fill) are planned from the sources
    (pushlog, index, queue): the daemon's backend hands those to its planner instead.
    """
    if submission.kind not in BUILDABLE_KINDS:
        raise SubmissionRefused(
            f"kind: {submission.kind.value} campaigns need planning from the sources", "kind"
        )
    if submission.task_group is None:
        raise SubmissionRefused("task_group: required", "task_group")
    push = Push(submission.repo, submission.revision, submission.task_group)
    campaign = Campaign(
        campaign_id=campaign_id or new_campaign_id(),
        kind=submission.kind,
        push=push,
        label=submission.label,
        params={"times": submission.times},
        max_actions=submission.campaign_budget or defaults.max_actions_per_campaign or None,
        dry_run=submission.dry_run,
    )
    budget = submission.max_actions or defaults.max_actions_per_request
    if submission.kind is CampaignKind.WATCH:
        assert submission.label is not None  # validation requires it for watch
        request = Request(
            request_id=f"{campaign.campaign_id}-r1",
            push=push,
            label=submission.label,
            wanted=submission.times,
            task_ids=submission.task_ids,
            remedy=RemedyPolicy.RECORD if submission.record_only else RemedyPolicy.WATCH,
            require_green=submission.green,
            max_actions=budget,
        )
        return campaign, [request]
    # Downstream: the build's tests are found when it completes.
    campaign = replace(campaign, params={**campaign.params, "max_actions_per_request": budget})
    requests = []
    if submission.label:
        requests.append(
            Request(
                request_id=f"{campaign.campaign_id}-build",
                push=push,
                label=submission.label,
                remedy=RemedyPolicy.WATCH,
                max_actions=budget,
            )
        )
    return campaign, requests
