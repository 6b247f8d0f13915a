"""A task's test results through the polite clients: errorsummary artifacts listed and
fetched from a local fake of the queue (with its redirect to storage, paging and a size
bound), Treeherder's failure lines as the second source."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from mozci_monitor.core.errorsummary import CrashReport
from mozci_monitor.core.failure_lines import FailureLine
from mozci_monitor.sources.errors import SourceError
from mozci_monitor.sources.jsonhttp import create_session
from mozci_monitor.sources.politeness import Policy, PoliteSource
from mozci_monitor.sources.task_results import (
    errorsummary_of_task,
    failure_lines_of_job,
    results_of_task,
)
from mozci_monitor.sources.taskcluster import TaskclusterClient
from mozci_monitor.sources.treeherder import TreeherderClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "errorsummary"
TH = "https://th.example"
FINDBAR = "toolkit/content/tests/browser/browser_findbar_marks.js"


class FakeQueue:
    """The queue's listLatestArtifacts (paged) and getLatestArtifact (a 303 to storage)."""

    def __init__(self, artifacts: dict[str, dict[str, bytes]], page_size: int = 2) -> None:
        self.artifacts = artifacts
        self.page_size = page_size
        self.paths: list[str] = []
        self.app = web.Application(middlewares=[self._record])
        router = self.app.router
        router.add_get("/api/queue/v1/task/{task_id}/artifacts", self.list_artifacts)
        router.add_get("/api/queue/v1/task/{task_id}/artifacts/{name:.+}", self.artifact)
        router.add_get("/storage/{task_id}/{name:.+}", self.storage)

    @web.middleware
    async def _record(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        self.paths.append(request.path_qs)
        return await handler(request)

    def _task(self, request: web.Request) -> dict[str, bytes]:
        task_id = request.match_info["task_id"]
        if task_id not in self.artifacts:
            raise web.HTTPNotFound(
                text='{"message": "no such task"}', content_type="application/json"
            )
        return self.artifacts[task_id]

    async def list_artifacts(self, request: web.Request) -> web.Response:
        names = sorted(self._task(request))
        start = int(request.query.get("continuationToken", "0"))
        body: dict[str, object] = {
            "artifacts": [
                {"name": name, "storageType": "s3", "contentType": "text/plain"}
                for name in names[start : start + self.page_size]
            ]
        }
        if start + self.page_size < len(names):
            body["continuationToken"] = str(start + self.page_size)
        return web.json_response(body)

    async def artifact(self, request: web.Request) -> web.Response:
        self._task(request)
        raise web.HTTPSeeOther(
            f"/storage/{request.match_info['task_id']}/{request.match_info['name']}"
        )

    async def storage(self, request: web.Request) -> web.Response:
        data = self._task(request).get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="text/plain")


@pytest.fixture
async def queue():
    group_results = (FIXTURES / "mozci_task_groups_errorsummary.log").read_bytes()
    failure_types = (FIXTURES / "mozci_failure_types_errorsummary.log").read_bytes()
    fake = FakeQueue(
        {
            "TWOLOGS": {
                "public/logs/live_backing.log": b"not a summary",
                "public/test_info/mochitest-browser-chrome_errorsummary.log": group_results,
                "public/test_info/mochitest-browser-chrome-2_errorsummary.log": failure_types,
                "public/test_info/screenshot.png": b"\x89PNG",
            },
            "NOSUMMARY": {"public/logs/live_backing.log": b"x"},
            "HUGE": {
                "public/test_info/wpt_errorsummary.log": group_results * 1000,
            },
        }
    )
    server = TestServer(fake.app)
    await server.start_server()
    fake.root_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    await server.close()


@pytest.fixture
async def taskcluster(queue, clock):
    async with create_session() as session:
        gate = PoliteSource("taskcluster", Policy(), clock=clock, sleep=clock.sleep)
        yield TaskclusterClient(session, gate, root_url=queue.root_url)


async def test_every_errorsummary_artifact_is_read_and_merged(taskcluster, queue) -> None:
    results = await errorsummary_of_task(taskcluster, "TWOLOGS")
    assert results is not None
    assert results.source == "errorsummary"
    assert results.artifacts == (
        "public/test_info/mochitest-browser-chrome-2_errorsummary.log",
        "public/test_info/mochitest-browser-chrome_errorsummary.log",
    )
    summary = results.summary
    assert (summary.lines, summary.bad_lines) == (27, 0)
    assert FINDBAR in summary.failing_tests
    assert summary.crashes[0].signature == "@ mozilla::dom::IDBTransaction::~IDBTransaction()"
    # browser.ini ran in both passes: OK-then-SKIP elsewhere, ERROR here stays ERROR
    assert summary.group_results["toolkit/content/tests/browser/browser.ini"] == "ERROR"
    assert summary.group_results["browser/base/content/test/general/browser.ini"] == "OK"
    # two listing pages, then only the two summaries fetched (each through the redirect)
    listed = [
        path for path in queue.paths if path.startswith("/api/queue/v1/task/TWOLOGS/artifacts?")
    ]
    assert len(listed) == 2
    fetched = [path for path in queue.paths if path.startswith("/storage/")]
    assert sorted(fetched) == [
        "/storage/TWOLOGS/public/test_info/mochitest-browser-chrome-2_errorsummary.log",
        "/storage/TWOLOGS/public/test_info/mochitest-browser-chrome_errorsummary.log",
    ]


async def test_a_task_without_errorsummary_or_unknown_gives_none(taskcluster) -> None:
    assert await errorsummary_of_task(taskcluster, "NOSUMMARY") is None
    assert await errorsummary_of_task(taskcluster, "NOSUCHTASK") is None


async def test_a_huge_artifact_is_read_up_to_the_bound_and_said_to_be_cut(taskcluster) -> None:
    one_copy = len((FIXTURES / "mozci_task_groups_errorsummary.log").read_bytes())
    results = await errorsummary_of_task(taskcluster, "HUGE", max_bytes=10 * one_copy + 7)
    assert results is not None
    summary = results.summary
    # ten whole copies, then 7 bytes of a line that was dropped
    assert summary.lines == 170
    assert summary.bad_lines == 1
    assert summary.bad_line_reasons[-1] == f"cut at {10 * one_copy + 7} bytes"
    assert FINDBAR in summary.failing_tests


BUG_SUGGESTIONS = [
    {
        "search": f"TEST-UNEXPECTED-FAIL | {FINDBAR} | second value - got 1354, expected 1366",
        "search_terms": ["browser_findbar_marks.js"],
        "path_end": FINDBAR,
        "bugs": {"open_recent": [{"id": 1, "summary": "Intermittent findbar"}], "all_others": []},
        "line_number": 4054,
        "counter": 3,
        "failure_new_in_rev": False,
    },
    {
        "search": "PROCESS-CRASH | application crashed [@ mozilla::Foo::Bar()] | dom/x/test_y.html",
        "search_terms": ["mozilla::Foo::Bar()"],
        "path_end": "dom/x/test_y.html",
        "bugs": {"open_recent": [], "all_others": []},
        "line_number": 5000,
        "counter": 0,
        "failure_new_in_rev": True,
    },
]


@pytest.fixture
async def treeherder(clock):
    async with create_session() as session:
        gate = PoliteSource("treeherder", Policy(), clock=clock, sleep=clock.sleep)
        yield TreeherderClient(session, gate, base_url=TH)


async def test_treeherder_failure_lines_of_a_job(treeherder) -> None:
    with aioresponses() as m:
        m.get(f"{TH}/api/project/autoland/jobs/42/bug_suggestions/", payload=BUG_SUGGESTIONS)
        lines = await treeherder.failure_lines("autoland", 42)
        m.get(f"{TH}/api/project/autoland/jobs/42/bug_suggestions/", payload=BUG_SUGGESTIONS)
        results = await failure_lines_of_job(treeherder, "autoland", 42)
    assert lines[0] == FailureLine(
        text=BUG_SUGGESTIONS[0]["search"],  # type: ignore[arg-type]
        path_end=FINDBAR,
        has_bug_suggestions=True,
        new_in_revision=False,
    )
    assert (lines[1].has_bug_suggestions, lines[1].new_in_revision) == (False, True)
    assert results.source == "treeherder"
    assert results.summary.failing_tests == {FINDBAR}
    assert results.summary.crashes == (
        CrashReport(test="dom/x/test_y.html", group=None, signature="mozilla::Foo::Bar()"),
    )
    assert not results.summary.complete


async def test_treeherder_answer_of_the_wrong_shape_is_a_source_error(treeherder) -> None:
    with aioresponses() as m:
        m.get(f"{TH}/api/project/autoland/jobs/42/bug_suggestions/", payload={"detail": "x"})
        with pytest.raises(SourceError, match="unexpected answer"):
            await treeherder.failure_lines("autoland", 42)
        m.get(f"{TH}/api/project/autoland/jobs/42/bug_suggestions/", payload=["text"])
        with pytest.raises(SourceError, match="unexpected answer"):
            await treeherder.failure_lines("autoland", 42)


async def test_treeherder_is_asked_only_when_the_task_has_no_errorsummary(
    taskcluster, treeherder
) -> None:
    with aioresponses(passthrough=["http://127.0.0.1"]) as m:
        m.get(f"{TH}/api/project/autoland/jobs/7/bug_suggestions/", payload=BUG_SUGGESTIONS)
        from_artifacts = await results_of_task(
            taskcluster, treeherder, "TWOLOGS", repo="autoland", job_id=7
        )
        from_treeherder = await results_of_task(
            taskcluster, treeherder, "NOSUMMARY", repo="autoland", job_id=7
        )
        no_job = await results_of_task(taskcluster, treeherder, "NOSUMMARY", repo="autoland")
        bug_suggestion_calls = [key for key in m.requests if "bug_suggestions" in str(key[1])]
    assert from_artifacts is not None and from_artifacts.source == "errorsummary"
    assert from_treeherder is not None and from_treeherder.source == "treeherder"
    assert no_job is None
    assert len(bug_suggestion_calls) == 1
