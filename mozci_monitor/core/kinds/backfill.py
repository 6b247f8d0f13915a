"""backfill: from a failing push, walk back to the last good one and fill the pushes between."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from mozci_monitor.core.campaign import Answer, Campaign, CampaignDecision, CampaignKind
from mozci_monitor.core.kinds._params import (
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    count,
    param,
)
from mozci_monitor.core.kinds._range import RangeParams, range_answer, range_progress
from mozci_monitor.core.model import Request
from mozci_monitor.core.sheriff import backfill_answer

SUMMARY = "find the last good push of a failing label, fill the pushes after it"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillParams(RangeParams):
    """With `--strategy search` it samples through retriggers and add-new-jobs rather
    than the backfill action."""

    kind: ClassVar[CampaignKind] = CampaignKind.BACKFILL

    # The in-tree backfill action reaches at most 25 pushes back, 10 runs on each.
    max_revisions: int = param(count(BACKFILL_MAX_DEPTH, "pushes to look back at"), 20)
    times: int = param(count(BACKFILL_MAX_TIMES, "runs per push"), 1)


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """The last good and the first bad push (the culprit candidate)."""
    return range_answer(campaign, requests, backfill_answer)


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    return range_progress(campaign, requests, answer)
