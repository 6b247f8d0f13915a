"""Figure 2: publish → action call at the simulator, under a steady message rate.

The daemon runs with real services pointed at the simulator (Taskcluster queue on
loopback). A publisher in another process (so it does not share the daemon's GIL) sends
real-format lifecycles at a steady rate; one task in `trigger_every` resolves
exception/internal-error on a WATCH request, for which the daemon queues a rerun and the
actuator calls `queue.rerunTask` on the simulator. The simulator's rerun handler is
wrapped to note when it saw each call. Both sides use time.monotonic (CLOCK_MONOTONIC,
one clock for every process on the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import rabbit
from bench.harness import bench_settings, make_daemon, register_all
from bench.workload import FakeTask, Message, Workload, bindings, label_of, slug, watched_request
from mozci_monitor.config import ActionsSettings, SourcesSettings
from tests.support.daemon import run_daemon, wait_started
from tests.support.waiting import until

AT = "2026-11-22T10:00:00.000Z"


def trigger_workload(
    tasks: int, *, trigger_every: int, window: int = 100, labels_per_group: int = 50, seed: int
) -> tuple[Workload, set[str]]:
    """One WATCH request per task; tasks go pending → running → resolved in windows.

    Within a window of `window` tasks every task's pending goes out, then every running,
    then every resolution, so a task's messages are spread over the window (as on a busy
    push) and always in order. Returns the workload and the ids of the trigger tasks.
    """
    groups = [slug(40_000_000 + seed * 100_000 + g) for g in range(-(-tasks // labels_per_group))]
    requests = []
    messages: list[Message] = []
    triggers: set[str] = set()
    fakes: dict[str, FakeTask] = {}
    for start in range(0, tasks, window):
        batch = []
        for index in range(start, min(start + window, tasks)):
            group = groups[index // labels_per_group]
            label = label_of(index % labels_per_group)
            requests.append(watched_request(f"lat-{seed}-{index:06d}", group, label, wanted=1))
            task = FakeTask(slug(50_000_000 + seed * 1_000_000 + index), group, label)
            fakes[task.task_id] = task
            batch.append(task)
        messages += [t.pending() for t in batch]
        messages += [t.running() for t in batch]
        for number, task in enumerate(batch, start=start):
            if number % trigger_every == trigger_every // 2:
                triggers.add(task.task_id)
                messages.append(task.resolve("exception", "internal-error"))
            else:
                messages.append(task.resolve("completed"))
    return Workload(requests, messages, groups, fakes), triggers


def _publish_steadily(
    url: str,
    messages: list[tuple[str, str, bytes, str]],
    rate: float,
    triggers: set[str],
    results: Any,
) -> None:
    """Child process: publish at `rate` msg/s; report publish times of trigger messages."""
    from bench.rabbit import connect

    sent: dict[str, float] = {}
    interval = 1.0 / rate
    behind = 0.0
    with connect(url) as connection:
        channel = connection.channel()
        start = time.monotonic()
        for index, (exchange, routing_key, body, task_id) in enumerate(messages):
            due = start + index * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                behind = max(behind, -delay)
            if task_id in triggers:
                sent[task_id] = time.monotonic()
            channel.basic_publish(
                channel.prepare_message(
                    body,
                    priority=0,
                    content_type="application/json",
                    content_encoding="utf-8",
                    properties={"delivery_mode": 2},
                ),
                exchange=exchange,
                routing_key=routing_key,
            )
        elapsed = time.monotonic() - start
        channel.close()
    results.put({"sent": sent, "elapsed": elapsed, "max_behind": behind})


@dataclass
class LatencyFigures:
    rate_target: float
    rate_achieved: float
    messages: int
    triggers: int
    seen: int
    latencies_ms: list[float]
    publisher_max_behind_ms: float
    ack_lag_s: float  # after the last publish, until the daemon had acked every message

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate_target": self.rate_target,
            "rate_achieved": round(self.rate_achieved),
            "messages": self.messages,
            "triggers": self.triggers,
            "reruns_seen": self.seen,
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "publisher_max_behind_ms": round(self.publisher_max_behind_ms, 2),
            "ack_lag_after_last_publish_s": round(self.ack_lag_s, 2),
        }


def latency(
    url: str, *, rate: float, seconds: float, trigger_every: int, seed: int
) -> LatencyFigures:
    return asyncio.run(_latency(url, rate, seconds, trigger_every, seed))


async def _latency(
    url: str, rate: float, seconds: float, trigger_every: int, seed: int
) -> LatencyFigures:
    from mozci_monitor.sim import SimConfig, Simulator
    from mozci_monitor.wiring import build_services

    tasks = max(3, int(rate * seconds) // 3)
    workload, triggers = trigger_workload(tasks, trigger_every=trigger_every, seed=seed)
    sim = Simulator(
        SimConfig(seed=seed, pushes=1, history_pushes=1, broker_url=None, auto_advance=False)
    )
    seen: dict[str, float] = {}
    _record_reruns(sim, workload, seen)
    await sim.start()
    queue = rabbit.queue_name("latency")
    with tempfile.TemporaryDirectory(prefix="mozci-bench-") as tmp:
        settings = bench_settings(
            url,
            queue,
            Path(tmp) / "latency.sqlite3",
            # A rate well above the rerun rate, so the figure is the daemon's, not the throttle's.
            sources=SourcesSettings(
                taskcluster_root_url=sim.root_url,
                treeherder_url=sim.treeherder_url,
                hg_url=sim.hg_url,
                taskcluster_rate=100,
            ),
            actions=ActionsSettings(max_per_repo_day=0),
        )
        services = build_services(settings)
        daemon, consumer, store = make_daemon(settings, len(workload.messages), services)
        register_all(store, workload.requests, AT)
        rabbit.declare_bound_queue(url, queue, bindings(workload.groups))
        runner = run_daemon(daemon)
        try:
            await wait_started(daemon, runner, 60)
            # The start-up REST catch-up lists every watched group; let it finish first.
            tc: Any = services.taskcluster  # the real TaskclusterClient: its gate has the meter
            await _wait_quiet(tc.gate.meter, len(workload.groups))
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            publisher = context.Process(
                target=_publish_steadily,
                args=(
                    url,
                    [(m.exchange, m.routing_key, m.body, m.task_id) for m in workload.messages],
                    rate,
                    triggers,
                    results,
                ),
                daemon=True,
            )
            publisher.start()
            report = await asyncio.to_thread(results.get, True, seconds * 3 + 60)
            await asyncio.to_thread(publisher.join, 10)
            # Behind a backlog the last reruns come long after the last publish: wait for
            # every message to be acked, then for the actions (bounded, never forever).
            published = time.monotonic()
            total = len(workload.messages)
            with contextlib.suppress(AssertionError):  # figures of what did arrive
                await until(lambda: consumer.health.acked >= total, "all acked", seconds * 10 + 60)
            lag = time.monotonic() - published
            with contextlib.suppress(AssertionError):
                await until(lambda: len(seen) >= len(triggers), "every rerun seen", 30)
        finally:
            daemon.request_stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, 30)
            store.close()
            await sim.stop()
            rabbit.delete_queues(url, [queue])
    sent: dict[str, float] = report["sent"]
    latencies = [(seen[t] - sent[t]) * 1000 for t in sent if t in seen]
    return LatencyFigures(
        rate_target=rate,
        rate_achieved=len(workload.messages) / report["elapsed"],
        messages=len(workload.messages),
        triggers=len(triggers),
        seen=len(seen),
        latencies_ms=latencies,
        publisher_max_behind_ms=report["max_behind"] * 1000,
        ack_lag_s=lag,
    )


def _record_reruns(sim: Any, workload: Workload, seen: dict[str, float]) -> None:
    """Wrap the simulator's queue.rerunTask: note when its handler saw each task.

    The bench's tasks are not in the simulated world, so the wrapper answers with the
    task's status plus the new run, as the queue would.
    """

    class _Rerun:
        def __init__(self, task: FakeTask) -> None:
            self._task = task

        def status(self) -> dict[str, Any]:
            status = self._task.status()
            status["runs"].append(
                {"runId": len(status["runs"]), "state": "pending", "reasonCreated": "rerun"}
            )
            status["state"] = "pending"
            return status

    original = sim.world.rerun

    def rerun(task_id: str) -> Any:
        seen.setdefault(task_id, time.monotonic())
        task = workload.tasks.get(task_id)
        return _Rerun(task) if task is not None else original(task_id)

    sim.world.rerun = rerun


async def _wait_quiet(meter: Any, at_least: int, *, quiet: float = 0.5) -> None:
    deadline = time.monotonic() + 60
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if meter.total != last:
            last, since = meter.total, time.monotonic()
        elif meter.total >= at_least and time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.05)
