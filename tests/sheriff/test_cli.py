"""`mozci-monitor backfill` against the simulator, as a separate process, as a sheriff runs it.

Settings come from a TOML file whose [sources] point at the simulator and whose [store]
is the test's; `--dry-run` plans and records the campaign (no daemon needed); `--wait`
returns 0 once the daemon running in the test has finished the campaign.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from support.brokers import Broker
from support.scene import Scene, scene

from mozci_monitor.core.campaign import CampaignKind, CampaignState
from mozci_monitor.core.model import RemedyPolicy
from sheriff.scenarios import plant_regression

CLI_WITHIN = 55.0  # seconds the command may take, waiting included
_MAIN = "import sys; from mozci_monitor.cli import main; sys.exit(main())"


def _config(sc: Scene, tmp_path: Path) -> Path:
    path = tmp_path / "mozci-monitor.toml"
    path.write_text(
        "\n".join(
            [
                "[pulse]",
                f"url = {json.dumps(sc.broker_url)}",
                f"queue = {json.dumps(sc.queue)}",
                "[store]",
                f"path = {json.dumps(str(sc.store_path))}",
                "[sources]",
                f"taskcluster_root_url = {json.dumps(sc.sim.root_url)}",
                f"treeherder_url = {json.dumps(sc.sim.treeherder_url)}",
                f"hg_url = {json.dumps(sc.sim.hg_url)}",
                "[actions]",
                "max_per_request = 3",
                # The scene's daemon serves no API: the CLI records in its store. Without
                # this, a daemon of someone else's on the default port would be asked.
                "[api]",
                "enabled = false",
                "[log]",
                'level = "warning"',
                "",
            ]
        )
    )
    return path


async def _cli(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MAIN,
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_WITHIN)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("broker", ["memory"], indirect=True)
async def test_backfill_dry_run_plans_and_records_the_campaign(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config, daemon=False) as sc:
        config = _config(sc, tmp_path)
        failing = sc.pushes[case.failing]
        code, out, err = await _cli(
            config,
            "backfill",
            "--repo",
            sc.repo,
            "--revision",
            failing.revision,
            "--label",
            case.label,
            "--max-revisions",
            "20",
            "--strategy",
            "sweep",
            "--dry-run",
        )
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
        config = _config(sc, tmp_path)
        sc.go()
        code, out, err = await _cli(
            config,
            "backfill",
            "--repo",
            sc.repo,
            "--revision",
            sc.pushes[case.failing].revision,
            "--label",
            case.label,
            "--max-revisions",
            "20",
            "--strategy",
            "sweep",
            "--wait",
            "--wait-timeout",
            "45",
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
