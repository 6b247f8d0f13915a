"""Campaign commands check the push as the API does, over the simulator's services: the
refusals name the option, exit 2 and record nothing; a 12-character revision works for
every kind (until-fail and fill used to fail with a raw 404)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.brokers import Broker
from support.ci import history_ci
from support.cli_process import run_cli, scene_config
from support.scene import scene

PUSH = 3


@pytest.mark.parametrize("broker", ["memory"], indirect=True)
async def test_cli_refusals_and_short_revisions(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url), daemon=False) as sc:
        config = scene_config(sc, tmp_path)
        push = sc.push_at(PUSH)
        label = next(x for x in sc.pushes[PUSH].scheduled_labels if x.startswith("test-"))
        common = ["--repo", sc.repo, "--revision", push.revision[:12]]

        code, _, err = await run_cli(
            config, "watch", *common, "--task-group", push.task_group_id, "--label", "test-x/opt-y"
        )
        assert code == 2
        assert "--label: 'test-x/opt-y' is not in the full task graph of" in err
        other_group = sc.push_at(PUSH - 1).task_group_id
        code, _, err = await run_cli(
            config, "watch", *common, "--task-group", other_group, "--label", label
        )
        assert code == 2
        assert f"--task-group: {other_group} is not the task group of" in err
        code, _, err = await run_cli(
            config, "fill", "--repo", sc.repo, "--revision", "0123456789ab", "--dry-run"
        )
        assert code == 2
        assert "--revision: autoland has no push with revision 0123456789ab" in err
        assert sc.reader.list_campaigns() == []  # nothing recorded for a refusal

        for kind in (["until-fail", "--label", label], ["fill"]):
            code, out, err = await run_cli(config, *kind, *common, "--dry-run", "--json")
            assert code == 0, err
            campaign = sc.campaign(json.loads(out)["id"])
            assert campaign.push.revision == push.revision
            assert campaign.push.task_group_id == push.task_group_id
