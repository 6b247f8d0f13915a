"""TaskclusterClient against a local fake of the Taskcluster REST API, and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from structlog.testing import capture_logs

from mozci_monitor.core.messages import parse_status
from mozci_monitor.core.model import TaskStatus as CoreTaskStatus
from mozci_monitor.sources.actions import render_action
from mozci_monitor.sources.errors import NotFound, SourceError, TransientError
from mozci_monitor.sources.jsonhttp import create_session
from mozci_monitor.sources.politeness import USER_AGENT, Policy, PoliteSource
from mozci_monitor.sources.taskcluster import PRODUCTION_ROOT_URL, TaskclusterClient

GROUP = "MibGDsa4Q7uFNzDf7EV6nw"


@pytest.fixture
def task_group(reference_dir):
    with open(reference_dir / "task-groups" / f"{GROUP}.json") as f:
        return json.load(f)


class FakeTaskcluster:
    """Just enough of the queue/index/hooks/notify REST API to drive the client."""

    def __init__(self, group: dict, page_size: int = 50) -> None:
        self.group = group
        self.page_size = page_size
        self.requests: list[web.Request] = []
        self.bodies: list[object] = []
        self.artifacts: dict[str, object] = {}
        self.app = web.Application(middlewares=[self._record])
        r = self.app.router
        r.add_get("/api/queue/v1/task/{task_id}", self.task)
        r.add_get("/api/queue/v1/task/{task_id}/status", self.status)
        r.add_get("/api/queue/v1/task-group/{group}/list", self.list_group)
        r.add_get("/api/queue/v1/task/{task_id}/artifacts/{name:.+}", self.artifact)
        r.add_get("/storage/{task_id}/{name:.+}", self.storage)
        r.add_post("/api/queue/v1/task/{task_id}/rerun", self.rerun)
        r.add_get("/api/index/v1/task/{path}", self.find_task)
        r.add_post("/api/hooks/v1/hooks/{group}/{hook}/trigger", self.trigger)
        r.add_post("/api/notify/v1/email", self.notify)
        r.add_post("/api/notify/v1/matrix", self.notify)

    @web.middleware
    async def _record(self, request, handler):
        self.requests.append(request)
        if request.can_read_body:
            self.bodies.append(await request.json())
        return await handler(request)

    def _entry(self, task_id):
        for entry in self.group["tasks"]:
            if entry["status"]["taskId"] == task_id:
                return entry
        raise web.HTTPNotFound(
            text=json.dumps({"message": f"no task {task_id}"}), content_type="application/json"
        )

    async def task(self, request):
        return web.json_response(self._entry(request.match_info["task_id"])["task"])

    async def status(self, request):
        return web.json_response({"status": self._entry(request.match_info["task_id"])["status"]})

    async def list_group(self, request):
        start = int(request.query.get("continuationToken", "0"))
        tasks = self.group["tasks"][start : start + self.page_size]
        body = {"taskGroupId": request.match_info["group"], "tasks": tasks}
        if start + self.page_size < len(self.group["tasks"]):
            body["continuationToken"] = str(start + self.page_size)
        return web.json_response(body)

    async def artifact(self, request):
        # Like the real queue: a 303 to wherever the artifact is stored.
        task_id, name = request.match_info["task_id"], request.match_info["name"]
        raise web.HTTPSeeOther(f"/storage/{task_id}/{name}")

    async def storage(self, request):
        name = request.match_info["name"]
        return web.json_response(self.artifacts.get(name, {"stored": name}))

    async def rerun(self, request):
        # As the queue does: a new pending run, created by the rerun.
        status = dict(self._entry(request.match_info["task_id"])["status"])
        runs = list(status.get("runs", ()))
        runs.append({"runId": len(runs), "state": "pending", "reasonCreated": "rerun"})
        return web.json_response({"status": dict(status, state="pending", runs=runs)})

    async def find_task(self, request):
        path = request.match_info["path"]
        if path != "gecko.v2.mozilla-central.revision.abc123.taskgraph.decision":
            return web.json_response({"message": "Indexed task not found"}, status=404)
        return web.json_response({"namespace": path, "taskId": "DECISION", "rank": 0})

    async def trigger(self, request):
        return web.json_response({"status": {"taskId": "ACTIONTASK", "state": "pending"}})

    async def notify(self, request):
        return web.Response(status=200, text="{}", content_type="application/json")


@pytest.fixture
async def fake_tc(task_group):
    fake = FakeTaskcluster(task_group)
    server = TestServer(fake.app)
    await server.start_server()
    fake.root_url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def session():
    async with create_session() as s:
        yield s


def make_client(session, clock, root_url, **policy):
    gate = PoliteSource("taskcluster", Policy(**policy), clock=clock, sleep=clock.sleep)
    return TaskclusterClient(
        session,
        gate,
        root_url=root_url,
        credentials={"clientId": "project/mozci/monitor", "accessToken": "s3cret"},
    )


async def test_task_and_status_are_typed_and_throttled(session, clock, fake_tc, task_group):
    client = make_client(session, clock, fake_tc.root_url)
    first = task_group["tasks"][0]
    task_id = first["status"]["taskId"]
    task = await client.task(task_id)
    assert task["metadata"]["name"] == first["task"]["metadata"]["name"]
    status = await client.status(task_id)
    assert status.task_id == task_id
    assert status.task_group_id == GROUP
    assert status.state == first["status"]["state"]
    assert [run.run_id for run in status.runs] == [r["runId"] for r in first["status"]["runs"]]
    assert client.gate.meter.total == 2


async def test_queue_statuses_are_the_core_type(session, clock, fake_tc, task_group):
    # One TaskStatus for Pulse messages, queue answers and the store: no conversion between.
    client = make_client(session, clock, fake_tc.root_url)
    first = task_group["tasks"][0]
    status = await client.status(first["status"]["taskId"])
    assert type(status) is CoreTaskStatus
    assert status == parse_status(first["status"])
    (member, *_) = await client.list_task_group(GROUP)
    assert type(member.status) is CoreTaskStatus


async def test_an_unusable_status_from_the_queue_is_a_source_error(
    session, clock, fake_tc, task_group
):
    client = make_client(session, clock, fake_tc.root_url)
    entry = task_group["tasks"][0]
    entry["status"] = dict(entry["status"], state="no-such-state")
    with pytest.raises(SourceError, match=r"unusable task status: status\.state") as info:
        await client.status(entry["status"]["taskId"])
    assert info.value.source == "taskcluster"


async def test_list_task_group_skips_only_the_unusable_entries(session, clock, fake_tc, task_group):
    client = make_client(session, clock, fake_tc.root_url)
    task_group["tasks"][3]["status"] = dict(task_group["tasks"][3]["status"], runs="garbage")
    with capture_logs() as logs:
        members = await client.list_task_group(GROUP)
    assert len(members) == len(task_group["tasks"]) - 1
    assert task_group["tasks"][3]["status"]["taskId"] not in {m.task_id for m in members}
    (warning,) = [e for e in logs if e["event"] == "unparseable task status from the queue"]
    assert warning["reason"] == "status.runs must be a list"


async def test_taskcluster_requests_identify_themselves_and_sign(session, clock, fake_tc):
    client = make_client(session, clock, fake_tc.root_url)
    with pytest.raises(NotFound):
        await client.task("doesNotExist")
    (request,) = fake_tc.requests
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Authorization"].startswith("Hawk ")
    assert "s3cret" not in request.headers["Authorization"]


async def test_list_task_group_follows_every_page(session, clock, fake_tc, task_group):
    client = make_client(session, clock, fake_tc.root_url, rate_limit=3, period=1.0)
    members = await client.list_task_group(GROUP)
    assert len(members) == len(task_group["tasks"]) == 201
    assert len({m.task_id for m in members}) == 201
    failed = [m for m in members if m.status.state == "failed"]
    assert len(failed) == 6
    assert all(m.label for m in members)
    # 201 tasks at 50 per page: 5 polite calls, within the 3-per-second limit.
    assert client.gate.meter.total == 5
    assert client.gate.max_observed_rate() <= 3


async def test_artifact_json_follows_the_queue_redirect(session, clock, fake_tc):
    client = make_client(session, clock, fake_tc.root_url)
    actions = await client.artifact_json("DECISION", "public/actions.json")
    assert actions == {"stored": "public/actions.json"}
    assert [r.path for r in fake_tc.requests] == [
        "/api/queue/v1/task/DECISION/artifacts/public/actions.json",
        "/storage/DECISION/public/actions.json",
    ]


async def test_find_decision_task(session, clock, fake_tc):
    client = make_client(session, clock, fake_tc.root_url)
    assert await client.find_decision_task("mozilla-central", "abc123") == "DECISION"
    with pytest.raises(NotFound) as info:
        await client.find_decision_task("autoland", "fff")
    assert "gecko.v2.autoland.revision.fff.taskgraph.decision" in str(info.value)


async def test_trigger_hook_rerun_and_notify(session, clock, fake_tc, task_group):
    client = make_client(session, clock, fake_tc.root_url)
    payload = {"decision": {"action": {"name": "retrigger"}}, "user": {"input": {"times": 2}}}
    created = await client.trigger_hook("project-gecko", "in-tree-action-3-generic/abc", payload)
    assert created == "ACTIONTASK"
    assert fake_tc.bodies[0] == payload
    # The hook ID holds a slash; it must travel encoded as one path segment.
    assert fake_tc.requests[0].raw_path == (
        "/api/hooks/v1/hooks/project-gecko/in-tree-action-3-generic%2Fabc/trigger"
    )

    task_id = task_group["tasks"][0]["status"]["taskId"]
    status = await client.rerun_task(task_id)
    assert status.state == "pending"

    await client.notify_email("a@example.com", "subject", "**body**", link=("https://x", "x"))
    await client.notify_matrix("!room:mozilla.org", "plain", formatted_body="<b>html</b>")
    assert fake_tc.bodies[-2] == {
        "address": "a@example.com",
        "subject": "subject",
        "content": "**body**",
        "link": {"href": "https://x", "text": "x"},
    }
    assert fake_tc.bodies[-1]["formattedBody"] == "<b>html</b>"
    assert fake_tc.bodies[-1]["roomId"] == "!room:mozilla.org"


ROOT = "https://tc.example"


async def test_5xx_is_retried_by_the_gate_not_the_client(clock):
    async with aiohttp.ClientSession() as session:
        client = make_client(session, clock, ROOT, attempts=4)
        url = f"{ROOT}/api/queue/v1/task/T1"
        with aioresponses() as m:
            m.get(url, status=500)
            m.get(url, status=503)
            m.get(url, payload={"metadata": {"name": "x"}})
            task = await client.task("T1")
            assert task == {"metadata": {"name": "x"}}
            assert sum(len(calls) for calls in m.requests.values()) == 3
    assert client.gate.meter.total == 3
    assert len(clock.sleeps) == 2


async def test_5xx_exhausted_becomes_transient_error(clock):
    async with aiohttp.ClientSession() as session:
        client = make_client(session, clock, ROOT, attempts=2, breaker_threshold=10)
        with aioresponses() as m:
            m.get(f"{ROOT}/api/queue/v1/task/T1/status", status=502, repeat=True)
            with pytest.raises(TransientError) as info:
                await client.status("T1")
    assert info.value.status == 502
    assert info.value.source == "taskcluster"


async def test_connection_error_is_retried(clock):
    async with aiohttp.ClientSession() as session:
        client = make_client(session, clock, ROOT)
        url = f"{ROOT}/api/index/v1/task/gecko.v2.try.revision.abc.taskgraph.decision"
        with aioresponses() as m:
            m.get(url, exception=aiohttp.ServerDisconnectedError())
            m.get(url, payload={"taskId": "D"})
            assert await client.find_decision_task("try", "abc") == "D"


async def test_trigger_hook_is_not_retried_after_a_5xx(clock):
    async with aiohttp.ClientSession() as session:
        client = make_client(session, clock, ROOT, attempts=5)
        url = f"{ROOT}/api/hooks/v1/hooks/project-gecko/in-tree-action-1-generic%2Fabc/trigger"
        with aioresponses() as m:
            m.post(url, status=500, repeat=True)
            with pytest.raises(TransientError):
                await client.trigger_hook("project-gecko", "in-tree-action-1-generic/abc", {})
            assert sum(len(calls) for calls in m.requests.values()) == 1


async def test_4xx_is_a_source_error_without_retry(clock):
    async with aiohttp.ClientSession() as session:
        client = make_client(session, clock, ROOT)
        with aioresponses() as m:
            m.post(
                f"{ROOT}/api/queue/v1/task/T1/cancel",
                status=409,
                payload={"message": "task is resolved"},
            )
            with pytest.raises(SourceError) as info:
                await client.cancel_task("T1")
    assert info.value.status == 409
    assert "task is resolved" in str(info.value)
    assert clock.sleeps == []


def test_from_environment_reads_taskcluster_variables(monkeypatch, clock):
    monkeypatch.setenv("TASKCLUSTER_CLIENT_ID", "project/mozci/monitor")
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", "tok")
    monkeypatch.delenv("TASKCLUSTER_ROOT_URL", raising=False)
    gate = PoliteSource("taskcluster", clock=clock, sleep=clock.sleep)
    client = TaskclusterClient.from_environment(session=None, gate=gate)  # type: ignore[arg-type]
    assert client.root_url == PRODUCTION_ROOT_URL
    assert client.has_credentials
    monkeypatch.delenv("TASKCLUSTER_CLIENT_ID")
    monkeypatch.delenv("TASKCLUSTER_ACCESS_TOKEN")
    anonymous = TaskclusterClient.from_environment(None, gate, root_url=ROOT)  # type: ignore[arg-type]
    assert not anonymous.has_credentials
    assert anonymous.root_url == ROOT


async def test_retrigger_flow_decision_actions_render_trigger(session, clock, fake_tc, task_group):
    """The daemon's path for a retrigger: index -> actions.json -> render -> hook."""
    actions = json.loads((Path(__file__).parent / "data" / "actions.json").read_text())
    fake_tc.artifacts["public/actions.json"] = actions
    client = make_client(session, clock, fake_tc.root_url)
    failed = next(t for t in task_group["tasks"] if t["status"]["state"] == "failed")

    decision = await client.find_decision_task("mozilla-central", "abc123")
    actions_json = await client.artifact_json(decision, "public/actions.json")
    target = failed["status"]["taskId"]
    task = await client.task(target)
    hook_group, hook_id, payload = render_action(
        actions_json,
        "retrigger",
        decision,
        target,
        {"times": 3},
        task_tags={**task.get("tags", {}), "retrigger": "true"},
    )
    action_task = await client.trigger_hook(hook_group, hook_id, payload)

    assert action_task == "ACTIONTASK"
    assert fake_tc.bodies[-1]["user"] == {
        "input": {"times": 3},
        "taskId": target,
        "taskGroupId": "DECISION",
    }
    # index, artifact (its redirect is part of the same attempt), task, hook
    assert client.gate.meter.total == 4
