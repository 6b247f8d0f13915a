"""`mozci_monitor.api.ApiBackend` over a running daemon.

Reads go to the store's read-only view on its own thread (never behind message commits);
submissions and cancellations go through the campaign service, the one path every campaign
takes.
"""

from __future__ import annotations

from mozci_monitor.api.backend import (
    ActionView,
    CampaignSubmission,
    HealthView,
    TimelineEntryView,
)
from mozci_monitor.campaigns import CampaignService
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.daemon import Daemon
from mozci_monitor.ports.store import DaemonStore, StoreReader
from mozci_monitor.store_views import campaign_actions


class DaemonApiBackend:
    def __init__(self, daemon: Daemon, store: DaemonStore, campaigns: CampaignService) -> None:
        self._daemon = daemon
        self._store = store
        self._campaigns = campaigns

    async def list_campaigns(self, *, open_only: bool, limit: int) -> list[Campaign]:
        return await self._daemon.in_reader(
            lambda reader: reader.list_campaigns(open_only=open_only, limit=limit)
        )

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        def find(reader: StoreReader) -> Campaign | None:
            exact = reader.get_campaign(campaign_id)
            if exact is not None:
                return exact
            matches = reader.find_campaigns(campaign_id)
            return matches[0] if len(matches) == 1 else None

        return await self._daemon.in_reader(find)

    async def campaign_requests(self, campaign_id: str) -> list[Request]:
        return await self._daemon.in_reader(lambda reader: reader.campaign_requests(campaign_id))

    async def request_timeline(self, request_id: str) -> list[TimelineEntryView]:
        entries = await self._daemon.in_reader(lambda reader: reader.timeline(request_id))
        return [TimelineEntryView(e.seq, e.at, e.kind, e.task_id, e.detail) for e in entries]

    async def campaign_actions(self, campaign_id: str) -> list[ActionView]:
        return await self._daemon.in_reader(lambda reader: campaign_actions(reader, campaign_id))

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        return await self._campaigns.submit(submission)

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None:
        return await self._campaigns.cancel(campaign_id, reason)

    def health(self) -> HealthView:
        return self._daemon.api_health()
