"""Fault injection on the REST endpoints: 500, 429, timeout and connection reset."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mozci_monitor.sim import Simulator

from .helpers import queue


async def test_500_once_then_the_client_retries(sim: Simulator) -> None:
    push = sim.pushes[0]
    fault = sim.faults.add(r"/api/queue/v1/task/[^/]+/status$", kind="500", count=1)
    url = queue(sim).buildUrl("status", push.decision_task_id)
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 500
        async with session.get(url) as response:
            assert response.status == 200
    fault.remaining = 1
    # the official client retries 5xx by itself
    status = await queue(sim).status(push.decision_task_id)
    assert status["status"]["taskId"] == push.decision_task_id
    assert fault.hits == 2


async def test_429_carries_retry_after(sim: Simulator) -> None:
    sim.faults.add(r"/treeherder/api/jobs/", kind="429", count=2, retry_after=7)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(f"{sim.treeherder_url}/api/jobs/?push_id=1") as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "7"
        async with session.get(f"{sim.treeherder_url}/api/jobs/?push_id=1") as response:
            assert response.status == 200


async def test_method_filter_and_unlimited_faults(sim: Simulator) -> None:
    sim.faults.add(r"/hg/", kind="500", count=None, method="POST")
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(f"{sim.hg_url}/autoland/json-pushes") as response:
                assert response.status == 200


async def test_reset_drops_the_connection(sim: Simulator) -> None:
    # aiohttp's client retries an idempotent request once on a fresh connection after a
    # disconnect, so two resets in a row are what a caller sees as an error
    fault = sim.faults.add(r"/api/index/", kind="reset", count=2)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.get(f"{sim.root_url}/api/index/v1/task/x.y") as response:
                await response.read()
        assert fault.hits == 2
        async with session.get(f"{sim.root_url}/api/index/v1/ping") as response:
            assert response.status == 200


async def test_timeout_never_answers_in_time(sim: Simulator) -> None:
    sim.faults.timeout_seconds = 0.5
    sim.faults.add(r"/ping$", kind="timeout", count=1)
    timeout = aiohttp.ClientTimeout(total=0.1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(f"{sim.root_url}/api/queue/v1/ping") as response:
                await response.read()


async def test_faults_do_not_touch_state(sim: Simulator) -> None:
    push = sim.pushes[0]
    task_id = push.label_to_taskid[next(iter(push.label_to_taskid))]
    sim.faults.add(r"/rerun$", kind="500", count=1)
    async with aiohttp.ClientSession() as session:
        url = queue(sim).buildUrl("rerunTask", task_id)
        async with session.post(url) as response:
            assert response.status == 500
    assert len(sim.task(task_id).runs) == 1


def test_unknown_fault_kind_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.faults.add("/", kind="boom")  # type: ignore[arg-type]
