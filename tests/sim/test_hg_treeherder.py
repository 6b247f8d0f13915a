"""hg pushlog and Treeherder endpoints, compared with the real responses' shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mozci_monitor.sim import Simulator

from .helpers import get_json, treeherder_jobs


async def test_pushlog_has_the_real_shape(sim: Simulator, reference_dir: Path) -> None:
    real = json.loads((reference_dir / "treeherder" / "hg_pushlog.json").read_text())
    ours = await get_json(f"{sim.hg_url}/autoland/json-pushes", version="2", full="1", startID="0")
    assert set(ours) == set(real)
    real_push = next(iter(real["pushes"].values()))
    our_push = next(iter(ours["pushes"].values()))
    assert set(our_push) == set(real_push)
    assert set(real_push["changesets"][0]) <= set(our_push["changesets"][0])
    assert isinstance(our_push["date"], int)
    assert ours["lastpushid"] == sim.pushes[-1].push_id
    assert [int(k) for k in ours["pushes"]] == [p.push_id for p in sim.pushes]


async def test_pushlog_ranges_are_exclusive_start_inclusive_end(sim: Simulator) -> None:
    first = sim.pushes[0].push_id
    ours = await get_json(
        f"{sim.hg_url}/integration/autoland/json-pushes",
        version="2",
        startID=str(first),
        endID=str(first + 2),
    )
    assert list(ours["pushes"]) == [str(first + 1), str(first + 2)]
    changesets = ours["pushes"][str(first + 1)]["changesets"]
    assert all(isinstance(node, str) and len(node) == 40 for node in changesets)


async def test_pushlog_by_changeset_and_tips_only(sim: Simulator) -> None:
    push = next(p for p in sim.pushes if len(p.changesets) > 1)
    by_rev = await get_json(
        f"{sim.hg_url}/autoland/json-pushes", version="2", changeset=push.revision
    )
    assert list(by_rev["pushes"]) == [str(push.push_id)]
    tips = await get_json(
        f"{sim.hg_url}/autoland/json-pushes",
        version="2",
        changeset=push.revision,
        tipsonly="1",
        full="1",
    )
    (tip,) = tips["pushes"][str(push.push_id)]["changesets"]
    assert tip["node"] == push.revision
    assert "desc" in tip and "author" in tip and "files" in tip


async def test_pushlog_grows_as_pushes_land(sim: Simulator) -> None:
    before = await get_json(f"{sim.hg_url}/autoland/json-pushes", version="2")
    await sim.advance(1)
    after = await get_json(f"{sim.hg_url}/autoland/json-pushes", version="2")
    assert after["lastpushid"] == before["lastpushid"] + 1


async def test_pushlog_errors(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{sim.hg_url}/mozilla-central/json-pushes"
        async with session.get(url, params={"version": "2"}) as response:
            assert response.status == 404
        url = f"{sim.hg_url}/autoland/json-pushes"
        async with session.get(url, params={"changeset": "f" * 40}) as response:
            assert response.status == 404


async def test_treeherder_push_by_revision(sim: Simulator) -> None:
    push = sim.pushes[1]
    body = await get_json(
        f"{sim.treeherder_url}/api/project/autoland/push/", revision=push.revision
    )
    (result,) = body["results"]
    assert result["revision"] == push.revision
    assert result["id"] == push.treeherder_id != push.push_id
    assert result["revision_count"] == len(result["revisions"]) == len(push.changesets)
    assert body["meta"]["revision"] == push.revision


async def test_treeherder_jobs_page_and_map_states(sim: Simulator) -> None:
    push = sim.pushes[0]
    all_jobs = await treeherder_jobs(sim, push)
    paged = await treeherder_jobs(sim, push, count=3)
    assert paged == all_jobs
    tasks = {t.task_id: t for t in sim.tasks_of(push)}
    assert {j["task_id"] for j in all_jobs} == set(tasks)
    for job in all_jobs:
        task = tasks[job["task_id"]]
        assert job["job_type_name"] == task.label
        assert job["push_id"] == push.treeherder_id
        assert job["state"] == "completed"
        assert job["result"] == "success"
    assert len({j["id"] for j in all_jobs}) == len(all_jobs)


async def test_treeherder_hides_unscheduled_and_shows_pending(sim: Simulator) -> None:
    await sim.advance(400)  # the live push's decision has run, builds are going
    push = sim.pushes[-1]
    jobs = await treeherder_jobs(sim, push)
    shown = {j["task_id"]: j for j in jobs}
    for task in sim.tasks_of(push):
        if task.state == "unscheduled":
            assert task.task_id not in shown
        else:
            job = shown[task.task_id]
            expected = (
                "completed" if task.state in ("completed", "failed", "exception") else task.state
            )
            assert job["state"] == expected
            if task.state in ("pending", "running"):
                assert job["result"] == "unknown"


async def test_project_jobs_endpoint_returns_dicts(sim: Simulator) -> None:
    push = sim.pushes[0]
    body: dict[str, Any] = await get_json(
        f"{sim.treeherder_url}/api/project/autoland/jobs/",
        push_id=str(push.treeherder_id),
        count="2",
    )
    assert len(body["results"]) == 2
    assert {"job_type_name", "result", "state", "task_id", "retry_id"} <= set(body["results"][0])


async def test_unknown_project_is_404(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{sim.treeherder_url}/api/project/nope/push/"
        async with session.get(url) as response:
            assert response.status == 404


@pytest.mark.parametrize("param", ["push_id", "result_set_id"])
async def test_jobs_accept_legacy_result_set_id(sim: Simulator, param: str) -> None:
    push = sim.pushes[0]
    body = await get_json(f"{sim.treeherder_url}/api/jobs/", **{param: str(push.treeherder_id)})
    assert body["results"]


async def test_treeherder_push_found_by_any_of_its_changesets(sim: Simulator) -> None:
    push = next(p for p in sim.pushes if len(p.changesets) > 1)
    first = push.changesets[0]["node"]
    body = await get_json(f"{sim.treeherder_url}/api/project/autoland/push/", revision=first)
    assert [r["id"] for r in body["results"]] == [push.treeherder_id]
