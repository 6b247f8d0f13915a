"""bisect: a label's failure rate on every push of a range, and where it rises.

With a failure signature (`test`, or `signature`) the rate is the signature's: a run hits
or passes it by its test results (an orange run for another test passes it), and a run
where the test did not run is missing data, left out of the rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    ACTION_MAX_TIMES,
    LABEL,
    MAX_REVISIONS,
    REVISION,
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
from mozci_monitor.core.sheriff import change_point

SUMMARY = "failure rate of a label per push over a range, and where it rises"


@dataclass(frozen=True, slots=True, kw_only=True)
class BisectParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.BISECT

    label: str = param(LABEL)
    from_revision: str | None = param(
        replace(REVISION, help="first push of the range (default: walk back max_revisions)"),
        None,
    )
    max_revisions: int = param(count(MAX_REVISIONS, "pushes in the range"), 10)
    # Each push's missing runs are asked for with one retrigger or add-new-jobs.
    times: int = param(count(ACTION_MAX_TIMES, "runs per push"), 10)
    # Today's sweep or the search (issue 16); with search, `times` only bounds the runs.
    strategy: str = param(STRATEGY, Strategy.SEARCH.value)
    test: str | None = test_field()
    signature: str | None = signature_field()

    def check(self) -> None:
        check_signature(self.test, self.signature)


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """Each revision's failure rate, and the change point if the rise is significant."""
    return range_answer(campaign, requests, change_point)


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Waits until every finished run is judged (with a signature); then a search decides
    its next batch or its answer, and a sweep (or a campaign stored before strategies
    existed) ends when every push's runs are in."""
    if "signature" in campaign.params and not all_runs_judged(campaign, requests):
        return summary_only(campaign, requests)
    if campaign.params.get("strategy") == Strategy.SEARCH:
        return search_progress(campaign, requests, judge_of(campaign))
    return finish_if(campaign, requests, answer)
