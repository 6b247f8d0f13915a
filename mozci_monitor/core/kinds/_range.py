"""The answer of the range kinds (backfill, bisect): what each push's runs say."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mozci_monitor.core.campaign import Answer, Campaign, CampaignState
from mozci_monitor.core.model import FailureKind, Request
from mozci_monitor.core.sheriff import PushResult, Verdict, verdict_of


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
