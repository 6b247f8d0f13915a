"""Figure 6: the same drain on PostgreSQL with 1, 2 and 3 daemons on one queue.

A throw-away PostgreSQL cluster (started as tests/pg.py starts one: fsync off, so the
figure is the daemons' work, not the disk's) holds the watched requests; the queue is
filled with the throughput workload before any daemon starts. Each daemon is its own
process (one interpreter lock each), built from production settings with the PostgreSQL
store. Every daemon connects, then waits at a gate; the clock starts when the gate opens
and stops when the daemons' consumers together report every message acked. CPU per
message adds up the daemons' own CPU time between the gate and the last ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from bench import rabbit
from bench.workload import bindings, lifecycle_workload

AT = "2026-11-22T10:00:00.000Z"


@dataclass
class ScaleoutRun:
    daemons: int
    messages: int
    seconds: float
    cpu_s: float
    applied: int  # messages that moved a watched task forward, all daemons together
    handled: int  # applied, duplicate or stale (several daemons: a task's messages race)

    def as_dict(self) -> dict[str, Any]:
        return {
            "daemons": self.daemons,
            "messages": self.messages,
            "seconds": round(self.seconds, 3),
            "msg_per_s": round(self.messages / self.seconds),
            "cpu_us_per_msg": round(self.cpu_s / self.messages * 1e6),
            "applied": self.applied,
            "handled": self.handled,
        }


def scaleout(
    url: str,
    requests: int,
    *,
    seed: int,
    counts: tuple[int, ...] = (1, 2, 3),
    timeout: float = 300.0,
) -> list[ScaleoutRun]:
    """One drain per daemon count, each on a fresh database and queue."""
    from tests.pg import start_private_cluster, stop_private_cluster

    server = start_private_cluster()
    try:
        return [
            _run(url, server, requests, seed=seed + index, daemons=count, timeout=timeout)
            for index, count in enumerate(counts)
        ]
    finally:
        stop_private_cluster(server)


def _run(
    url: str, server: Any, requests: int, *, seed: int, daemons: int, timeout: float
) -> ScaleoutRun:
    from bench.harness import register_all
    from mozci_monitor.config import DaemonSettings, PulseSettings, Settings, StoreSettings
    from mozci_monitor.wiring import build_store

    database = server.create_database()
    settings = Settings(
        pulse=PulseSettings(url=url, queue=rabbit.queue_name("scaleout")),
        store=StoreSettings(backend="postgres", dsn=server.dsn(database)),
        daemon=DaemonSettings(),
    )
    workload = lifecycle_workload(requests, seed=seed)
    store: Any = build_store(settings)
    register_all(store, workload.requests, AT)
    store.close()
    queue = settings.pulse.queue
    rabbit.declare_bound_queue(url, queue, bindings(workload.groups))
    count = rabbit.publish_all(url, workload.messages)
    rabbit.wait_depth(url, queue, count, timeout=60)
    spawn = multiprocessing.get_context("spawn")
    gate, stop = spawn.Event(), spawn.Event()
    ready = [spawn.Event() for _ in range(daemons)]
    acked = [spawn.Value("q", 0) for _ in range(daemons)]
    cpu = [spawn.Value("d", 0.0) for _ in range(daemons)]
    applied = [spawn.Value("q", 0) for _ in range(daemons)]
    handled = [spawn.Value("q", 0) for _ in range(daemons)]
    children = [
        spawn.Process(
            target=_child,
            args=(settings, gate, stop, ready[n], acked[n], cpu[n], applied[n], handled[n]),
            name=f"daemon-{n}",
        )
        for n in range(daemons)
    ]
    try:
        for child in children:
            child.start()
        for event in ready:
            if not event.wait(60):
                raise RuntimeError("a daemon did not get ready within 60 s")
        opened = time.perf_counter()
        gate.set()
        deadline = time.monotonic() + timeout
        while sum(value.value for value in acked) < count:
            if time.monotonic() > deadline or not all(c.is_alive() for c in children):
                raise RuntimeError(
                    f"{daemons} daemons acked {sum(v.value for v in acked)}/{count} in time"
                )
            time.sleep(0.002)
        seconds = time.perf_counter() - opened
        stop.set()
        for child in children:
            child.join(60)
    finally:
        stop.set()
        gate.set()
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join(10)
        rabbit.delete_queues(url, [queue])
        with contextlib.suppress(Exception):
            server.drop_database(database)
    return ScaleoutRun(
        daemons,
        count,
        seconds,
        sum(v.value for v in cpu),
        sum(v.value for v in applied),
        sum(v.value for v in handled),
    )


def _child(
    settings: Any,
    gate: EventType,
    stop: EventType,
    ready: EventType,
    acked: Any,
    cpu: Any,
    applied: Any,
    handled: Any,
) -> None:
    """One daemon process: connect, wait at the gate, drain until told to stop."""
    from bench.harness import log_to_file
    from bench.rabbit import cpu_seconds
    from tests.support.daemon import assemble_daemon

    log_to_file(_log_path())
    daemon = assemble_daemon(settings)
    consumer: Any = daemon._consumer  # the benchmark reads its counter; not the package's API
    ready.set()
    gate.wait()
    start = cpu_seconds()

    async def main() -> None:
        runner = asyncio.create_task(daemon.run(install_signal_handlers=False))
        while not stop.is_set() and not runner.done():
            seen = consumer.health.acked
            if seen != acked.value:
                cpu.value = cpu_seconds() - start  # as of the last ack, not the shutdown
                acked.value = seen
            await asyncio.sleep(0.002)
        daemon.request_stop()
        await asyncio.wait_for(runner, 30)
        counters = daemon.health.counters
        applied.value = counters.get("applied", 0)
        handled.value = sum(counters.get(name, 0) for name in ("applied", "duplicates", "stale"))

    asyncio.run(main())


def _log_path() -> Path:
    return Path(tempfile.gettempdir()) / f"mozci-bench-scaleout-{os.getpid()}.log"
