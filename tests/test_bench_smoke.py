"""bench/run.py keeps working: every benchmark runs end to end at tiny sizes.

No timing is asserted (speed is the benchmark's business, and a shared CI machine is
noisy); the test checks that each benchmark did the work it claims to measure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from broker import RabbitMQ

ROOT = Path(__file__).resolve().parent.parent
KEYS = {
    "throughput_ratio",
    "cpu_per_msg_ratio",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_busy_p99_ms",
    "parallel_speedup",
    "rss_mb_100k",
    "backlog_drain_s",
    "scaleout_msg_per_s",
    "scaleout_cpu_us_per_msg",
    "loadavg",
}
LISTS = {"scaleout_msg_per_s", "scaleout_cpu_us_per_msg", "loadavg"}


@pytest.mark.rabbitmq
def test_quick_run_prints_every_figure_and_did_the_work(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    details_path = tmp_path / "details.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--json",
            "--broker",
            rabbitmq.url,
            "--details",
            str(details_path),
            "--log",
            str(tmp_path / "daemon.log"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == KEYS
    figures = {key: value for key, value in summary.items() if key not in LISTS}
    assert all(isinstance(value, int | float) and value > 0 for value in figures.values())
    assert len(summary["scaleout_msg_per_s"]) == len(summary["scaleout_cpu_us_per_msg"]) == 3
    assert all(value > 0 for value in summary["scaleout_msg_per_s"])
    assert len(summary["loadavg"]) == 2

    details = json.loads(details_path.read_text())
    throughput = details["throughput"]
    assert throughput["messages"] == 10 * throughput["requests"]
    assert throughput["daemon_counters"]["applied"] == throughput["messages"]
    assert details["backlog"]["daemon_counters"]["applied"] == details["backlog"]["messages"]
    latency = details["latency"]
    assert latency["triggers"] > 0
    assert latency["reruns_seen"] == latency["triggers"]
    parallel = details["parallel"]
    assert parallel["errors"] == 0
    assert parallel["rates_respected"] is True
    assert parallel["requests"] == 4 * parallel["revisions"] + 1
    assert details["memory"]["tasks_loaded"] == details["sizes"]["memory_tasks"]
    busy = details["latency_one_core_busy"]
    assert busy["triggers"] > 0
    assert busy["reruns_seen"] == busy["triggers"]
    assert [run["daemons"] for run in details["scaleout"]] == [1, 2, 3]
    # With several daemons a task's messages race each other: some arrive stale.
    assert all(run["handled"] == run["messages"] for run in details["scaleout"])
    assert all(run["applied"] > 0 for run in details["scaleout"])


def test_the_engine_alone_applies_every_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine_cpu.py"), "--requests", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout.startswith("200 messages (200 applied) in batches of 200")
