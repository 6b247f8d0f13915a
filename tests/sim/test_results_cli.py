"""`mozci-monitor results` against the simulator: a job orange for an unrelated test and
one orange for the planted regression, told apart by the signature."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mozci_monitor import cli
from mozci_monitor.sim import Simulator
from mozci_monitor.sim.testrun import (
    JobTestModel,
    PlantedTestRegression,
    flaky_tests_of,
    manifests_for,
)

from .conftest import SimFactory

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
MODEL = JobTestModel(labels=(LABEL,), background_orange=1.0, known_intermittent_rate=0.0)
PLANTED = manifests_for(MODEL, LABEL)[1].tests[3]


@pytest.fixture
async def sim(make_sim: SimFactory) -> Simulator:
    model = JobTestModel(
        labels=(LABEL,),
        background_orange=0.99,
        known_intermittent_rate=0.0,
        regressions=(PlantedTestRegression(LABEL, PLANTED, from_push=4),),
    )
    simulator = await make_sim(tests=model, scheduled_fraction=1.0)
    await simulator.run_until_idle()
    return simulator


@pytest.fixture
def config(tmp_path: Path, sim: Simulator) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        "[sources]\n"
        f'taskcluster_root_url = "{sim.root_url}"\n'
        f'treeherder_url = "{sim.treeherder_url}"\n'
        f'hg_url = "{sim.hg_url}"\n'
    )
    return path


async def results(config: Path, *args: str) -> int:
    return await asyncio.to_thread(cli.main, ["--config", str(config), "results", *args])


async def test_orange_for_another_test_passes_the_signature(
    sim: Simulator, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (before,) = sim.tasks_of(sim.pushes[3], LABEL)
    (after,) = sim.tasks_of(sim.pushes[4], LABEL)
    assert before.state == after.state == "failed"  # both orange
    assert await results(config, before.task_id, "--test", PLANTED, "--json") == 0
    early = json.loads(capsys.readouterr().out)
    assert await results(config, after.task_id, "--test", PLANTED, "--json") == 0
    late = json.loads(capsys.readouterr().out)
    assert early["verdict"] == "passed" and late["verdict"] == "hit"
    flaky = set(flaky_tests_of(MODEL, LABEL))
    assert {f.removeprefix("test:") for f in early["failures"]} <= flaky
    assert f"test:{PLANTED}" in late["failures"]
    assert early["source"] == "errorsummary"


async def test_the_text_report(
    sim: Simulator, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (after,) = sim.tasks_of(sim.pushes[4], LABEL)
    assert await results(config, after.task_id, "--test", PLANTED) == 0
    out = capsys.readouterr().out
    assert f"failed: test:{PLANTED}" in out
    assert f"test:{PLANTED}: hit" in out


async def test_no_results_and_refused_patterns(
    sim: Simulator, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = sim.pushes[4].decision_task_id
    assert await results(config, decision) == 1
    assert "no test results" in capsys.readouterr().err
    assert await results(config, decision, "--test", "a.js", "--subtest", "(a") == 2
    assert "not a regular expression RE2 accepts" in capsys.readouterr().err
    assert await results(config, decision, "--message", "x") == 2
