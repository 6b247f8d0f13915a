"""The daemon gives the pages and the notifications the Treeherder and Taskcluster of its
settings (`[sources]`), not Mozilla's production defaults."""

from __future__ import annotations

from pathlib import Path

from aiohttp import ClientSession

from mozci_monitor.config import ApiSettings, Settings, SourcesSettings, StoreSettings
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.model import Push
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore
from mozci_monitor.wiring import build_daemon

from .fakes import GROUP, REVISION


async def test_daemon_links_come_from_the_sources_settings(tmp_path: Path) -> None:
    store_path = tmp_path / "state.sqlite3"
    campaign = Campaign("c-wired000001", CampaignKind.WATCH, Push("autoland", REVISION, GROUP))
    Engine(SqliteStore(store_path)).start_campaign(campaign, [], "2026-11-22T10:00:00Z")
    settings = Settings(
        store=StoreSettings(path=str(store_path)),
        api=ApiSettings(port=0),
        sources=SourcesSettings(
            taskcluster_root_url="http://tc.test", treeherder_url="http://th.test"
        ),
    )
    daemon = build_daemon(settings)
    assert daemon.api_server is not None
    await daemon.api_server.start()
    try:
        async with ClientSession() as session:
            url = f"{daemon.api_server.url}/campaigns/c-wired000001"
            async with session.get(url) as response:
                assert response.status == 200
                html = await response.text()
    finally:
        await daemon.api_server.stop()
    assert f'href="http://th.test/jobs?repo=autoland&amp;revision={REVISION}"' in html
    assert f'href="http://tc.test/tasks/groups/{GROUP}"' in html
    assert "treeherder.mozilla.org" not in html
