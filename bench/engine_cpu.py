"""The engine alone: CPU per message of `Engine.apply` on the throughput workload.

No broker, no event loop, no logging: the throughput benchmark's 20,000 messages are
decoded once up front, then applied in batches on a fresh SQLite store (production
pragmas), timing only `Engine.apply` with the thread's CPU clock. It isolates what the
engine costs per message from the consumer's and the broker's share, so a change to the
engine can be measured in a few seconds on a shared machine (CPU time, not wall time).

    python bench/engine_cpu.py                    # CPU µs per message, engine only
    python bench/engine_cpu.py --profile 25       # and cProfile's top 25 (cumulative)
    python bench/engine_cpu.py --batch 500 --requests 500
    python bench/engine_cpu.py --repeat 5         # fresh store each time; min and median

On a shared machine one figure swings by a third between runs (other tenants, CPU clock);
the minimum of several repeats is the steadier one to compare two versions by.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script: the project root first, so `bench` is imported as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import register_all
from bench.workload import lifecycle_workload
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import TaskEvent
from mozci_monitor.decoding import decode_message
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="WATCH requests (10 msg each)")
    parser.add_argument("--batch", type=int, default=200, help="messages per Engine.apply")
    parser.add_argument("--profile", type=int, metavar="N", help="print cProfile's top N")
    parser.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh store")
    args = parser.parse_args(argv)
    workload = lifecycle_workload(args.requests)
    items: list[TaskEvent | Rejection] = [
        decode_message(m.exchange, m.routing_key, m.body) for m in workload.messages
    ]
    figures = [_run(workload, items, args) for _ in range(max(1, args.repeat))]
    if len(figures) > 1:
        print(
            f"engine CPU over {len(figures)} runs: min {min(figures):.1f}, median "
            f"{statistics.median(figures):.1f}, max {max(figures):.1f} us per message"
        )
    return 0


def _run(workload: Any, items: list[TaskEvent | Rejection], args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite3")
        register_all(store, workload.requests, AT)
        engine = Engine(store)
        profiler = cProfile.Profile() if args.profile else None
        applied = 0
        cpu = 0.0
        for start in range(0, len(items), args.batch):
            batch = items[start : start + args.batch]
            began = time.thread_time()
            if profiler is not None:
                profiler.enable()
            outcome = engine.apply(batch, AT)
            if profiler is not None:
                profiler.disable()
            cpu += time.thread_time() - began
            applied += outcome.applied
        store.close()
    print(
        f"{len(items)} messages ({applied} applied) in batches of {args.batch}: "
        f"engine CPU {cpu * 1e6 / len(items):.1f} us per message"
        + (" (under cProfile)" if profiler is not None else "")
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)
    return cpu * 1e6 / len(items)


if __name__ == "__main__":
    raise SystemExit(main())
