"""Bisect end to end: a label's failure rate rises from a known push; find it, measure it.

Before the planted push the label never fails, from it on it fails at RATE. The answer is
the maximum-likelihood split, so a planted push that draws few failures while the pushes
after it draw many loses the rise to the next push (1 of 10 at the planted push, 6 of 10
after it: push CULPRIT + 1): that is the right answer for those runs, not a bug. At 0.6 and
10 runs per push it happened in 0.68% of the draws (this file failed about one run in
75); at 0.7 and 20 runs the planted push is the answer in all but 1.7e-5 of them (exact,
over every outcome of the four pushes from the culprit on, with core.sheriff.change_point).
The rate is checked against an interval wide enough to hold for every run of the suite
(z = 4 over the 80 runs from the culprit on: a miss in 6.1e-5 of the draws): a 95% interval
misses the true rate one run in twenty, which would make the test flaky.
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.sheriff import wilson_interval
from sheriff.harness import intended, performed
from sheriff.scenarios import PlantedRateRise, plant_rate_rise

CULPRIT = 4
RATE = 0.7
TIMES = 20
FIRST, LAST = 1, 7  # the range bisected (push indexes)


def _expected_actions(sc: Scene, case: PlantedRateRise) -> dict[tuple[str, str, str], int]:
    """Per push: retrigger its own task for the missing runs, or add the label."""
    expected = {}
    for index in range(FIRST, LAST + 1):
        push = sc.pushes[index]
        if index in case.ran:
            key = ("retrigger", push.task_group_id, case.label)
        else:
            key = ("add-new-jobs", push.task_group_id, case.label)
        expected[key] = 1
    return expected


def _check_answer(sc: Scene, campaign_id: str, case: PlantedRateRise) -> None:
    final = sc.campaign(campaign_id)
    assert final.state is CampaignState.FINISHED, final.outcome
    answer = final.summary["answer"]
    culprit = sc.pushes[CULPRIT]
    worse = answer["first_worse"]
    assert (worse["push_id"], worse["revision"]) == (culprit.push_id, culprit.revision)
    assert worse["z"] >= 1.96
    assert final.outcome is not None
    assert final.outcome.startswith(f"failure rate rises at {culprit.revision[:12]}")
    rows = answer["revisions"]
    assert [r["push_id"] for r in rows] == [sc.pushes[i].push_id for i in range(FIRST, LAST + 1)]
    for index, row in zip(range(FIRST, LAST + 1), rows, strict=True):
        # every push got its TIMES runs (existing ones counted), each with its 95% interval
        assert row["runs"] == TIMES
        low, high = wilson_interval(row["failures"], row["runs"])
        assert row["interval"] == [round(low, 4), round(high, 4)]
        if index < CULPRIT:
            assert row["failures"] == 0
        # the runs the answer counts are the runs at the simulator
        tasks = sc.tasks_at(index, case.label)
        failed = sum(1 for t in tasks if t.runs[-1]["state"] == "failed")
        assert (len(tasks), failed) == (TIMES, row["failures"])
    after = [r for r in rows if r["push_id"] >= culprit.push_id]
    failures, runs = sum(r["failures"] for r in after), sum(r["runs"] for r in after)
    low, high = wilson_interval(failures, runs, z=4.0)
    assert low <= RATE <= high, (failures, runs)


async def test_bisect_finds_the_rate_rise_and_measures_it(broker: Broker, tmp_path: Path) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=RATE)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_bisect(FIRST, LAST, case.label, times=TIMES, strategy="sweep")
        assert len(plan.requests) == LAST - FIRST + 1
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        _check_answer(sc, plan.campaign.campaign_id, case)
        assert performed(sc.sim) == _expected_actions(sc, case)
        assert intended(sc.acts(plan.campaign.campaign_id)) == performed(sc.sim)
        sc.notified_once(plan.campaign.campaign_id)


async def test_bisect_campaign_budget_holds(broker: Broker, tmp_path: Path) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=RATE)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_bisect(
            FIRST, LAST, case.label, times=TIMES, campaign_budget=3, strategy="sweep"
        )
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        # The budget counts tasks: the first push's missing runs are cut to the 3 left,
        # and every other push is refused.
        assert final.state is CampaignState.GAVE_UP
        assert (final.actions, final.tasks) == (1, 3)
        assert sum(sc.sim.stats.hook_triggers.values()) == 1
        assert [e.action.times for e in sc.acts(plan.campaign.campaign_id)] == [3]
        assert sc.sim.stats.reruns == 0
        sc.notified_once(plan.campaign.campaign_id)


async def test_bisect_resumes_after_a_restart_without_repeating(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=RATE)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_bisect(FIRST, LAST, case.label, times=TIMES, strategy="sweep")
        campaign_id = plan.campaign.campaign_id
        sc.gate.close_after(2)  # two pushes get their runs, the others are held back (429)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await until(lambda: sc.gate.passed == 2 and sc.gate.refused >= 1, "two done, one held")
        await sc.stop_daemon()
        assert sum(performed(sc.sim).values()) == 2
        assert not sc.campaign(campaign_id).is_final

        sc.gate.release()
        await sc.start_daemon()
        await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        _check_answer(sc, campaign_id, case)
        assert performed(sc.sim) == _expected_actions(sc, case)
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)
