"""The answer of the range kinds (backfill, bisect): what each push's runs say."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mozci_monitor.core.by_signature import (
    JUDGED,
    judgements_in_order,
    push_result_by_signature,
)
from mozci_monitor.core.campaign import Answer, Campaign, CampaignState
from mozci_monitor.core.model import FailureKind, Request
from mozci_monitor.core.sheriff import PushResult, Verdict, verdict_of


def judged_result(campaign: Campaign, request: Request, push_id: int, revision: str) -> PushResult:
    """A push judged by the campaign's signature from its runs' judgements: hits and
    passes counted, runs without the test left out (`push_result_by_signature`)."""
    judged = judgements_in_order(campaign.params.get(JUDGED) or {}, request.task_ids)
    return push_result_by_signature(push_id, revision, [j.verdict for j in judged])


def all_runs_judged(campaign: Campaign, requests: Sequence[Request]) -> bool:
    """Every finished run of these requests has its judgement."""
    judged = campaign.params.get(JUDGED) or {}
    for request in requests:
        runs = judgements_in_order(judged, request.task_ids)
        if len(runs) < request.runs_green + request.runs_orange:
            return False
    return True


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
