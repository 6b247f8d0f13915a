"""Bisect judged by a test, end to end over the simulator and a real RabbitMQ.

Every run of the label is orange for some unrelated flaky test, so by colour the failure
rate is 100 % on every push and nothing rises. A regression planted in one test from push
CULPRIT on fails it at RATE: judged by that test, the rate is 0 before CULPRIT and rises
there (for every draw but the 0.2 ** TIMES = 3e-6 where CULPRIT's runs all pass it).
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.ci import history_ci
from support.scene import scene

from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.sheriff import wilson_interval
from mozci_monitor.sim.testrun import JobTestModel, PlantedTestRegression, manifests_for

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
BASE = JobTestModel(labels=(LABEL,))
PLANTED = manifests_for(BASE, LABEL)[2].tests[5]
CULPRIT = 4
RATE = 0.8
TIMES = 8
FIRST, LAST = 1, 7


async def test_bisect_by_test_finds_the_rise_hidden_under_unrelated_oranges(
    broker: Broker, tmp_path: Path
) -> None:
    model = JobTestModel(
        labels=(LABEL,),
        background_orange=1.0,
        known_intermittent_rate=0.3,
        regressions=(PlantedTestRegression(LABEL, PLANTED, CULPRIT, RATE),),
    )
    config = history_ci(broker.url, tests=model, scheduled_fraction=1.0)
    async with scene(broker, tmp_path, config) as sc:
        plan = await sc.plan_bisect(FIRST, LAST, LABEL, times=TIMES, test=PLANTED)
        assert all(request.judge_by_results for request in plan.requests)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED, final.outcome
        answer = final.summary["answer"]
        culprit = sc.pushes[CULPRIT]
        worse = answer["first_worse"]
        # what was planted next to what was found
        assert (worse["push_id"], worse["revision"]) == (culprit.push_id, culprit.revision)
        assert final.outcome is not None
        assert final.outcome.startswith(f"failure rate rises at {culprit.revision[:12]}")
        rows = answer["revisions"]
        assert [r["push_id"] for r in rows] == [
            sc.pushes[i].push_id for i in range(FIRST, LAST + 1)
        ]
        for index, row in zip(range(FIRST, LAST + 1), rows, strict=True):
            tasks = sc.tasks_at(index, LABEL)
            runs = [sc.sim.world.test_runs[(t.task_id, len(t.runs) - 1)] for t in tasks]
            # by colour every run failed; by the test, only the planted failures count
            assert len(runs) == TIMES and all(run.orange for run in runs)
            hits = sum(1 for run in runs if PLANTED in run.failing_tests)
            assert (row["runs"], row["failures"]) == (TIMES, hits)
            if index < CULPRIT:
                assert hits == 0
        after = [r for r in rows if r["push_id"] >= culprit.push_id]
        failures, runs_after = sum(r["failures"] for r in after), sum(r["runs"] for r in after)
        low, high = wilson_interval(failures, runs_after, z=4.0)
        assert low <= RATE <= high, (failures, runs_after)
        sc.notified_once(plan.campaign.campaign_id)
