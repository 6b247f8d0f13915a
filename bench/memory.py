"""Figure 4: resident memory of a daemon process with 100,000 watched tasks loaded.

The parent writes a store holding `tasks` tasks (`per_request` per WATCH request, 200
tasks per task group, two runs each) and binds nothing; a fresh child process (so no
benchmark state is counted) imports the package, starts the real daemon on that store
and the broker (one binding per watched group on each of the six exchanges), reads every
watched task back through the store thread (the page cache fills to its bound), and
reports VmRSS and VmHWM from /proc/self/status at each step.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import rabbit

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-11-22T10:00:00.000Z"


def build_store(path: Path, tasks: int, *, per_request: int = 5, per_group: int = 200) -> int:
    """Write `tasks` watched tasks straight through the store API; returns the group count."""
    from bench.workload import FakeTask, label_of, slug, watched_request
    from mozci_monitor.core.machine import observe
    from mozci_monitor.core.messages import parse_message
    from mozci_monitor.store.sqlite import SqliteStore

    store = SqliteStore(path)
    groups = -(-tasks // per_group)
    labels_per_group = per_group // per_request
    with store.transaction():
        for index in range(tasks // per_request):
            group = slug(70_000_000 + index // labels_per_group)
            label = label_of(index % labels_per_group)
            task_ids = []
            for n in range(per_request):
                task = FakeTask(slug(80_000_000 + index * per_request + n), group, label)
                task.pending()
                task.running()
                task.resolve("exception", "worker-shutdown")
                task.pending("retry")
                message = task.running()
                event = parse_message(message.exchange, message.routing_key, message.body)
                store.save_task(observe(None, event.status, event.label).record, AT)
                task_ids.append(task.task_id)
            request = watched_request(f"mem-{index:06d}", group, label, wanted=per_request)
            store.add_request(replace(request, task_ids=tuple(task_ids)), AT)
    store.close()
    return groups


def measure(url: str, tasks: int, *, timeout: float = 300.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mozci-bench-") as tmp:
        store_path = Path(tmp) / "memory.sqlite3"
        groups = build_store(store_path, tasks)
        queue = rabbit.queue_name("memory")
        try:
            result = subprocess.run(
                [sys.executable, "-m", "bench.memory", str(store_path), url, queue],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            rabbit.delete_queues(url, [queue])
    if result.returncode != 0:
        raise RuntimeError(f"memory child failed: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report["groups"] = groups
    report["store_mb"] = report.pop("store_mb", None)
    return report


def _status_mb() -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def _child(store_path: str, url: str, queue: str) -> None:
    import asyncio
    import os

    steps: dict[str, Any] = {"python": _status_mb()}
    from bench.harness import bench_settings, make_daemon
    from mozci_monitor.logs import configure_logging
    from tests.support.daemon import run_daemon, wait_started

    configure_logging(format="json", level="info")  # stderr: stdout carries the figures
    steps["imports"] = _status_mb()

    async def run() -> int:
        settings = bench_settings(url, queue, Path(store_path))
        daemon, _consumer, store = make_daemon(settings, 0)
        runner = run_daemon(daemon)
        await wait_started(daemon, runner, 600)
        steps["daemon_started"] = _status_mb()
        groups = await daemon.in_store(store.open_task_groups)
        loaded = 0
        for group in sorted(groups):
            loaded += len(await daemon.in_store(store.tasks_in_group, group))
        steps["tasks_read"] = _status_mb()
        daemon.request_stop()
        await asyncio.wait_for(runner, 60)
        return loaded

    loaded = asyncio.run(run())
    print(
        json.dumps(
            {
                "tasks_loaded": loaded,
                "rss_mb": steps["tasks_read"]["VmRSS"],
                "hwm_mb": steps["tasks_read"]["VmHWM"],
                "steps": steps,
                "store_mb": round(os.path.getsize(store_path) / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    _child(*sys.argv[1:4])
