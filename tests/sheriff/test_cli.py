"""`mozci-monitor backfill` against the simulator, as a separate process, as a sheriff runs it.

Settings come from a TOML file whose [sources] point at the simulator and whose [store]
is the test's; `--dry-run` plans and records the campaign (no daemon needed); `--wait`
returns 0 once the daemon running in the test has finished the campaign.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.brokers import Broker
from support.cli_process import run_cli, scene_config
from support.scene import scene

from mozci_monitor.core.campaign import CampaignKind, CampaignState
from mozci_monitor.core.model import RemedyPolicy
from sheriff.scenarios import backfill_command, plant_regression

SWEEP_20 = ("--max-revisions", "20", "--strategy", "sweep")


@pytest.mark.parametrize("broker", ["memory"], indirect=True)
async def test_backfill_dry_run_plans_and_records_the_campaign(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config, daemon=False) as sc:
        config = scene_config(sc, tmp_path)
        failing = sc.pushes[case.failing]
        code, out, err = await run_cli(config, *backfill_command(sc, case), *SWEEP_20, "--dry-run")
        assert code == 0, err
        campaign_id = out.splitlines()[0]
        assert f"backfill campaign {campaign_id}: {len(case.to_fill)} request(s) (dry run)" in err

        campaign = sc.campaign(campaign_id)
        assert (campaign.kind, campaign.state, campaign.dry_run) == (
            CampaignKind.BACKFILL,
            CampaignState.RUNNING,
            True,
        )
        assert campaign.label == case.label
        assert campaign.push.revision == failing.revision
        entries = campaign.params["pushes"]
        assert [e["push_id"] for e in entries] == [
            sc.pushes[i].push_id for i in range(case.last_good, case.failing + 1)
        ]
        requests = sc.requests(campaign_id)
        assert sorted(r.push.task_group_id for r in requests) == sorted(
            sc.pushes[i].task_group_id for i in case.to_fill
        )
        assert all(r.remedy is RemedyPolicy.WATCH and r.label == case.label for r in requests)
        assert sc.sim.stats.hook_triggers == {}


async def test_backfill_wait_returns_once_the_daemon_finished(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        config = scene_config(sc, tmp_path)
        sc.go()
        code, out, err = await run_cli(
            config, *backfill_command(sc, case), *SWEEP_20, "--wait", "--wait-timeout", "45"
        )
        assert code == 0, err
        campaign_id = out.splitlines()[0]
        final = sc.campaign(campaign_id)
        assert final.state is CampaignState.FINISHED
        culprit, before = sc.pushes[case.culprit], sc.pushes[case.culprit - 1]
        assert out.splitlines()[-1] == (
            f"finished: last good {before.revision[:12]} (push {before.push_id}),"
            f" first bad {culprit.revision[:12]} (push {culprit.push_id})"
        )
        await sc.finished(campaign_id)
        # one in-tree backfill, whose action task asked for the label on each earlier push
        assert sc.sim.stats.hook_triggers["backfill"] == 1
        filled = {sc.pushes[i].task_group_id for i in case.to_fill}
        reached = {t.task_group_id for t in sc.sim.hook_triggers if t.action == "backfill-task"}
        assert filled <= reached
