"""Turns a validated submission whose requests follow from it alone into its campaign.

Watch and downstream campaigns need nothing from the sources; their kinds' modules build
them (ids ``c-<hex>``, requests ``<campaign>-r1`` / ``<campaign>-build``), the same for the
API, the CLI and the demo. The backend then hands them to ``Daemon.start_campaign``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mozci_monitor.api.backend import CampaignSubmission, SubmissionRefused
from mozci_monitor.core.campaign import Campaign, CampaignKind, new_campaign_id
from mozci_monitor.core.kinds import (
    DEFAULT_TASKS_PER_REQUEST,
    REGISTRY,
    Budgets,
    budgets_of,
    downstream,
    watch,
)
from mozci_monitor.core.kinds.downstream import DownstreamParams
from mozci_monitor.core.kinds.watch import WatchParams
from mozci_monitor.core.model import Request

__all__ = [
    "BUILDABLE_KINDS",
    "SubmissionDefaults",
    "build_campaign",
    "new_campaign_id",
]


@dataclass(frozen=True, slots=True)
class SubmissionDefaults:
    """Budgets from the settings (``[actions]``) used when a submission names none."""

    max_actions_per_request: int = DEFAULT_TASKS_PER_REQUEST  # tasks
    max_actions_per_campaign: int = 0  # tasks; 0: no campaign-wide limit

    def budgets(self, submission: CampaignSubmission) -> Budgets:
        return budgets_of(submission, self.max_actions_per_request, self.max_actions_per_campaign)


BUILDABLE_KINDS = frozenset(kind for kind, spec in REGISTRY.items() if not spec.needs_sources)


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
    new_id = campaign_id or new_campaign_id()
    budgets = defaults.budgets(submission)
    if isinstance(submission, WatchParams):
        return watch.build(submission, new_id, budgets)
    if isinstance(submission, DownstreamParams):
        return downstream.build(submission, new_id, budgets)
    kind: CampaignKind = submission.kind
    raise SubmissionRefused(f"kind: {kind.value} campaigns need planning from the sources", "kind")
