"""Early stop over the simulator: a bisect search whose runs on some pushes stay pending
(a scarce pool: the simulator's `held_after` knob) answers without waiting for them,
cancels them at Taskcluster (only runs its own actions created) and says so in its
timeline and its summary.

The label fails on every run from the planted push on (rate 1): the answer is certain
whatever the draw, and which runs the search asks for follows from it.
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.scene import Scene, scene

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.campaign import CampaignState
from sheriff.harness import intended, performed
from sheriff.scenarios import PlantedRateRise, plant_rate_rise

CULPRIT = 4
TIMES = 10
FIRST, LAST = 1, 7


def _canceled_at_the_queue(sc: Scene, case: PlantedRateRise, index: int) -> list[str]:
    """Runs of the label on push `index` that the queue resolved as canceled before any
    worker claimed them."""
    return [
        task.task_id
        for task in sc.tasks_at(index, case.label)
        if [run["reasonResolved"] for run in task.runs] == ["canceled"]
        and "started" not in task.runs[0]
    ]


async def test_the_search_answers_before_its_held_runs_finish_and_cancels_them(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_rate_rise(broker.url, culprit=CULPRIT, rate=1.0)
    async with scene(broker, tmp_path, case.config) as sc:
        # The suspect's runs: the first one the search adds is claimed at once, the rest
        # wait ten CI hours (the verification's second failure is CI's own run there).
        sc.sim.world.held_after[(case.label, CULPRIT)] = 1
        plan = await sc.plan_bisect(FIRST, LAST, case.label, times=TIMES, strategy="search")
        campaign_id = plan.campaign.campaign_id
        await sc.start(plan.campaign)
        sc.go()
        await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        final = sc.campaign(campaign_id)
        assert final.state is CampaignState.FINISHED, final.outcome
        answer = final.summary["answer"]
        assert answer["first_worse"]["revision"] == sc.pushes[CULPRIT].revision
        assert answer["last_good"]["revision"] == sc.pushes[CULPRIT - 1].revision
        assert answer["first_worse"]["confidence"] >= 0.99
        # The answer came while the suspect's held runs were still pending: they were
        # cancelled at the queue before any worker claimed them.
        canceled = _canceled_at_the_queue(sc, case, CULPRIT)
        assert canceled
        assert answer["tasks"] == sum(
            len(sc.tasks_at(index, case.label)) for index in range(FIRST, LAST + 1)
        ) - len(canceled)
        cancels = [e for e in sc.acts(campaign_id) if e.action.kind is ActionKind.CANCEL]
        assert sorted(e.action.task_id or "" for e in cancels) == sorted(canceled)
        assert {e.state for e in cancels} == {"done"}
        # Said so: the campaign's summary and the suspect's request timeline.
        assert final.summary["cleanup"] == f"cancelled {len(canceled)} obsolete runs"
        notes = [
            entry.detail["note"]
            for request in sc.requests(campaign_id)
            for entry in sc.timeline(request.request_id)
            if entry.kind == "cleanup"
        ]
        assert notes == [f"cancelled {len(canceled)} obsolete runs"]
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)
