"""JSON documents the API answers with (their schemas are in `openapi.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mozci_monitor.api.backend import ActionView, HealthView, TimelineEntryView
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.campaign_id,
        "kind": campaign.kind.value,
        "state": campaign.state.value,
        "final": campaign.is_final,
        "outcome": campaign.outcome,
        "label": campaign.label,
        "repo": campaign.push.repo,
        "revision": campaign.push.revision,
        "task_group_id": campaign.push.task_group_id,
        "actions": campaign.actions,
        "tasks": campaign.tasks,
        "max_actions": campaign.max_actions,
        "dry_run": campaign.dry_run,
        "summary": _plain(campaign.summary),
    }


def request_json(request: Request, timeline: Sequence[TimelineEntryView]) -> dict[str, Any]:
    return {
        "id": request.request_id,
        "label": request.label,
        "state": request.state.value,
        "final": request.is_final,
        "failure": request.failure.value if request.failure else None,
        "reason": request.reason,
        "wanted": request.wanted,
        "runs_green": request.runs_green,
        "runs_orange": request.runs_orange,
        "require_green": request.require_green,
        "remedy": request.remedy.value,
        "actions": request.actions,
        "tasks": request.tasks,
        "max_actions": request.max_actions,
        "task_ids": list(request.task_ids),
        "timeline": [timeline_json(entry) for entry in timeline],
    }


def timeline_json(entry: TimelineEntryView) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "kind": entry.kind,
        "task_id": entry.task_id,
        "detail": _plain(entry.detail),
    }


def action_json(action: ActionView) -> dict[str, Any]:
    return {
        "key": action.key,
        "kind": action.kind,
        "state": action.state,
        "why": action.why,
        "result": action.result,
        "error": action.error,
        "request_id": action.request_id,
    }


def campaign_detail_json(
    campaign: Campaign,
    requests: Sequence[tuple[Request, Sequence[TimelineEntryView]]],
    actions: Sequence[ActionView],
) -> dict[str, Any]:
    document = campaign_json(campaign)
    document["requests"] = [request_json(request, timeline) for request, timeline in requests]
    document["action_log"] = [action_json(action) for action in actions]
    return document


def health_json(health: HealthView) -> dict[str, Any]:
    return {
        "alive": health.alive,
        "ready": health.ready,
        "reasons": list(health.reasons),
        "checks": {name: bool(value) for name, value in sorted(health.checks.items())},
        "status": health.status,
    }


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    # Campaign params/summaries come from JSON columns; a copy keeps the view detached.
    return {str(key): item for key, item in value.items()}
