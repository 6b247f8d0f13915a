"""confirm, end to end over the simulator and a real RabbitMQ: a failing task's tests
answered one by one, regression or intermittent.

Planted: in the push's own task of the label, two tests fail — one regressed for good
(it fails in every run from the first push on), one intermittent that struck once (it
fails in that task's first run only, never in a retrigger or a `-cf` task). Where the
label has a `-cf` variant, gecko's confirm-failures reruns each test alone, five times, in
a `-cf` task; where it has none (crashtest), the task is retriggered instead. Either way
the answer must be what was planted: the first a regression, the second intermittent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.brokers import Broker
from support.ci import history_ci
from support.scene import Scene, scene

from mozci_monitor.core.campaign import Campaign, CampaignState
from mozci_monitor.core.kinds import ConfirmParams
from mozci_monitor.planner import PlanError
from mozci_monitor.sim import ForcedOutcome
from mozci_monitor.sim.testrun import JobTestModel, PlantedTestRegression, manifests_for

PUSH = -1  # the newest push: its jobs are long done
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
SUITE = "mochitest-browser-chrome"
NO_VARIANT = "test-linux1804-64/opt-crashtest"  # gecko gives crashtest no -cf copy


def _planted(label: str) -> tuple[str, str]:
    """(the regressed test, the test that failed once) of the label's manifests."""
    manifests = manifests_for(JobTestModel(), label)
    return manifests[0].tests[2], manifests[1].tests[5]


def _model(label: str) -> JobTestModel:
    regressed, once = _planted(label)
    return JobTestModel(
        labels=(label,),
        background_orange=0.0,  # no other test fails: the task fails for the planted two
        known_intermittent_rate=0.0,
        regressions=(
            PlantedTestRegression(label, regressed, 0),
            PlantedTestRegression(label, once, 0, once=True),
        ),
    )


async def _confirm(sc: Scene, label: str) -> tuple[str, Campaign]:
    """Plan and run a confirm of the push's own (failing) task of `label`; it must answer
    as planted: the regressed test a regression, the one that failed once intermittent."""
    (task,) = sc.tasks_at(PUSH, label)
    assert task.state == "failed"
    params = ConfirmParams(
        repo=sc.repo, revision=sc.pushes[PUSH].revision, task_id=task.task_id, times=3
    )
    plan = await sc.plan(params)
    campaign_id = plan.campaign.campaign_id
    await sc.start(plan.campaign, *plan.requests)
    sc.go()
    final = await sc.finished(campaign_id)
    await sc.settled(campaign_id)
    assert final.state is CampaignState.FINISHED, final.outcome
    regressed, once = _planted(label)
    found = {test["test"]: test["answer"] for test in final.summary["answer"]["tests"]}
    assert found == {regressed: "regression", once: "intermittent"}
    return task.task_id, final


async def test_confirm_failures_answers_each_test_as_planted(
    broker: Broker, tmp_path: Path
) -> None:
    regressed, once = _planted(LABEL)
    config = history_ci(broker.url, tests=_model(LABEL), scheduled_fraction=1.0)
    async with scene(broker, tmp_path, config) as sc:
        failing, final = await _confirm(sc, LABEL)

        answer = final.summary["answer"]
        assert (answer["via"], answer["failed_task"]) == ("confirm-failures", failing)
        assert final.outcome == (f"regression: {regressed}; intermittent: {once} (by -cf tasks)")
        # gecko's action, once, on the failing task, with Treeherder's empty input
        (trigger,) = [t for t in sc.sim.hook_triggers if t.action == "confirm-failures"]
        assert (trigger.task_id, trigger.input) == (failing, {})
        assert not [t for t in sc.sim.hook_triggers if t.action != "confirm-failures"]
        # one -cf task per failing test: that test alone, five times, every result written
        confirm_tasks = sc.tasks_at(PUSH, LABEL + "-cf")
        ran: dict[str, list[str]] = {}
        for task in confirm_tasks:
            definition = task.definition
            env = definition["payload"]["env"]
            (path,) = json.loads(env["MOZHARNESS_CONFIRM_PATHS"])[SUITE]
            assert env["MOZLOG_DUMP_ALL_TESTS"] == "1"
            assert "--repeat=4" in definition["payload"]["command"]
            assert definition["metadata"]["name"] == LABEL + "-cf"
            assert definition["tags"]["action"] == "confirm-failure"
            assert definition["extra"]["treeherder"]["tier"] == 2
            run = sc.sim.world.test_runs[(task.task_id, 0)]
            results = [line for line in run.lines if line["action"] == "test_result"]
            ran[path] = [str(line["status"]) for line in results]
            assert {line["test"] for line in results} == {path}
        assert ran == {regressed: ["FAIL"] * 5, once: ["OK"] * 5}
        # each -cf run was read and judged; the failing task is not one of the runs judged
        judged = final.params["judged"]
        assert {entry["task_id"] for entry in judged.values()} == {t.task_id for t in confirm_tasks}
        by_test = {test["test"]: test for test in answer["tests"]}
        assert (by_test[regressed]["runs"], by_test[regressed]["failed"]) == (1, 1)
        assert (by_test[once]["runs"], by_test[once]["failed"]) == (1, 0)
        # told once, the answer first
        sc.notified_once(final.campaign_id)
        (note,) = [n for n in sc.recorder.sent if n.campaign_id == final.campaign_id]
        assert note.title.startswith(f"{LABEL} on {sc.repo} {sc.pushes[PUSH].revision[:12]}:")
        assert f"regression: {regressed}" in note.title


async def test_without_a_cf_variant_the_task_is_retriggered_and_each_test_judged(
    broker: Broker, tmp_path: Path
) -> None:
    regressed, once = _planted(NO_VARIANT)
    config = history_ci(broker.url, tests=_model(NO_VARIANT), scheduled_fraction=1.0)
    async with scene(broker, tmp_path, config) as sc:
        failing, final = await _confirm(sc, NO_VARIANT)

        answer = final.summary["answer"]
        assert answer["via"] == "retriggers"
        assert final.outcome.endswith("(by 3 retriggers (no -cf variant))")
        # no confirm-failures (gecko's would fail: no -cf label); three retriggers, once
        assert not [t for t in sc.sim.hook_triggers if t.action == "confirm-failures"]
        (trigger,) = sc.sim.hook_triggers
        assert trigger.action == "retrigger-multiple"
        assert trigger.input == {"requests": [{"tasks": [NO_VARIANT], "times": 3}]}
        retriggers = [t for t in sc.tasks_at(PUSH, NO_VARIANT) if t.task_id != failing]
        assert len(retriggers) == 3
        # every retrigger judged, each test by its own results in the whole job's run
        judged = final.params["judged"]
        assert {entry["task_id"] for entry in judged.values()} == {t.task_id for t in retriggers}
        for entry in judged.values():
            assert entry["tests"] == {regressed: "hit", once: "passed"}
        by_test = {test["test"]: test for test in answer["tests"]}
        assert (by_test[regressed]["runs"], by_test[regressed]["failed"]) == (3, 3)
        assert (by_test[once]["runs"], by_test[once]["failed"]) == (3, 0)
        sc.notified_once(final.campaign_id)


async def test_tasks_that_cannot_be_confirmed_are_refused_naming_the_task(
    broker: Broker, tmp_path: Path
) -> None:
    """Refused at planning, with the reason (the API's 4xx, the CLI's exit 2): nothing
    recorded, nothing triggered."""
    jobs_only = "test-linux1804-64/opt-xpcshell-1"  # fails without test results
    config = history_ci(
        broker.url,
        tests=_model(LABEL),
        scheduled_fraction=1.0,
        forced=(ForcedOutcome(jobs_only, "failed"),),
    )
    async with scene(broker, tmp_path, config, daemon=False) as sc:
        revision = sc.pushes[PUSH].revision
        (failing,) = sc.tasks_at(PUSH, LABEL)
        (older,) = sc.tasks_at(PUSH - 1, LABEL)
        (green,) = sc.tasks_at(PUSH, "test-linux1804-64/opt-reftest-1")
        (build,) = sc.tasks_at(PUSH, "build-linux64/opt")
        (no_results,) = sc.tasks_at(PUSH, jobs_only)
        cases = [
            (older.task_id, None, "is not of the push"),
            (build.task_id, None, "is not a test task"),
            (green.task_id, None, "has not failed (run 0 completed)"),
            (failing.task_id, 1, "run 1 is not the latest run"),
            (no_results.task_id, None, "names no failing test"),
            ("AAAAAAAAQAAAAAAAAAAAAA", None, "no task AAAAAAAAQAAAAAAAAAAAAA"),
        ]
        for task_id, run, reason in cases:
            params = ConfirmParams(repo=sc.repo, revision=revision, task_id=task_id, run=run)
            with pytest.raises(PlanError) as refused:
                await sc.plan(params)
            assert refused.value.field == "task_id"
            assert reason in str(refused.value), (reason, str(refused.value))
        assert not sc.sim.hook_triggers
