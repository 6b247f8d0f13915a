"""The simulator's confirm-failures, triggered as Treeherder does (actions.json, JSON-e,
triggerHook, `input: {}`), against gecko's rules: `-cf` copies in the full graph that no
push schedules; one `-cf` task per failing test (at most 11), running it alone five times;
a retrigger when the errorsummary names no failing test; an action task that fails when
the label has no `-cf` copy."""

from __future__ import annotations

import json

from mozci_monitor.sim import ForcedOutcome, Simulator
from mozci_monitor.sim.testrun import JobTestModel, PlantedTestRegression, manifests_for

from .conftest import SimFactory
from .helpers import fetch_artifact, trigger_action

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
XPCSHELL = "test-linux1804-64/opt-xpcshell"


def _failing(sim: Simulator, label: str) -> str:
    push = sim.pushes[0]
    (task,) = sim.tasks_of(push, label)
    assert task.state == "failed"
    return task.task_id


async def _confirm(sim: Simulator, task_id: str) -> str:
    """Trigger confirm-failures on the task and let its action task run; its state."""
    push = sim.pushes[0]
    result = await trigger_action(sim, push, "confirm-failures", task_id=task_id, action_input={})
    await sim.run_until_idle()
    return sim.task(result["status"]["taskId"]).state


async def test_cf_copies_are_in_the_full_graph_and_never_scheduled(sim: Simulator) -> None:
    graph = await fetch_artifact(sim, sim.pushes[0].decision_task_id, "public/full-task-graph.json")
    copies = sorted(label for label in graph if label.endswith("-cf"))
    assert LABEL + "-cf" in copies and XPCSHELL + "-cf" in copies
    entry = graph[LABEL + "-cf"]
    assert entry["attributes"]["run_on_projects"] == []
    assert entry["optimization"] == {"always": None}
    assert entry["task"]["extra"]["treeherder"]["groupSymbol"] == "M-cf"
    assert entry["task"]["extra"]["treeherder"]["tier"] == 2
    for push in sim.pushes:
        assert not [label for label in push.scheduled_labels if label.endswith("-cf")]


async def test_one_cf_task_per_failing_test_and_no_more_than_gecko_reads(
    make_sim: SimFactory,
) -> None:
    tests = [t for m in manifests_for(JobTestModel(), LABEL) for t in m.tests][:13]
    planted = tuple(PlantedTestRegression(LABEL, test, 0) for test in tests)
    sim = await make_sim(
        tests=JobTestModel(
            labels=(LABEL,), background_orange=0.0, known_intermittent_rate=0.0, regressions=planted
        )
    )
    await sim.run_until_idle()
    assert await _confirm(sim, _failing(sim, LABEL)) == "completed"
    confirm_tasks = sim.tasks_of(sim.pushes[0], LABEL + "-cf")
    paths = []
    for task in confirm_tasks:
        env = task.definition["payload"]["env"]
        (path,) = json.loads(env["MOZHARNESS_CONFIRM_PATHS"])["mochitest-browser-chrome"]
        (group,) = json.loads(env["MOZHARNESS_TEST_PATHS"])["mochitest-browser-chrome"]
        assert path.startswith(group.rpartition("/")[0])
        paths.append(path)
        run = sim.world.test_runs[(task.task_id, 0)]
        results = [line for line in run.lines if line["action"] == "test_result"]
        assert [line["test"] for line in results] == [path] * 5  # --repeat=4
    assert paths == tests[:11]  # gecko reads on until it has more than 10


async def test_no_failing_test_in_the_errorsummary_retriggers_the_task(
    make_sim: SimFactory,
) -> None:
    # orange by the job's own outcome: its errorsummary names no failing test
    sim = await make_sim(
        tests=JobTestModel(labels=(LABEL,), background_orange=0.0, known_intermittent_rate=0.0),
        forced=(ForcedOutcome(LABEL, "failed", push=0),),
    )
    await sim.run_until_idle()
    failing = _failing(sim, LABEL)
    assert await _confirm(sim, failing) == "completed"
    assert not sim.tasks_of(sim.pushes[0], LABEL + "-cf")
    clones = [t for t in sim.tasks_of(sim.pushes[0], LABEL) if t.task_id != failing]
    assert [t.definition["tags"]["action"] for t in clones] == ["retrigger-task"]


async def test_a_label_without_a_cf_copy_fails_the_action_task(make_sim: SimFactory) -> None:
    sim = await make_sim(
        suites=(("mochitest-browser-chrome", 2), ("marionette", 1)),
        tests=JobTestModel(background_orange=1.0, known_intermittent_rate=0.0),
    )
    await sim.run_until_idle()
    marionette = "test-linux1804-64/opt-marionette"
    assert await _confirm(sim, _failing(sim, marionette)) == "failed"
    assert len(sim.tasks_of(sim.pushes[0], marionette)) == 1  # nothing created
