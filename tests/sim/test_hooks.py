"""In-tree actions: actions.json like gecko's, triggered through JSON-e + the Hooks client."""

from __future__ import annotations

import re
from typing import Any

import pytest
import taskcluster.aio
from taskcluster.exceptions import TaskclusterRestFailure

from mozci_monitor.sim import Regression, SimConfig, Simulator

from .helpers import fetch_artifact, treeherder_jobs, trigger_action


def _test_task(sim: Simulator, push_index: int = 0, state: str = "completed") -> str:
    push = sim.world.pushes[push_index]
    return next(t.task_id for t in sim.tasks_of(push) if t.kind == "test" and t.state == state)


async def test_actions_json_looks_like_gecko(sim: Simulator) -> None:
    push = sim.pushes[0]
    actions = await fetch_artifact(sim, push.decision_task_id, "public/actions.json")
    assert actions["version"] == 1
    assert actions["variables"] == {}
    names = {a["name"] for a in actions["actions"]}
    assert {"retrigger", "add-new-jobs", "backfill", "rerun"} <= names
    for action in actions["actions"]:
        assert action["kind"] == "hook"
        assert action["hookGroupId"] == "project-gecko"
        assert re.fullmatch(r"in-tree-action-3-[a-z-]+/[0-9a-f]{10}", action["hookId"])
        assert action["hookPayload"]["user"] == {
            "input": {"$eval": "input"},
            "taskId": {"$eval": "taskId"},
            "taskGroupId": {"$eval": "taskGroupId"},
        }
        decision = action["hookPayload"]["decision"]
        assert decision["action"]["taskGroupId"] == push.decision_task_id
        assert decision["push"]["pushlog_id"] == str(push.push_id)
        assert decision["push"]["revision"] == push.revision
        assert decision["repository"]["project"] == "autoland"
        assert isinstance(action["context"], list)
    backfill = next(a for a in actions["actions"] if a["name"] == "backfill")
    assert backfill["hookId"].startswith("in-tree-action-3-backfill/")
    assert backfill["schema"]["properties"]["depth"]["type"] == "integer"


async def test_retrigger_creates_tasks_that_show_in_treeherder(sim: Simulator) -> None:
    push = sim.pushes[0]
    task_id = _test_task(sim)
    label = sim.task(task_id).label
    response = await trigger_action(
        sim, push, "retrigger", task_id=task_id, action_input={"times": 2}
    )
    action_task = sim.task(response["taskId"])
    assert response["status"]["taskId"] == action_task.task_id
    assert action_task.kind == "action-callback"
    assert action_task.task_group_id == push.task_group_id
    assert sim.stats.hook_triggers == {"retrigger": 1}
    assert sim.stats.action_calls == {("retrigger", task_id): 1}
    trigger = sim.hook_triggers[0]
    assert trigger.input == {"times": 2} and trigger.task_id == task_id

    await sim.advance(2 * 3600)
    assert action_task.state == "completed"
    clones = [t for t in sim.tasks_of(push, label) if t.task_id != task_id]
    assert len(clones) == 2
    assert all(t.state == "completed" for t in clones)
    assert all(t.definition["tags"]["action"] == "retrigger-task" for t in clones)
    # the clones reuse the push's build, as taskgraph's create_tasks does
    build = sim.task(task_id).definition["dependencies"]
    assert all(t.definition["dependencies"] == build for t in clones)
    jobs = [j for j in await treeherder_jobs(sim, push) if j["job_type_name"] == label]
    assert sorted(j["task_id"] for j in jobs) == sorted([task_id, *(t.task_id for t in clones)])
    assert {j["result"] for j in jobs} == {"success"}
    created = await fetch_artifact(sim, action_task.task_id, "public/label-to-taskid.json")
    assert created[label] in {t.task_id for t in clones}


async def test_add_new_jobs_schedules_optimised_away_labels(sim: Simulator) -> None:
    push = sim.pushes[0]
    missing = [label for label in sim.world.graph.test_labels if label not in push.label_to_taskid]
    assert missing, "the seed should leave some labels optimised away"
    await trigger_action(
        sim, push, "add-new-jobs", task_id=None, action_input={"tasks": missing, "times": 1}
    )
    assert sim.stats.action_calls == {("add-new-jobs", ",".join(sorted(missing))): 1}
    await sim.advance(4 * 3600)
    jobs = await treeherder_jobs(sim, push)
    names = {j["job_type_name"] for j in jobs}
    assert set(missing) <= names
    for label in missing:
        (task,) = sim.tasks_of(push, label)
        assert task.state == "completed"
        assert sim.task(task.definition["dependencies"][0]).kind == "build"


async def test_rerun_action_reruns_a_failed_task(make_sim: Any) -> None:
    sim = await make_sim(
        label_failure_rates={"test-linux1804-64/opt-mochitest-browser-chrome-1": 1.0}
    )
    push = next(
        p
        for p in sim.pushes
        if "test-linux1804-64/opt-mochitest-browser-chrome-1" in p.label_to_taskid
    )
    task_id = push.label_to_taskid["test-linux1804-64/opt-mochitest-browser-chrome-1"]
    assert sim.task(task_id).state == "failed"
    await trigger_action(sim, push, "rerun", task_id=task_id, action_input={})
    await sim.advance(600)
    runs = sim.task(task_id).runs
    assert [run["reasonCreated"] for run in runs] == ["scheduled", "rerun"]
    assert sim.stats.action_calls == {("rerun", task_id): 1}


async def test_backfill_schedules_the_label_on_earlier_pushes(make_sim: Any) -> None:
    label = "test-linux1804-64/opt-xpcshell"
    sim = await make_sim(
        pushes=8,
        history_pushes=8,
        scheduled_fraction=0.0,  # only the backfill will run the test on old pushes
        regression=Regression(label=label, from_push=5),
    )
    target = sim.world.pushes[7]
    await trigger_action(sim, target, "add-new-jobs", task_id=None, action_input={"tasks": [label]})
    await sim.advance(3 * 3600)
    (failing,) = sim.tasks_of(target, label)
    assert failing.state == "failed"

    await trigger_action(
        sim, target, "backfill", task_id=failing.task_id, action_input={"depth": 4}
    )
    await sim.advance(4 * 3600)
    assert sim.stats.hook_triggers["backfill"] == 1
    assert sim.stats.hook_triggers["backfill-task"] == 4
    results = {}
    for push in sim.world.pushes[3:7]:
        (task,) = sim.tasks_of(push, label)
        assert task.definition["tags"]["action"] == "backfill-task"
        results[push.index] = task.state
        jobs = await treeherder_jobs(sim, push)
        assert label in {j["job_type_name"] for j in jobs}
    assert results == {3: "completed", 4: "completed", 5: "failed", 6: "failed"}
    assert not sim.tasks_of(sim.world.pushes[2], label)


async def test_invalid_input_makes_the_action_task_fail(sim: Simulator) -> None:
    push = sim.pushes[0]
    task_id = _test_task(sim)
    response = await trigger_action(
        sim, push, "retrigger", task_id=task_id, action_input={"times": "lots"}
    )
    await sim.advance(600)
    assert sim.task(response["taskId"]).state == "failed"
    assert len(sim.tasks_of(push, sim.task(task_id).label)) == 1


async def test_unknown_hook_and_wrong_permission_are_refused(sim: Simulator) -> None:
    hooks = taskcluster.aio.Hooks({"rootUrl": sim.root_url})
    with pytest.raises(TaskclusterRestFailure) as info:
        await hooks.triggerHook("project-gecko", "in-tree-action-3-generic/0000000000", {})
    assert info.value.status_code == 404
    push = sim.pushes[0]
    actions = await fetch_artifact(sim, push.decision_task_id, "public/actions.json")
    backfill = next(a for a in actions["actions"] if a["name"] == "backfill")
    generic = next(a for a in actions["actions"] if a["name"] == "rerun")["hookId"]
    payload = {"decision": backfill["hookPayload"]["decision"], "user": {"input": {}}}
    with pytest.raises(TaskclusterRestFailure) as info:
        await hooks.triggerHook("project-gecko", generic, payload)
    assert info.value.status_code == 403
    assert sim.stats.hook_triggers == {}


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        SimConfig(pushes=0)
    with pytest.raises(ValueError):
        SimConfig(pushes=3, history_pushes=4)


async def test_builds_retrigger_only_with_force(sim: Simulator) -> None:
    push = sim.pushes[0]
    build_id = push.label_to_taskid["build-linux64/opt"]
    refused = await trigger_action(sim, push, "retrigger", task_id=build_id, action_input={})
    forced = await trigger_action(
        sim, push, "retrigger", task_id=build_id, action_input={"force": True}
    )
    await sim.advance(3 * 3600)
    assert sim.task(refused["taskId"]).state == "failed"
    assert sim.task(forced["taskId"]).state == "completed"
    assert len(sim.tasks_of(push, "build-linux64/opt")) == 2
    assert sim.stats.hook_triggers == {"retrigger-disabled": 2}


async def test_add_new_jobs_with_an_unknown_label_creates_nothing(sim: Simulator) -> None:
    push = sim.pushes[0]
    before = len(sim.tasks_of(push))
    response = await trigger_action(
        sim,
        push,
        "add-new-jobs",
        task_id=None,
        action_input={"tasks": ["test-linux1804-64/opt-xpcshell", "test-nope"]},
    )
    await sim.advance(600)
    assert sim.task(response["taskId"]).state == "failed"
    assert len(sim.tasks_of(push)) == before + 1  # only the action task itself


async def test_retrigger_of_a_task_outside_the_graph_fails_cleanly(sim: Simulator) -> None:
    push = sim.pushes[0]
    definition = dict(sim.task(_test_task(sim)).definition)
    definition.update(dependencies=[], metadata={**definition["metadata"], "name": "custom"})
    definition["tags"] = {**definition["tags"], "label": "custom"}
    task_id = sim.world.new_task_id()
    sim.world.create_task(task_id, definition, push)
    response = await trigger_action(sim, push, "retrigger", task_id=task_id, action_input={})
    await sim.advance(3600)
    assert sim.task(response["taskId"]).state == "failed"
    assert len(sim.tasks_of(push, "custom")) == 1
