"""What the range kinds (backfill, bisect) share: the parameters they both take, how
their campaigns progress (a sweep, or a search), and their answer from each push's runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mozci_monitor.core.campaign import (
    Answer,
    Campaign,
    CampaignDecision,
    CampaignState,
    finish_if,
    summary_only,
)
from mozci_monitor.core.kinds._judged import all_runs_judged, judged_result
from mozci_monitor.core.kinds._params import LABEL, STRATEGY, CampaignParams, param
from mozci_monitor.core.kinds._search import judge_of, search_progress
from mozci_monitor.core.kinds._signature import check_signature, signature_field, test_field
from mozci_monitor.core.model import FailureKind, Request
from mozci_monitor.core.search import Strategy
from mozci_monitor.core.sheriff import PushResult, Verdict, verdict_of


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeParams(CampaignParams):
    """The label, the strategy (today's sweep of every push, or the search of issue 16:
    it samples only where the answer is decided) and the failure signature the runs are
    judged by; each kind adds its range and its runs per push."""

    label: str = param(LABEL)
    strategy: str = param(STRATEGY, Strategy.SEARCH.value)
    test: str | None = test_field()
    signature: str | None = signature_field()

    def check(self) -> None:
        check_signature(self.test, self.signature)


def range_progress(
    campaign: Campaign,
    requests: Sequence[Request],
    answer: Callable[[Campaign, Sequence[Request]], Answer],
) -> CampaignDecision:
    """Waits until every finished run is judged (with a signature); then a search decides
    its next batch or its answer, and a sweep (or a campaign stored before strategies
    existed) ends with `answer` when every push's runs are in."""
    if "signature" in campaign.params and not all_runs_judged(campaign, requests):
        return summary_only(campaign, requests)
    if campaign.params.get("strategy") == Strategy.SEARCH:
        return search_progress(campaign, requests, judge_of(campaign))
    return finish_if(campaign, requests, answer)


def range_answer(
    campaign: Campaign,
    requests: Sequence[Request],
    conclude: Callable[[Sequence[PushResult]], Mapping[str, Any]],
) -> Answer:
    """Each push's result (its request's runs, else what planning found), then `conclude`."""
    by_id = {r.request_id: r for r in requests}
    results: list[PushResult] = []
    for entry in campaign.params.get("pushes", ()):
        request = by_id.get(str(entry.get("request_id") or ""))
        if request is not None and "signature" in campaign.params:
            results.append(
                judged_result(campaign, request, int(entry["push_id"]), str(entry["revision"]))
            )
            continue
        if request is not None:
            # The request adopted the push's existing runs of the label: count them once.
            green, orange = request.runs_green, request.runs_orange
            verdict = verdict_of(green, orange, 0, len(request.task_ids))
        else:
            green, orange = int(entry.get("green", 0)), int(entry.get("orange", 0))
            verdict = Verdict(entry.get("verdict", Verdict.UNKNOWN.value))
        results.append(
            PushResult(
                push_id=int(entry["push_id"]),
                revision=str(entry["revision"]),
                verdict=verdict,
                green=green,
                orange=orange,
                note=str(entry.get("note", "")),
            )
        )
    answer = dict(conclude(results))
    budget = [r for r in requests if r.failure is FailureKind.BUDGET]
    state = CampaignState.GAVE_UP if budget else CampaignState.FINISHED
    return state, str(answer["summary"]), {"answer": answer}
