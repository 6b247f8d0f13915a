"""Bisect with `--strategy search` end to end: the campaign asks for each batch itself,
finds the planted culprit with fewer runs than a sweep of the same range, and a daemon
restarted mid-search goes on without repeating an action.

The label fails on every run from the planted push on (rate 1), so the answer is
certain whatever the draw: a push before it never fails, a push after it always does.
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.core.campaign import CampaignState
from sheriff.harness import intended, performed
from sheriff.scenarios import PlantedRateRise, plant_rate_rise

CULPRIT = 4
TIMES = 10
FIRST, LAST = 1, 7  # the range (push indexes); a sweep would want TIMES runs on each


def _runs_in_range(sc: Scene, case: PlantedRateRise) -> int:
    return sum(len(sc.tasks_at(index, case.label)) for index in range(FIRST, LAST + 1))


def _check_answer(sc: Scene, campaign_id: str, case: PlantedRateRise) -> None:
    final = sc.campaign(campaign_id)
    assert final.state is CampaignState.FINISHED, final.outcome
    answer = final.summary["answer"]
    culprit, parent = sc.pushes[CULPRIT], sc.pushes[CULPRIT - 1]
    assert answer["outcome"] == "culprit"
    assert answer["first_worse"]["revision"] == culprit.revision
    assert answer["last_good"]["revision"] == parent.revision
    assert 0.99 <= answer["first_worse"]["confidence"] <= 1.0
    assert answer["reproduces_at_newest"] is True
    assert final.outcome is not None and final.outcome.startswith(
        f"first fails at {culprit.revision[:12]}"
    )
    # The runs the answer counts are the runs at the simulator, fewer than a sweep's.
    assert answer["tasks"] == _runs_in_range(sc, case) < TIMES * (LAST - FIRST + 1)
    rows = {row["push_id"]: row for row in answer["revisions"]}
    for index in range(FIRST, LAST + 1):
        row = rows[sc.pushes[index].push_id]
        assert row["runs"] == len(sc.tasks_at(index, case.label))
        assert row["failures"] == (row["runs"] if index >= CULPRIT else 0)
    # The search asked for runs on some pushes only (the newest, the probes, the suspect
    # and its parent); the runs found at planning count on the others.
    sampled = {step["push_id"] for step in final.params["search_steps"]}
    assert {sc.pushes[CULPRIT].push_id, parent.push_id, sc.pushes[LAST].push_id} <= sampled
    assert len(sampled) < LAST - FIRST + 1


async def test_the_search_finds_the_culprit_with_fewer_runs(broker: Broker, tmp_path: Path) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_bisect(FIRST, LAST, case.label, times=TIMES, strategy="search")
        assert plan.requests == ()
        campaign_id = plan.campaign.campaign_id
        await sc.start(plan.campaign)
        sc.go()
        await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        _check_answer(sc, campaign_id, case)
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        steps = sc.campaign(campaign_id).params["search_steps"]
        assert steps[0]["revision"] == sc.pushes[LAST].revision  # does it still fail
        assert {step["phase"] for step in steps} >= {"lookback", "verify"}
        sc.notified_once(campaign_id)


async def test_the_search_resumes_after_a_restart_without_repeating(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_bisect(FIRST, LAST, case.label, times=TIMES, strategy="search")
        campaign_id = plan.campaign.campaign_id
        sc.gate.close_after(2)  # two batches get their runs, the next is held back (429)
        await sc.start(plan.campaign)
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
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)
