"""Figures 1 and 5: daemon throughput against a raw kombu consumer, and backlog drain.

Both queues are bound to the same task groups before anything is published, so one
publish puts the same messages in each; the raw consumer drains its copy first, then
the daemon drains its own (one after the other: on a 2-core machine, running them side
by side would measure CPU contention, not the daemon).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import rabbit
from bench.harness import DrainResult, bench_settings, drain, register_all
from bench.profiling import py_spy
from bench.workload import bindings, lifecycle_workload
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"


@dataclass
class ConsumeFigures:
    messages: int
    requests: int
    raw_s: float
    raw_cpu_s: float
    daemon: DrainResult

    @property
    def raw_rate(self) -> float:
        return self.messages / self.raw_s

    @property
    def daemon_rate(self) -> float:
        return self.messages / self.daemon.first_delivery_to_acked_s

    @property
    def ratio(self) -> float:
        return self.daemon_rate / self.raw_rate

    def cpu_us_by_thread(self) -> dict[str, int]:
        by_thread = self.daemon.cpu_by_thread_s.items()
        return {name: round(s / self.messages * 1e6) for name, s in by_thread if s > 0}

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "requests": self.requests,
            "raw_s": round(self.raw_s, 3),
            "raw_msg_per_s": round(self.raw_rate),
            "daemon_s": round(self.daemon.first_delivery_to_acked_s, 3),
            "daemon_start_to_acked_s": round(self.daemon.started_to_acked_s, 3),
            "daemon_msg_per_s": round(self.daemon_rate),
            "daemon_batches": self.daemon.batches,
            "daemon_counters": self.daemon.counters,
            "ratio": round(self.ratio, 3),
            "raw_cpu_us_per_msg": round(self.raw_cpu_s / self.messages * 1e6),
            "daemon_cpu_us_per_msg": round(self.daemon.cpu_s / self.messages * 1e6),
            "daemon_cpu_us_per_msg_by_thread": self.cpu_us_by_thread(),
            # daemon over raw, as in the summary line (the goal: at most 2)
            "cpu_per_msg_ratio": round(self.daemon.cpu_s / self.raw_cpu_s, 3),
            "engine_us_per_msg": round(self.daemon.engine_s / self.messages * 1e6),
            "commit_ms_per_batch": round(self.daemon.commit_s / self.daemon.batches * 1e3, 2),
        }


def prepare(url: str, requests: int, seed: int, workdir: Path) -> tuple[str, str, int, Path]:
    """Store with `requests` registered; both queues bound and filled. Returns names, count."""
    workload = lifecycle_workload(requests, seed=seed)
    store_path = workdir / f"bench-{seed}.sqlite3"
    store = SqliteStore(store_path)
    register_all(store, workload.requests, AT)
    store.close()
    keys = bindings(workload.groups)
    raw_queue, daemon_queue = rabbit.queue_name("raw"), rabbit.queue_name("daemon")
    rabbit.declare_bound_queue(url, raw_queue, keys)
    rabbit.declare_bound_queue(url, daemon_queue, keys)
    count = rabbit.publish_all(url, workload.messages)
    rabbit.wait_depth(url, raw_queue, count, timeout=60)
    rabbit.wait_depth(url, daemon_queue, count, timeout=60)
    return raw_queue, daemon_queue, count, store_path


def throughput(
    url: str,
    requests: int,
    *,
    seed: int,
    timeout: float = 300.0,
    profile: Path | None = None,
    pulse: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
) -> ConsumeFigures:
    """`profile`: py-spy samples of the daemon's drain only, into that file.

    `pulse` / `daemon`: overrides of PulseSettings / DaemonSettings (experiments).
    """
    with tempfile.TemporaryDirectory(prefix="mozci-bench-") as tmp:
        raw_queue, daemon_queue, count, store_path = prepare(url, requests, seed, Path(tmp))
        try:
            raw_s, raw_cpu_s = rabbit.raw_drain(
                url, raw_queue, count, prefetch=100, timeout=timeout
            )
            settings = bench_settings(url, daemon_queue, store_path, pulse=pulse, daemon=daemon)
            with py_spy(profile):
                result = asyncio.run(drain(settings, count, timeout))
        finally:
            rabbit.delete_queues(url, [raw_queue, daemon_queue])
    return ConsumeFigures(count, requests, raw_s, raw_cpu_s, result)


def backlog(url: str, messages: int, *, seed: int, **options: Any) -> ConsumeFigures:
    """`messages` already queued when the daemon starts; time until every one is acked."""
    options.setdefault("timeout", 120.0)
    return throughput(url, max(1, messages // 10), seed=seed, **options)
