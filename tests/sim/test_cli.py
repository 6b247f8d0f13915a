"""`python -m mozci_monitor.sim` serves until interrupted and prints its URLs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mozci_monitor.cli import main
from mozci_monitor.sim.cli import config_from_args, config_from_namespace


def test_arguments_become_a_config() -> None:
    config = config_from_args(
        ["--seed", "5", "--pushes", "12", "--broker-url", "none", "--time-scale", "1.5"]
    )
    assert (config.seed, config.pushes, config.broker_url, config.time_scale) == (5, 12, None, 1.5)
    assert config_from_args([]).broker_url == "amqp://guest:guest@127.0.0.1:5672//"


@contextlib.contextmanager
def _serving(
    *args: str, cwd: Path, sigint_ignored: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """The simulator in a process of its own (this checkout's package, whatever else an
    editable install may point at); killed at the end if the test did not stop it."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
        # as a shell's background job or a parent that ignores Ctrl-C starts it
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint_ignored
        else None,
    )
    try:
        assert proc.stdout is not None
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive_then_interrupted(
    proc: subprocess.Popen[str], root_url: str, signum: int = signal.SIGINT
) -> None:
    with urllib.request.urlopen(f"{root_url}/api/queue/v1/ping", timeout=10) as response:
        assert json.load(response)["alive"] is True
    proc.send_signal(signum)
    assert proc.wait(timeout=20) == 0


def test_module_serves_until_interrupted(tmp_path: Path) -> None:
    module = ("-m", "mozci_monitor.sim", "--pushes", "4", "--broker-url", "none")
    with _serving(*module, cwd=tmp_path) as proc:
        assert proc.stdout is not None
        root_url = None
        for line in proc.stdout:
            if line.startswith("Taskcluster root URL:"):
                root_url = line.split(":", 1)[1].strip()
            if line.startswith("Pulse broker:"):
                break
        assert root_url is not None
        _alive_then_interrupted(proc, root_url)


def test_mozci_monitor_sim_takes_the_simulator_s_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mozci_monitor.cli import _parser

    with pytest.raises(SystemExit) as exited:
        main(["sim", "--help"])
    assert exited.value.code == 0
    assert "--broker-url" in capsys.readouterr().out
    args = _parser().parse_args(
        ["sim", "--port", "0", "--seed", "7", "--broker-url", "none", "--config", "x.toml"]
    )
    config = config_from_namespace(args)
    assert (config.port, config.seed, config.broker_url) == (0, 7, None)
    assert args.config == "x.toml"


def test_mozci_monitor_sim_refuses_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--no-such-option"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_sim_json_is_one_line_a_script_can_read(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    command = "import sys; from mozci_monitor.cli import main; sys.exit(main())"
    sim = ("sim", "--json", "--pushes", "8", "--broker-url", "none", "--write-config", str(config))
    with _serving("-c", command, *sim, cwd=tmp_path) as proc:
        assert proc.stdout is not None
        facts = json.loads(proc.stdout.readline())
        assert set(facts) == {
            "taskcluster_root_url",
            "hg_pushlog",
            "treeherder",
            "pulse_broker",
            "daemon_settings",
            "try",
        }
        assert facts["daemon_settings"] == str(config)
        assert facts["pulse_broker"] is None
        assert facts["try"].startswith("mozci-monitor watch --repo autoland --revision ")
        _alive_then_interrupted(proc, facts["taskcluster_root_url"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_simulator_stops_on_a_signal_even_started_with_ctrl_c_ignored(
    tmp_path: Path, signum: int
) -> None:
    module = ("-m", "mozci_monitor.sim", "--pushes", "4", "--broker-url", "none")
    with _serving(*module, cwd=tmp_path, sigint_ignored=True) as proc:
        assert proc.stdout is not None
        root_url = None
        for line in proc.stdout:
            if line.startswith("Taskcluster root URL:"):
                root_url = line.split(":", 1)[1].strip()
            if line.startswith("Pulse broker:"):
                break
        assert root_url is not None
        _alive_then_interrupted(proc, root_url, signum)
