"""backfill: from a failing push, walk back to the last good one and fill the pushes between."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from mozci_monitor.core.campaign import (
    Answer,
    Campaign,
    CampaignDecision,
    CampaignKind,
    finish_if,
    summary_only,
)
from mozci_monitor.core.kinds._params import (
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    LABEL,
    STRATEGY,
    CampaignParams,
    count,
    param,
)
from mozci_monitor.core.kinds._range import all_runs_judged, range_answer
from mozci_monitor.core.kinds._search import judge_of, search_progress
from mozci_monitor.core.kinds._signature import check_signature, signature_field, test_field
from mozci_monitor.core.model import Request
from mozci_monitor.core.search import Strategy
from mozci_monitor.core.sheriff import backfill_answer

SUMMARY = "find the last good push of a failing label, fill the pushes after it"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.BACKFILL

    label: str = param(LABEL)
    # The in-tree backfill action reaches at most 25 pushes back, 10 runs on each.
    max_revisions: int = param(count(BACKFILL_MAX_DEPTH, "pushes to look back at"), 20)
    times: int = param(count(BACKFILL_MAX_TIMES, "runs per push"), 1)
    # Today's fill of every push, or the search (issue 16): it samples only where the
    # answer is decided, through retriggers and add-new-jobs rather than the backfill action.
    strategy: str = param(STRATEGY, Strategy.SEARCH.value)
    test: str | None = test_field()
    signature: str | None = signature_field()

    def check(self) -> None:
        check_signature(self.test, self.signature)


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """The last good and the first bad push (the culprit candidate)."""
    return range_answer(campaign, requests, backfill_answer)


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Waits until every finished run is judged (with a signature); then a search decides
    its next batch or its answer, and a sweep (or a campaign stored before strategies
    existed) ends when every push's runs are in."""
    if "signature" in campaign.params and not all_runs_judged(campaign, requests):
        return summary_only(campaign, requests)
    if campaign.params.get("strategy") == Strategy.SEARCH:
        return search_progress(campaign, requests, judge_of(campaign))
    return finish_if(campaign, requests, answer)
