"""A range campaign's runs as its signature judged them (backfill, bisect, their search)."""

from __future__ import annotations

from collections.abc import Sequence

from mozci_monitor.core.by_signature import (
    JUDGED,
    judgements_in_order,
    push_result_by_signature,
)
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.core.sheriff import PushResult


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
