"""[capacity] in the running daemon, over the simulator: a bisect search on a saturated
pool waits (its timeline says why), survives a restart while it waits and goes on once
the pool drains, each action once; a
daily quota holds however many runs the search wants; an excluded pool is refused with
the reason, and Taskcluster never sees an action for it."""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.config import CapacitySettings
from mozci_monitor.core.campaign import CampaignState
from sheriff.harness import intended, performed
from sheriff.scenarios import PlantedRateRise, plant_rate_rise

CULPRIT = 4
FIRST, LAST = 1, 7


def _pool(sc: Scene, case: PlantedRateRise) -> str:
    """The worker pool the label's tasks run on (their definitions name it)."""
    return str(sc.tasks_at(case.ran[0], case.label)[0].definition["taskQueueId"])


def _deferrals(sc: Scene, campaign_id: str) -> list[str]:
    return [
        str(entry.detail["note"])
        for request in sc.requests(campaign_id)
        for entry in sc.timeline(request.request_id)
        if entry.kind == "deferred"
    ]


def _tasks_of_label(sc: Scene, case: PlantedRateRise) -> int:
    return sum(len(sc.tasks_at(index, case.label)) for index in range(FIRST, LAST + 1))


async def _search(sc: Scene, case: PlantedRateRise) -> str:
    plan = await sc.plan_bisect(FIRST, LAST, case.label, times=10, strategy="search")
    await sc.start(plan.campaign)
    sc.go()
    return plan.campaign.campaign_id


async def test_a_saturated_pool_defers_the_search_until_it_drains(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    capacity = CapacitySettings(max_pending=1000, pending_refresh=0.1)
    async with scene(broker, tmp_path, case.config, capacity=capacity) as sc:
        pool = _pool(sc, case)
        sc.sim.world.pool_backlog[pool] = 5000  # other users' tasks fill the pool
        campaign_id = await _search(sc, case)
        await until(lambda: _deferrals(sc, campaign_id), "the campaign says it waits")
        assert _deferrals(sc, campaign_id)[0] == (
            f"deferred: worker pool {pool} has 5000 pending tasks (limit 1000): deferred"
        )
        assert performed(sc.sim) == {}
        assert not sc.campaign(campaign_id).is_final

        await sc.restart_daemon()  # what waits is in the outbox: a restart loses nothing
        sc.sim.world.pool_backlog[pool] = 0  # the pool drains
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)
        assert final.state is CampaignState.FINISHED
        assert final.summary["answer"]["first_worse"]["revision"] == sc.pushes[CULPRIT].revision
        # Deferred, then performed once: what the outbox says done is what Taskcluster saw.
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)


async def test_a_daily_quota_holds_however_many_runs_the_search_wants(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    async with scene(broker, tmp_path, case.config, daemon=False) as sc:
        pool = _pool(sc, case)
    (tmp_path / "q").mkdir()
    quota = 3
    capacity = CapacitySettings(daily_quota={pool: quota})
    async with scene(broker, tmp_path / "q", case.config, capacity=capacity) as sc:
        before = _tasks_of_label(sc, case)
        campaign_id = await _search(sc, case)
        await until(
            lambda: _deferrals(sc, campaign_id) or sc.campaign(campaign_id).is_final,
            "the campaign says it waits",
        )
        assert not sc.campaign(campaign_id).is_final, sc.campaign(campaign_id).outcome
        assert _deferrals(sc, campaign_id)[0].startswith(
            f"deferred: daily quota of worker pool {pool}: "
        )
        await until(
            lambda: all(e.state != "pending" or e.attempts == 0 for e in sc.acts(campaign_id)),
            "nothing in progress",
        )
        assert before < _tasks_of_label(sc, case) <= before + quota
        assert not sc.campaign(campaign_id).is_final


async def test_an_excluded_pool_is_refused_with_the_reason(broker: Broker, tmp_path: Path) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    async with scene(broker, tmp_path, case.config, daemon=False) as sc:
        pool = _pool(sc, case)
    (tmp_path / "x").mkdir()
    capacity = CapacitySettings(excluded_pools=[pool])
    async with scene(broker, tmp_path / "x", case.config, capacity=capacity) as sc:
        campaign_id = await _search(sc, case)
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)
        refused = f"refused: worker pool {pool} is excluded (scarce hardware)"
        assert any(refused in (r.reason or "") for r in sc.requests(campaign_id))
        assert final.outcome is not None and refused in final.outcome
        assert performed(sc.sim) == {}
        sc.notified_once(campaign_id)
