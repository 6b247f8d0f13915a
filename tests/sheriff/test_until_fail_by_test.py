"""until-fail judged by a test, end to end over the simulator and a real RabbitMQ.

The simulated jobs run tests (`JobTestModel`): unrelated flaky tests make most runs orange,
and a planted regression makes one test fail at a known rate. Judged by that test, an orange
run for another reason is a run like a green one: the batches go on until a run's
errorsummary shows the planted test failing, and the answer names that run and counts the
other failures seen; with no regression planted the budget is spent and every run passes it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from support.brokers import Broker
from support.ci import history_ci
from support.scene import Scene, scene

from mozci_monitor import planner
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.sim.testrun import (
    JobTestModel,
    PlantedTestRegression,
    flaky_tests_of,
    manifests_for,
)
from sheriff.harness import intended, performed

PUSH = -1  # the newest push: its jobs are long done
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
BASE = JobTestModel(labels=(LABEL,), background_orange=1.0, known_intermittent_rate=0.3)
PLANTED = manifests_for(BASE, LABEL)[1].tests[3]


def _model(rate: float | None) -> JobTestModel:
    planted = () if rate is None else (PlantedTestRegression(LABEL, PLANTED, 0, rate),)
    return JobTestModel(
        labels=(LABEL,),
        # every run is orange for some unrelated test: by colour, run 1 would be the answer
        background_orange=1.0,
        known_intermittent_rate=0.3,
        regressions=planted,
    )


def _failing_by_task(sc: Scene) -> dict[str, list[str]]:
    """The tests that failed in each finished first run of LABEL on the push (as the
    simulator ran them)."""
    return dict(_runs(sc))


def _runs(sc: Scene) -> list[tuple[str, list[str]]]:
    """Every finished run of LABEL on the push, in the order the tasks were created: its
    task id and the tests that failed in it (as the simulator ran them)."""
    found = []
    for task in sc.tasks_at(PUSH, LABEL):
        for run_id, run in enumerate(task.runs):
            tests = sc.sim.world.test_runs.get((task.task_id, run_id))
            if tests is not None and run.get("state") in ("completed", "failed"):
                found.append((task.task_id, list(tests.failing_tests)))
    return found


async def test_until_fail_by_test_goes_through_unrelated_oranges_to_the_planted_failure(
    broker: Broker, tmp_path: Path
) -> None:
    config = history_ci(broker.url, tests=_model(0.25), scheduled_fraction=1.0)
    async with scene(broker, tmp_path, config) as sc:
        plan = planner.plan_until_fail(
            sc.push_at(PUSH), label=LABEL, batch=4, budget=60, test=PLANTED
        )
        campaign_id = plan.campaign.campaign_id
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        assert final.state is CampaignState.FINISHED
        answer = final.summary["answer"]
        failing = _failing_by_task(sc)
        # the runs judged when the campaign ended, in the order the daemon saw the tasks
        judged = final.params["judged"]
        (request,) = sc.requests(campaign_id)
        order = [t for t in request.task_ids if f"{t}/0" in judged]
        if answer["hit"] is None:  # 0.75 ** 60: never in practice, but then all were spent
            assert answer["runs"] == 60
            assert not any(PLANTED in failing[t] for t in order)
            return
        hit_task = answer["hit"]["task_id"]
        # what was planted next to what was found
        assert PLANTED in failing[hit_task]
        assert answer["hit"] == {"task_id": hit_task, "run_id": 0}
        assert answer["failed_task"] == hit_task
        assert answer["runs"] == order.index(hit_task) + 1
        assert answer["signature"] == f"test:{PLANTED}"
        assert final.outcome is not None
        assert final.outcome.startswith(f"test:{PLANTED} hit on run {answer['runs']} (")
        assert final.outcome.endswith(f"): task {hit_task}")
        # every run judged before it was orange for something else and did not stop it
        before = order[: answer["runs"] - 1]
        assert all(failing[t] and PLANTED not in failing[t] for t in before)
        assert answer["passes"] == len(before) and answer["missing"] == 0
        seen: Counter[str] = Counter()
        for task_id in [*before, hit_task]:
            seen.update(f"test:{test}" for test in set(failing[task_id]) if test != PLANTED)
        assert answer["other_failures"] == dict(sorted(seen.items()))
        flaky = set(flaky_tests_of(_model(0.25), LABEL))
        assert {key.removeprefix("test:") for key in seen} <= flaky
        # each finished run's results were read once, and kept
        fetches = [e for e in sc.acts(campaign_id) if e.action.kind.value == "fetch-results"]
        assert len({e.key for e in fetches}) == len(fetches)
        assert all(e.state == "done" for e in fetches)
        kept = sc.reader.task_results(hit_task, 0)
        assert kept is not None and kept[0] == "errorsummary"
        # the retriggers were the monitor's, each once, and the open runs were cancelled
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        for entry in sc.acts(campaign_id):
            if entry.action.kind.value == "cancel":
                assert entry.action.task_id != hit_task
        sc.notified_once(campaign_id)


async def test_until_fail_by_test_spends_its_budget_when_only_other_tests_fail(
    broker: Broker, tmp_path: Path
) -> None:
    config = history_ci(broker.url, tests=_model(None), scheduled_fraction=1.0)
    async with scene(broker, tmp_path, config) as sc:
        plan = planner.plan_until_fail(
            sc.push_at(PUSH), label=LABEL, batch=3, budget=6, test=PLANTED
        )
        campaign_id = plan.campaign.campaign_id
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        runs = _runs(sc)
        assert len(runs) == 6 and all(failing for _, failing in runs)  # all orange
        assert final.state is CampaignState.FINISHED
        answer = final.summary["answer"]
        assert (answer["hit"], answer["runs"], answer["passes"], answer["missing"]) == (
            None,
            6,
            6,
            0,
        )
        assert (answer["green"], answer["orange"]) == (0, 6)
        assert sum(answer["other_failures"].values()) == sum(len(set(f)) for _, f in runs)
        assert final.outcome == (
            f"test:{PLANTED} not hit in 6 runs (budget reached; 6 passed, 0 without the test,"
            f" {sum(answer['other_failures'].values())} other failure(s) seen)"
        )
        # the push's own run, then 3 + 2: exactly the budget, nothing cancelled
        retriggers = [
            request["times"]
            for t in sc.sim.hook_triggers
            if t.action == "retrigger-multiple"
            for request in t.input["requests"]
        ]
        assert retriggers == [3, 2]
        assert not [e for e in sc.acts(campaign_id) if e.action.kind.value == "cancel"]
        sc.notified_once(campaign_id)
