"""Treeherder REST: push by revision, jobs of a push with paging."""

from __future__ import annotations

import aiohttp
import pytest
from aioresponses import aioresponses

from mozci_monitor.sources.errors import NotFound, SourceError
from mozci_monitor.sources.models import TreeherderJob
from mozci_monitor.sources.politeness import Policy, PoliteSource
from mozci_monitor.sources.treeherder import TreeherderClient, parse_jobs

TH = "https://th.example"
REV = "5f90901a36bb9735cef6dc7d746d06880a61226d"
NAMES = [
    "failure_classification_id",
    "id",
    "job_group_name",
    "job_group_symbol",
    "job_type_name",
    "job_type_symbol",
    "last_modified",
    "platform",
    "push_id",
    "push_revision",
    "result",
    "signature",
    "state",
    "tier",
    "task_id",
    "retry_id",
    "duration",
    "platform_option",
]


def row(job_id, label, result, state, task_id, retry_id=0):
    values = {
        "failure_classification_id": 1,
        "id": job_id,
        "job_group_name": "Mochitests",
        "job_group_symbol": "M",
        "job_type_name": label,
        "job_type_symbol": "1",
        "last_modified": "2026-11-22T12:00:00",
        "platform": "linux1804-64",
        "push_id": 1234,
        "push_revision": REV,
        "result": result,
        "signature": "abc",
        "state": state,
        "tier": 1,
        "task_id": task_id,
        "retry_id": retry_id,
        "duration": 12,
        "platform_option": "opt",
    }
    return [values[name] for name in NAMES]


@pytest.fixture
async def client(clock):
    async with aiohttp.ClientSession() as session:
        gate = PoliteSource("treeherder", Policy(rate_limit=2), clock=clock, sleep=clock.sleep)
        yield TreeherderClient(session, gate, base_url=TH, page_size=2)


async def test_push_by_revision(client):
    with aioresponses() as m:
        m.get(
            f"{TH}/api/project/autoland/push/?revision={REV}",
            payload={
                "meta": {"revision": REV, "count": 1, "repository": "autoland"},
                "results": [
                    {
                        "id": 1234,
                        "revision": REV,
                        "author": "someone@mozilla.com",
                        "revisions": [{"revision": REV, "author": "x", "comments": "Bug 1"}],
                        "revision_count": 1,
                        "push_timestamp": 1700000000,
                        "repository_id": 77,
                    }
                ],
            },
        )
        push = await client.push("autoland", REV)
    assert push.id == 1234
    assert push.revisions == (REV,)
    assert push.push_timestamp == 1700000000


async def test_unknown_push_is_not_found(client):
    with aioresponses() as m:
        m.get(f"{TH}/api/project/try/push/?revision=ffff", payload={"meta": {}, "results": []})
        with pytest.raises(NotFound, match="ffff"):
            await client.push("try", "ffff")


async def test_jobs_follow_next_pages_within_the_rate_limit(client, clock):
    page1 = f"{TH}/api/jobs/?push_id=1234&count=2"
    page2 = f"{TH}/api/jobs/?push_id=1234&count=2&page=2"
    page3 = f"{TH}/api/jobs/?push_id=1234&count=2&page=3"
    with aioresponses() as m:
        m.get(
            page1,
            payload={
                "count": 5,
                "next": page2,
                "previous": None,
                "results": [
                    row(1, "test-linux1804-64/opt-mochitest-1", "success", "completed", "T1"),
                    row(2, "test-linux1804-64/opt-mochitest-2", "testfailed", "completed", "T2"),
                ],
                "job_property_names": NAMES,
            },
        )
        m.get(
            page2,
            payload={
                "count": 5,
                "next": page3,
                "results": [
                    row(3, "build-linux64/opt", "unknown", "running", "T3"),
                    row(4, "test-linux1804-64/opt-mochitest-2", "retry", "completed", "T2", 0),
                ],
                "job_property_names": NAMES,
            },
        )
        m.get(
            page3,
            payload={
                "count": 5,
                "next": None,
                "results": [
                    row(5, "test-linux1804-64/opt-mochitest-2", "success", "completed", "T2", 1)
                ],
                "job_property_names": NAMES,
            },
        )
        jobs = await client.jobs(1234)
    assert [j.id for j in jobs] == [1, 2, 3, 4, 5]
    assert jobs[1] == TreeherderJob(
        id=2,
        label="test-linux1804-64/opt-mochitest-2",
        result="testfailed",
        state="completed",
        task_id="T2",
        retry_id=0,
        push_id=1234,
        platform="linux1804-64",
        tier=1,
    )
    assert jobs[4].retry_id == 1
    assert client._http.gate.meter.total == 3
    assert client._http.gate.max_observed_rate() <= 2


async def test_jobs_for_revision(client):
    with aioresponses() as m:
        m.get(
            f"{TH}/api/project/autoland/push/?revision={REV}",
            payload={"results": [{"id": 77, "revision": REV, "author": "a"}]},
        )
        m.get(
            f"{TH}/api/jobs/?push_id=77&count=2",
            payload={"next": None, "results": [], "job_property_names": NAMES},
        )
        assert await client.jobs_for_revision("autoland", REV) == []


def test_parse_jobs_accepts_object_rows():
    jobs = parse_jobs(
        {
            "results": [
                {
                    "id": 9,
                    "job_type_name": "source-test-mozlint-eslint",
                    "result": "busted",
                    "state": "completed",
                    "task_id": "Z",
                    "retry_id": 2,
                }
            ]
        }
    )
    assert jobs == [
        TreeherderJob(
            id=9,
            label="source-test-mozlint-eslint",
            result="busted",
            state="completed",
            task_id="Z",
            retry_id=2,
        )
    ]


async def test_paging_loop_is_detected(client):
    url = f"{TH}/api/jobs/?push_id=1&count=2"
    with aioresponses() as m:
        m.get(url, payload={"next": url, "results": [], "job_property_names": NAMES}, repeat=True)
        with pytest.raises(SourceError, match="loops"):
            await client.jobs(1)


async def test_malformed_job_row_is_a_source_error(client):
    with aioresponses() as m:
        m.get(
            f"{TH}/api/jobs/?push_id=1&count=2",
            payload={"next": None, "results": [{"state": "x"}]},
        )
        with pytest.raises(SourceError, match="unexpected answer"):
            await client.jobs(1)
