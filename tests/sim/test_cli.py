"""`python -m mozci_monitor.sim` serves until interrupted and prints its URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from mozci_monitor.sim.cli import config_from_args


def test_arguments_become_a_config() -> None:
    config = config_from_args(
        ["--seed", "5", "--pushes", "12", "--broker-url", "none", "--time-scale", "1.5"]
    )
    assert (config.seed, config.pushes, config.broker_url, config.time_scale) == (5, 12, None, 1.5)
    assert config_from_args([]).broker_url == "memory://"


def test_module_serves_until_interrupted() -> None:
    root = Path(__file__).resolve().parents[2]
    # this checkout's package, whatever else an editable install may point at
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mozci_monitor.sim", "--pushes", "4", "--broker-url", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=root,
    )
    try:
        assert proc.stdout is not None
        root_url = None
        for line in proc.stdout:
            if line.startswith("Taskcluster root URL:"):
                root_url = line.split(":", 1)[1].strip()
            if line.startswith("Pulse broker:"):
                break
        assert root_url is not None
        with urllib.request.urlopen(f"{root_url}/api/queue/v1/ping", timeout=10) as response:
            assert json.load(response)["alive"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
