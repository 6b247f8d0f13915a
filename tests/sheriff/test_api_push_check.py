"""Submissions through the daemon's API are checked against the push they name, over the
simulator's services: a 12-character revision is resolved to its push, a made-up revision,
another push's task group and a label the push's full task graph lacks are each refused
with a 4xx naming the field, and nothing is recorded for a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.brokers import Broker
from support.ci import history_ci
from support.scene import Scene, scene

from mozci_monitor.api import SubmissionDefaults, create_app
from mozci_monitor.api_backend import DaemonApiBackend
from mozci_monitor.campaigns import CampaignService

TOKEN = "push-check-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def running(broker: Broker, tmp_path: Path) -> AsyncIterator[tuple[Scene, TestClient]]:
    # Every push landed and finished: their decision tasks are in the index.
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        daemon = sc.daemon
        assert daemon is not None
        campaigns = CampaignService(
            daemon, defaults=SubmissionDefaults(), sources=sc._planning_services()
        )
        backend = DaemonApiBackend(daemon, daemon._store, campaigns)
        async with TestClient(TestServer(create_app(backend, token=TOKEN))) as client:
            yield sc, client


async def _submit(client: TestClient, document: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/api/campaigns", json=document, headers=AUTH)
    return response.status, await response.json()


PUSH = 3  # the push the submissions name


def _label(sc: Scene) -> str:
    return next(x for x in sc.pushes[PUSH].scheduled_labels if x.startswith("test-"))


def _watch(sc: Scene, **changes: Any) -> dict[str, Any]:
    push = sc.push_at(PUSH)
    return {
        "kind": "watch",
        "repo": push.repo,
        "revision": push.revision,
        "task_group": push.task_group_id,
        "label": _label(sc),
        **changes,
    }


async def test_a_short_revision_is_resolved_to_its_push(
    running: tuple[Scene, TestClient],
) -> None:
    sc, client = running
    push = sc.push_at(PUSH)
    status, body = await _submit(client, _watch(sc, revision=push.revision[:12]))
    assert status == 201, body
    assert body["revision"] == push.revision  # stored as the push's full revision
    campaign = sc.campaign(body["id"])
    assert campaign.push.task_group_id == push.task_group_id


@pytest.mark.parametrize(
    ("change", "status", "field", "says"),
    [
        ({"revision": "0123456789ab"}, 404, "revision", "has no push with revision"),
        ({"label": "test-linux1804-64/opt-made-up-9"}, 400, "label", "not in the full task graph"),
        ("other-group", 400, "task_group", "is not the task group of"),
    ],
)
async def test_a_submission_the_push_contradicts_is_refused(
    running: tuple[Scene, TestClient], change: Any, status: int, field: str, says: str
) -> None:
    sc, client = running
    if change == "other-group":
        change = {"task_group": sc.push_at(PUSH - 1).task_group_id}
    before = len(sc.reader.list_campaigns())
    answer, body = await _submit(client, _watch(sc, **change))
    assert (answer, body.get("field")) == (status, field), body
    assert says in body["error"]
    assert len(sc.reader.list_campaigns()) == before  # nothing recorded


async def test_until_fail_with_a_short_revision_finds_the_task_group(
    running: tuple[Scene, TestClient],
) -> None:
    sc, client = running
    push = sc.push_at(PUSH)
    document = {
        "kind": "until-fail",
        "repo": push.repo,
        "revision": push.revision[:12],
        "label": _label(sc),
        "dry_run": True,
    }
    status, body = await _submit(client, document)
    assert status == 201, body
    assert (body["revision"], body["task_group_id"]) == (push.revision, push.task_group_id)
