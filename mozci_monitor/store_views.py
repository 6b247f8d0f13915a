"""The API's campaign documents, built straight from a store (the CLI without a daemon).

The same views (`api.views`) over the same reads the daemon's API backend makes, so that
`list` and `show` answer alike whether they asked the daemon or opened its store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mozci_monitor.api.backend import ActionView, TimelineEntryView
from mozci_monitor.api.views import campaign_detail_json, campaign_json
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.ports.store import StoreReader

# What `mozci-monitor list` asks the API for, and so reads from a store too.
LIST_LIMIT = 50


def campaign_list(
    reader: StoreReader, *, open_only: bool, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    return [campaign_json(c) for c in reader.list_campaigns(open_only=open_only, limit=limit)]


def campaign_detail(reader: StoreReader, campaign: Campaign) -> dict[str, Any]:
    requests = reader.campaign_requests(campaign.campaign_id)
    timelines = [
        (
            request,
            [
                TimelineEntryView(e.seq, e.at, e.kind, e.task_id, e.detail)
                for e in reader.timeline(request.request_id)
            ],
        )
        for request in requests
    ]
    actions = campaign_actions(reader, campaign.campaign_id, requests)
    return campaign_detail_json(campaign, timelines, actions)


def campaign_actions(
    reader: StoreReader, campaign_id: str, requests: Sequence[Request] | None = None
) -> list[ActionView]:
    """The outbox entries of the campaign and of its requests (read when not given), each
    key once, as the API shows them."""
    if requests is None:
        requests = reader.campaign_requests(campaign_id)
    entries = list(reader.actions_of(campaign_id=campaign_id))
    for request in requests:
        entries += reader.actions_of(request_id=request.request_id)
    return [
        ActionView(
            key=e.key,
            kind=e.action.kind.value,
            state=e.state,
            why=e.action.why,
            result=e.result,
            error=e.last_error,
            request_id=e.action.request_id,
        )
        for e in {entry.key: entry for entry in entries}.values()
    ]
