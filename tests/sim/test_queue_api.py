"""Queue, index and notify endpoints through the official `taskcluster.aio` clients."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import taskcluster.aio
from taskcluster.exceptions import TaskclusterRestFailure

from mozci_monitor.sim import PulseMessage, Simulator

from .helpers import fetch_artifact, queue

Validate = Callable[[str, Any], None]


def _first_test(sim: Simulator, state: str | None = "completed") -> str:
    push = sim.pushes[0]
    for task in sim.tasks_of(push):
        if task.kind == "test" and (state is None or task.state == state):
            return task.task_id
    raise AssertionError("no such task")


async def test_task_and_status_match_the_schemas(sim: Simulator, validate: Validate) -> None:
    q = queue(sim)
    for push in sim.pushes:
        for task in sim.tasks_of(push)[:5]:
            definition = await q.task(task.task_id)
            validate("task.json", definition)
            assert definition["metadata"]["name"] == task.label
            status = await q.status(task.task_id)
            validate("task-status-response.json", status)
            assert status["status"]["taskId"] == task.task_id
            assert status["status"]["taskGroupId"] == push.task_group_id


async def test_real_looking_task_definitions(sim: Simulator) -> None:
    push = sim.pushes[0]
    labels = {task.label: task for task in sim.tasks_of(push)}
    assert "Gecko Decision Task" in labels
    assert "build-linux64/opt" in labels
    test = next(t for t in labels.values() if t.kind == "test")
    definition = test.definition
    assert definition["schedulerId"] == "gecko-level-3"
    assert definition["tags"]["label"] == definition["metadata"]["name"] == test.label
    assert definition["tags"]["kind"] == "test"
    assert f"tc-treeherder.v2.autoland.{push.revision}.{push.push_id}" in definition["routes"]
    assert definition["extra"]["treeherder"]["symbol"]
    build = sim.task(definition["dependencies"][0])
    assert build.kind == "build"
    assert test.label.startswith("test-") and build.label.startswith("build-")


async def test_unknown_task_is_404(sim: Simulator) -> None:
    with pytest.raises(TaskclusterRestFailure) as info:
        await queue(sim).status("aaaaaaaaQaaaaaaaaaaaaA")
    assert info.value.status_code == 404


async def test_list_task_group_pages_with_continuation_tokens(sim: Simulator) -> None:
    push = sim.pushes[0]
    expected = [t.task_id for t in sim.tasks_of(push)]
    assert len(expected) > 3
    q = queue(sim)
    seen: list[str] = []
    pages = 0

    def collect(page: dict[str, Any]) -> None:
        nonlocal pages
        pages += 1
        assert page["taskGroupId"] == push.task_group_id
        seen.extend(item["status"]["taskId"] for item in page["tasks"])

    await q.listTaskGroup(push.task_group_id, query={"limit": 3}, paginationHandler=collect)
    assert seen == expected
    assert pages == -(-len(expected) // 3)
    whole = await q.listTaskGroup(push.task_group_id)
    assert "continuationToken" not in whole
    assert whole["tasks"][0]["task"]["metadata"]["name"] == ("Gecko Decision Task")


async def test_create_task_is_idempotent_and_conflicts_on_change(sim: Simulator) -> None:
    push = sim.pushes[0]
    q = queue(sim)
    definition = copy.deepcopy(sim.task(_first_test(sim)).definition)
    definition["dependencies"] = []
    definition["metadata"]["name"] = "custom-task"
    task_id = taskcluster.slugId()
    first = await q.createTask(task_id, definition)
    again = await q.createTask(task_id, definition)
    assert first == again
    assert first["status"]["state"] == "pending"
    assert first["status"]["taskGroupId"] == push.task_group_id
    assert task_id in [t.task_id for t in sim.tasks_of(push)]
    changed = copy.deepcopy(definition)
    changed["priority"] = "highest"
    with pytest.raises(TaskclusterRestFailure) as info:
        await q.createTask(task_id, changed)
    assert info.value.status_code == 409


async def test_create_task_rejects_missing_dependencies(sim: Simulator) -> None:
    definition = copy.deepcopy(sim.task(_first_test(sim)).definition)
    definition["dependencies"] = ["aaaaaaaaQaaaaaaaaaaaaA"]
    with pytest.raises(TaskclusterRestFailure) as info:
        await queue(sim).createTask(taskcluster.slugId(), definition)
    assert info.value.status_code == 400


async def test_rerun_adds_a_run_and_publishes_pending(
    sim: Simulator, collected: list[PulseMessage]
) -> None:
    task_id = _first_test(sim)
    status = await queue(sim).rerunTask(task_id)
    runs = status["status"]["runs"]
    assert [run["reasonCreated"] for run in runs] == ["scheduled", "rerun"]
    assert status["status"]["state"] == "pending"
    assert sim.stats.reruns == 1
    pending = [m for m in collected if m.exchange.endswith("task-pending")]
    assert pending[-1].body["runId"] == 1
    await sim.advance(3 * 3600)
    assert sim.task(task_id).runs[1]["state"] == "completed"


async def test_cancel_resolves_exception_canceled(sim: Simulator) -> None:
    await sim.advance(1)  # the first live push lands
    live = sim.pushes[-1]
    status = await queue(sim).cancelTask(live.decision_task_id)
    run = status["status"]["runs"][-1]
    assert status["status"]["state"] == "exception"
    assert run["reasonResolved"] == "canceled"


async def test_decision_artifacts(sim: Simulator) -> None:
    push = sim.pushes[0]
    q = queue(sim)
    pointer = await q.getLatestArtifact(push.decision_task_id, "public/label-to-taskid.json")
    assert pointer["storageType"] == "s3" and pointer["url"].startswith(sim.base_url)
    label_to_taskid = await fetch_artifact(
        sim, push.decision_task_id, "public/label-to-taskid.json"
    )
    assert label_to_taskid == push.label_to_taskid
    full = await fetch_artifact(sim, push.decision_task_id, "public/full-task-graph.json")
    assert set(full) == set(sim.world.graph.specs)
    optimised_away = set(full) - set(label_to_taskid)
    assert optimised_away, "a push schedules only part of the full graph"
    some_test = next(label for label, entry in full.items() if entry["kind"] == "test")
    assert full[some_test]["dependencies"]["build"].startswith("build-")
    assert full[some_test]["task"]["metadata"]["name"] == some_test
    listing = await q.listLatestArtifacts(push.decision_task_id)
    names = {a["name"] for a in listing["artifacts"]}
    assert {"public/actions.json", "public/full-task-graph.json", "public/parameters.yml"} <= names


async def test_live_backing_log_tells_failures(make_sim: Any) -> None:
    sim = await make_sim(label_failure_rates={"test-linux1804-64/opt-xpcshell": 1.0})
    tasks = [t for push in sim.pushes for t in sim.tasks_of(push)]
    failed = next(t for t in tasks if t.state == "failed")
    assert failed.label == "test-linux1804-64/opt-xpcshell"
    log = await fetch_artifact(sim, failed.task_id, "public/logs/live_backing.log")
    assert "TEST-UNEXPECTED-FAIL" in log
    passed = next(t for t in tasks if t.state == "completed" and t.kind == "test")
    log = await fetch_artifact(sim, passed.task_id, "public/logs/live_backing.log")
    assert "TEST-UNEXPECTED-FAIL" not in log
    with pytest.raises(TaskclusterRestFailure):
        await queue(sim).getArtifact(passed.task_id, 0, "public/nope.json")


async def test_index_finds_decision_tasks(sim: Simulator) -> None:
    index = taskcluster.aio.Index({"rootUrl": sim.root_url})
    push = sim.pushes[1]
    found = await index.findTask(f"gecko.v2.autoland.revision.{push.revision}.taskgraph.decision")
    assert found["taskId"] == push.decision_task_id
    by_id = await index.findTask(f"gecko.v2.autoland.pushlog-id.{push.push_id}.decision")
    assert by_id["taskId"] == push.decision_task_id
    with pytest.raises(TaskclusterRestFailure) as info:
        await index.findTask("gecko.v2.autoland.revision.0000.taskgraph.decision")
    assert info.value.status_code == 404


async def test_decision_is_indexed_only_once_completed(sim: Simulator) -> None:
    await sim.advance(1)
    live = sim.pushes[-1]
    assert sim.task(live.decision_task_id).state != "completed"
    path = f"gecko.v2.autoland.revision.{live.revision}.taskgraph.decision"
    assert path not in sim.world.index
    await sim.advance(1800)
    assert sim.world.index[path]["taskId"] == live.decision_task_id


async def test_notify_records_what_was_sent(sim: Simulator) -> None:
    notify = taskcluster.aio.Notify({"rootUrl": sim.root_url})
    await notify.email({"address": "a@example.com", "subject": "hi", "content": "body"})
    await notify.matrix({"roomId": "!room:mozilla.org", "body": "hello", "msgtype": "m.notice"})
    assert [n.kind for n in sim.notifications] == ["email", "matrix"]
    assert sim.notifications[0].payload["subject"] == "hi"
    assert sim.stats.notifications == {"email": 1, "matrix": 1}
    with pytest.raises(TaskclusterRestFailure):
        await notify.email({"address": "a@example.com"})
