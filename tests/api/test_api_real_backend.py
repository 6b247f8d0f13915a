"""The API end to end over the real SQLite store and engine, fed real-format Pulse messages.

`StoreBackend` is the shape of the daemon's backend (the daemon runs the same store calls
through its store thread); here the calls are direct.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from store.pulse_builder import GROUP, LABEL, FakeTask, events, slug

from mozci_monitor.api import (
    ActionView,
    CampaignSubmission,
    HealthView,
    SubmissionDefaults,
    TimelineEntryView,
    build_campaign,
    create_app,
)
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore
from mozci_monitor.store_views import campaign_actions

from .conftest import AUTH
from .fakes import TOKEN, check_response

AT = "2026-11-22T10:00:00.000Z"
REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"

# The budgets of `[actions]` are caps a submission may lower, never raise: configured above
# what these tests submit, so that the submitted budgets are the ones stored.
CONFIGURED = SubmissionDefaults(max_actions_per_request=10)


class StoreBackend:
    def __init__(self, store: SqliteStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    async def list_campaigns(self, *, open_only: bool, limit: int) -> list[Campaign]:
        return self.store.list_campaigns(open_only=open_only, limit=limit)

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        found = self.store.get_campaign(campaign_id)
        if found is not None:
            return found
        matches = self.store.find_campaigns(campaign_id)
        return matches[0] if len(matches) == 1 else None

    async def campaign_requests(self, campaign_id: str) -> list[Request]:
        return self.store.campaign_requests(campaign_id)

    async def request_timeline(self, request_id: str) -> list[TimelineEntryView]:
        return [
            TimelineEntryView(e.seq, e.at, e.kind, e.task_id, e.detail)
            for e in self.store.timeline(request_id)
        ]

    async def campaign_actions(self, campaign_id: str) -> list[ActionView]:
        return campaign_actions(self.store, campaign_id)

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        campaign, requests = build_campaign(submission, CONFIGURED)
        return self.engine.start_campaign(campaign, requests, AT)

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None:
        return self.engine.cancel_campaign(campaign_id, reason, AT)

    def health(self) -> HealthView:
        return HealthView(alive=True, ready=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "api.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def engine(store: SqliteStore) -> Engine:
    return Engine(store)


@pytest.fixture
async def client(store: SqliteStore, engine: Engine) -> AsyncIterator[TestClient]:
    app = create_app(StoreBackend(store, engine), token=TOKEN)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def _watch(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "watch",
        "repo": "autoland",
        "revision": REVISION,
        "task_group": GROUP,
        "label": LABEL,
        **extra,
    }


async def _submit(client: TestClient, document: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/campaigns", json=document, headers=AUTH)
    body = await response.json()
    assert response.status == 201, body
    check_response("/api/campaigns", "POST", 201, body)
    return body


async def _show(client: TestClient, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/campaigns/{campaign_id}")
    body = await response.json()
    assert response.status == 200, body
    check_response("/api/campaigns/{id}", "GET", 200, body)
    return body


async def test_a_watch_campaign_runs_to_its_end_through_the_api(
    client: TestClient, engine: Engine
) -> None:
    submitted = await _submit(client, _watch(times=1))
    assert submitted["state"] == "running"

    task = FakeTask(slug(7))
    engine.apply(events(task.lifecycle("completed")), AT)

    shown = await _show(client, submitted["id"])
    assert shown["state"] == "finished"
    assert shown["outcome"] == "all 1 requests satisfied"
    (request,) = shown["requests"]
    assert request["state"] == "completed"
    assert request["task_ids"] == [slug(7)]
    kinds = [entry["kind"] for entry in request["timeline"]]
    assert kinds[0] == "registered"
    assert "task-seen" in kinds and kinds[-1] == "state"
    phases = [e["detail"]["phase"] for e in request["timeline"] if e["kind"] == "task-phase"]
    assert phases[-1] == "completed"
    # The campaign's end is notified once, through the outbox.
    assert [(a["kind"], a["state"]) for a in shown["action_log"]] == [("notify", "pending")]


async def test_an_orange_with_green_required_queues_a_retrigger(
    client: TestClient, engine: Engine
) -> None:
    submitted = await _submit(client, _watch(green=True, max_actions=2))
    task = FakeTask(slug(8))
    engine.apply(events(task.lifecycle("failed")), AT)

    shown = await _show(client, submitted["id"])
    assert shown["state"] == "running"
    (request,) = shown["requests"]
    assert request["actions"] == 1
    (action,) = shown["action_log"]
    assert (action["kind"], action["state"]) == ("retrigger", "pending")
    assert action["request_id"] == request["id"]
    assert "green" in action["why"]


async def test_cancel_list_and_prefix(client: TestClient) -> None:
    keep = await _submit(client, _watch())
    drop = await _submit(client, _watch(record_only=True))

    response = await client.post(
        f"/api/campaigns/{drop['id']}/cancel", json={"reason": "wrong push"}, headers=AUTH
    )
    assert response.status == 200
    canceled = await response.json()
    assert (canceled["state"], canceled["outcome"]) == ("canceled", "wrong push")
    shown = await _show(client, drop["id"])
    assert [r["state"] for r in shown["requests"]] == ["canceled"]

    running = await (await client.get("/api/campaigns?open=true")).json()
    assert [c["id"] for c in running] == [keep["id"]]
    everything = await (await client.get("/api/campaigns")).json()
    assert {c["id"] for c in everything} == {keep["id"], drop["id"]}

    by_prefix = await _show(client, keep["id"][:8])
    assert by_prefix["id"] == keep["id"]


async def test_downstream_submission_is_stored_like_the_cli_does(
    client: TestClient, store: SqliteStore
) -> None:
    document = {k: v for k, v in _watch(max_actions=4).items() if k != "label"}
    submitted = await _submit(client, {**document, "kind": "downstream", "build": "build-linux"})
    campaign = store.get_campaign(submitted["id"])
    assert campaign is not None
    assert campaign.params["max_actions_per_request"] == 4
    (request,) = store.campaign_requests(campaign.campaign_id)
    assert (request.request_id, request.label) == (f"{campaign.campaign_id}-build", "build-linux")
