"""Backfill judged by a test, end to end over the simulator and a real RabbitMQ.

Every run of the label is orange for some unrelated flaky test, so by colour the label
never passed in the range. A regression planted in one test from push CULPRIT on fails it
in every run: judged by that test, the pushes where the label ran keep their runs and are
judged by their results, the pushes where it did not run are filled by gecko's backfill
action (with `testPath` set to the test where the push's actions.json declares it), and the
answer is last good CULPRIT - 1, first bad
CULPRIT.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from support.brokers import Broker
from support.ci import HISTORY, history_ci
from support.scene import scene

from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.sim import SimConfig
from mozci_monitor.sim.testrun import JobTestModel, PlantedTestRegression, manifests_for
from sheriff.harness import schedule

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
PLANTED = manifests_for(JobTestModel(labels=(LABEL,)), LABEL)[0].tests[6]
MODEL = JobTestModel(labels=(LABEL,), background_orange=1.0, known_intermittent_rate=0.3)


@dataclass(frozen=True)
class Case:
    config: SimConfig
    culprit: int
    failing: int
    ran: tuple[int, ...]


def _case(broker_url: str) -> Case:
    """A seed where LABEL ran on the newest pushes, and some push before the culprit and
    some push after it did not run it (the backfill fills both)."""
    rng = random.Random()
    for _ in range(500):
        config = history_ci(broker_url, seed=rng.randrange(1 << 30), tests=MODEL)
        ran = tuple(i for i, labels in enumerate(schedule(config)) if LABEL in labels)
        if not ran or ran[-1] != HISTORY - 1:
            continue
        for culprit in range(2, HISTORY - 1):
            missing = [i for i in range(HISTORY) if i not in ran]
            if any(i < culprit for i in missing) and any(i >= culprit for i in missing):
                planted = PlantedTestRegression(LABEL, PLANTED, culprit, 1.0)
                tests = JobTestModel(
                    labels=(LABEL,),
                    background_orange=1.0,
                    known_intermittent_rate=0.3,
                    regressions=(planted,),
                )
                return Case(
                    history_ci(broker_url, seed=config.seed, tests=tests),
                    culprit,
                    HISTORY - 1,
                    ran,
                )
    raise AssertionError("no seed gave a case")


async def test_backfill_by_test_finds_the_culprit_under_unrelated_oranges(
    broker: Broker, tmp_path: Path
) -> None:
    case = _case(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(case.failing, LABEL, test=PLANTED)
        assert all(request.judge_by_results for request in plan.requests)
        # every push but the failing one is judged: the ones that ran keep their runs
        judged = {r.push.revision for r in plan.requests}
        assert judged == {sc.pushes[i].revision for i in range(case.failing)}
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED, final.outcome
        answer = final.summary["answer"]
        culprit, before = sc.pushes[case.culprit], sc.pushes[case.culprit - 1]
        # what was planted next to what was found
        assert answer["first_bad"]["revision"] == culprit.revision
        assert answer["last_good"]["revision"] == before.revision
        # one backfill for the pushes without runs; the simulator's actions.json is today's
        # gecko file, whose backfill no longer declares `testPath`: it is not sent there
        # (tests/sources/test_actions_conformance.py covers a file that declares it)
        backfills = [t for t in sc.sim.hook_triggers if t.action == "backfill"]
        assert len(backfills) == 1
        assert "testPath" not in backfills[0].input
        assert final.params["test_path"] == PLANTED
        # every push before the failing one was judged by the test, filled or not
        judged_tasks = {key.split("/")[0] for key in final.params["judged"]}
        for index in range(case.failing):
            tasks = {t.task_id for t in sc.tasks_at(index, LABEL)}
            assert tasks and tasks <= judged_tasks, index
        sc.notified_once(plan.campaign.campaign_id)


async def test_backfill_search_by_test_counts_the_runs_planning_found(
    broker: Broker, tmp_path: Path
) -> None:
    """The same case as a search: every push where the label ran orange (for the flaky
    test, or the planted one) has its runs judged from the start and counted in the
    answer's tasks, and the search names the culprit with its confidence."""
    case = _case(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(case.failing, LABEL, test=PLANTED, strategy="search")
        ran = {sc.pushes[i].revision for i in case.ran}
        assert {r.push.revision for r in plan.requests} == ran
        assert all(r.judge_by_results and r.request_id.endswith("-found") for r in plan.requests)
        found = {t.task_id for i in case.ran for t in sc.tasks_at(i, LABEL)}
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED, final.outcome
        answer = final.summary["answer"]
        assert answer["first_bad"]["revision"] == sc.pushes[case.culprit].revision
        assert answer["last_good"]["revision"] == sc.pushes[case.culprit - 1].revision
        assert answer["first_worse"]["confidence"] >= 0.99
        # The runs found at planning are judged and counted with the ones the search added.
        assert found <= {key.split("/")[0] for key in final.params["judged"]}
        assert answer["tasks"] >= len(found)
        sc.notified_once(plan.campaign.campaign_id)
