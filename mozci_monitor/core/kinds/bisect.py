"""bisect: a label's failure rate on every push of a range, and where it rises.

With a failure signature (`test`, or `signature`) the rate is the signature's: a run hits
or passes it by its test results (an orange run for another test passes it), and a run
where the test did not run is missing data, left out of the rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from mozci_monitor.core.campaign import Answer, Campaign, CampaignDecision, CampaignKind
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    MAX_REVISIONS,
    REVISION,
    count,
    param,
)
from mozci_monitor.core.kinds._range import RangeParams, range_answer, range_progress
from mozci_monitor.core.model import Request
from mozci_monitor.core.sheriff import change_point

SUMMARY = "failure rate of a label per push over a range, and where it rises"


@dataclass(frozen=True, slots=True, kw_only=True)
class BisectParams(RangeParams):
    kind: ClassVar[CampaignKind] = CampaignKind.BISECT

    from_revision: str | None = param(
        replace(REVISION, help="first push of the range (default: walk back max_revisions)"),
        None,
    )
    max_revisions: int = param(count(MAX_REVISIONS, "pushes in the range"), 10)
    # Each push's missing runs are asked for with one retrigger or add-new-jobs; with
    # `--strategy search`, `times` only bounds the runs (times on every push at most).
    times: int = param(count(ACTION_MAX_TIMES, "runs per push"), 10)


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """Each revision's failure rate, and the change point if the rise is significant."""
    return range_answer(campaign, requests, change_point)


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    return range_progress(campaign, requests, answer)
