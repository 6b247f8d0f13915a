"""backfill: from a failing push, walk back to the last good one and fill the pushes between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.kinds._params import (
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    LABEL,
    CampaignParams,
    count,
    param,
)

SUMMARY = "find the last good push of a failing label, fill the pushes after it"


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.BACKFILL

    label: str = param(LABEL)
    # The in-tree backfill action reaches at most 25 pushes back, 10 runs on each.
    max_revisions: int = param(count(BACKFILL_MAX_DEPTH, "pushes to look back at"), 20)
    times: int = param(count(BACKFILL_MAX_TIMES, "runs per push"), 1)
