"""Backfill with `--strategy search` end to end: from the last good push known before the
campaign to the failing one, the campaign samples only where the answer is decided and
names the planted culprit with its confidence. The regression is permanent and nothing
else fails, so the answer is certain."""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.scene import scene

from mozci_monitor.core.campaign import CampaignState
from sheriff.harness import intended, performed
from sheriff.scenarios import plant_regression

HISTORY_PLUS = 20  # more revisions than the simulator has: the range starts before it


async def test_backfill_search_names_the_culprit(broker: Broker, tmp_path: Path) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(
            case.failing, case.label, max_revisions=HISTORY_PLUS, strategy="search"
        )
        assert plan.requests == ()
        entries = plan.campaign.params["pushes"]
        window = range(case.last_good, case.failing + 1)
        assert [e["push_id"] for e in entries] == [sc.pushes[i].push_id for i in window]
        campaign_id = plan.campaign.campaign_id
        await sc.start(plan.campaign)
        sc.go()
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        assert final.state is CampaignState.FINISHED, final.outcome
        answer = final.summary["answer"]
        culprit, before = sc.pushes[case.culprit], sc.pushes[case.culprit - 1]
        assert answer["first_bad"] == {
            "push_id": culprit.push_id,
            "revision": culprit.revision,
        }, final.outcome
        assert answer["last_good"] == {"push_id": before.push_id, "revision": before.revision}
        assert answer["first_worse"]["confidence"] >= 0.99
        # Every push's verdict is what its runs at the simulator say.
        for entry in answer["pushes"]:
            index = next(i for i in window if sc.pushes[i].push_id == entry["push_id"])
            tasks = sc.tasks_at(index, case.label)
            orange = sum(1 for t in tasks if t.runs and t.runs[-1]["state"] == "failed")
            assert (entry["green"] + entry["orange"], entry["orange"]) == (len(tasks), orange)
        # No in-tree backfill: retriggers and add-new-jobs where the search sampled.
        assert {kind for kind, _, _ in performed(sc.sim)} <= {"retrigger", "add-new-jobs"}
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)
