"""`--dry-run --wait` ends: once the daemon has decided every action (and performed none)."""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.cli_process import run_cli, scene_config
from support.scene import scene

from mozci_monitor.core.campaign import CampaignState
from sheriff.scenarios import backfill_command, plant_regression


async def test_backfill_dry_run_wait_ends_with_what_would_be_done(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        config = scene_config(sc, tmp_path)
        sc.go()
        code, out, err = await run_cli(
            config, *backfill_command(sc, case), "--dry-run", "--wait", "--wait-timeout", "45"
        )
        assert code == 0, err
        campaign_id = out.splitlines()[0]
        assert f"dry run: decided, nothing performed ({campaign_id})" in out
        # What the search decided (gecko's backfill action, retriggers, add-new-jobs), each
        # only as what it would have done.
        would = [line for line in out.splitlines() if line.startswith("  would ")]
        assert would, out
        # Nothing was performed, and the campaign is still open: it ended only the waiting.
        assert sc.sim.stats.hook_triggers == {}
        assert sc.campaign(campaign_id).state is CampaignState.RUNNING
