"""Figure 3: backfill-style analysis of many revisions, concurrent vs one request at a time.

The simulator serves the hg pushlog, Treeherder and Taskcluster on loopback, behind a
middleware that sleeps `latency` seconds before every answer (injected source latency).
Analysing one push = Treeherder push + its jobs, Taskcluster index (decision task) + the
task group listing: 4 requests, after one pushlog request for the whole range.

`analyse_revisions` runs every push at once behind each source's `PoliteSource` (rate
limit, concurrency bound, meter); the baseline makes exactly the same requests one at a
time. Each source's meter gives the most requests seen within any window of its period,
which must not exceed its configured rate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from mozci_monitor.sim import SimConfig, Simulator
from mozci_monitor.sim.faults import FaultInjector, Handler
from mozci_monitor.sources import (
    DEFAULT_POLICIES,
    Outcome,
    Policy,
    SourceClients,
    SourceSettings,
    analyse_revisions,
    create_clients,
    create_session,
)
from mozci_monitor.sources.models import Push

REPO = "autoland"
ROOT = Path(__file__).resolve().parent.parent


class SlowSources(FaultInjector):
    """Every answer is held back `latency` seconds (no faults)."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency
        self.requests = 0

    def middleware(self) -> Any:
        @web.middleware
        async def slow(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.requests += 1
            await asyncio.sleep(self.latency)
            return await handler(request)

        return slow


@dataclass
class Summary:
    jobs: int
    tasks: int


@dataclass
class ParallelFigures:
    revisions: int
    requests: int
    latency_ms: float
    sequential_s: float
    parallel_s: float
    policies: Mapping[str, Policy]
    max_observed: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.parallel_s

    @property
    def rates_respected(self) -> bool:
        return all(self.max_observed[n] <= self.policies[n].rate_limit for n in self.max_observed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "revisions": self.revisions,
            "requests": self.requests,
            "latency_ms": self.latency_ms,
            "sequential_s": round(self.sequential_s, 3),
            "parallel_s": round(self.parallel_s, 3),
            "speedup": round(self.speedup, 2),
            "policies": {
                name: {
                    "rate_limit": p.rate_limit,
                    "period": p.period,
                    "concurrency": p.max_concurrency,
                }
                for name, p in self.policies.items()
            },
            "max_observed_per_period": self.max_observed,
            "rates_respected": self.rates_respected,
            "errors": self.errors,
        }


def bench_policies(rate: int, concurrency: int) -> dict[str, Policy]:
    return {
        name: Policy(rate_limit=rate, period=1.0, max_concurrency=concurrency)
        for name in ("taskcluster", "treeherder", "hgmo")
    }


def parallel(
    revisions: int,
    *,
    latency: float = 0.1,
    policies: Mapping[str, Policy] | None = None,
    sequential: bool = True,
) -> ParallelFigures:
    return asyncio.run(
        _parallel(revisions, latency, policies or bench_policies(200, 32), sequential)
    )


async def _analyse(clients: SourceClients, push: Push) -> Summary:
    async def jobs() -> int:
        return len(await clients.treeherder.jobs_for_revision(REPO, push.revision))

    async def tasks() -> int:
        decision = await clients.taskcluster.find_decision_task(REPO, push.revision)
        return len(await clients.taskcluster.list_task_group(decision))

    found_jobs, found_tasks = await asyncio.gather(jobs(), tasks())
    return Summary(found_jobs, found_tasks)


async def _analyse_sequentially(clients: SourceClients, push: Push) -> Summary:
    found_jobs = len(await clients.treeherder.jobs_for_revision(REPO, push.revision))
    decision = await clients.taskcluster.find_decision_task(REPO, push.revision)
    return Summary(found_jobs, len(await clients.taskcluster.list_task_group(decision)))


async def _parallel(
    revisions: int, latency: float, policies: Mapping[str, Policy], sequential: bool
) -> ParallelFigures:
    # The sources live in another process, as they do in reality: serving them from this
    # event loop would charge the server's CPU to the analysis.
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.parallel",
        str(revisions),
        str(latency),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    line = await asyncio.wait_for(server.stdout.readline(), 120)
    if not line:
        raise RuntimeError("the simulated sources did not start")
    info = json.loads(line)
    session = create_session()
    try:
        settings = SourceSettings(
            taskcluster_root_url=info["root_url"],
            treeherder_url=info["treeherder_url"],
            hg_url=info["hg_url"],
            policies=dict(policies),
        )
        first, last = info["first"], info["last"]

        sequential_s = float("nan")
        if sequential:
            clients = create_clients(session, settings, clock=time.monotonic)
            start = time.perf_counter()
            pushes = await clients.hgmo.pushes(REPO, first, last)
            for push in sorted(pushes, key=lambda p: p.id, reverse=True):
                await _analyse_sequentially(clients, push)
            sequential_s = time.perf_counter() - start

        clients = create_clients(session, settings, clock=time.monotonic)
        start = time.perf_counter()
        pushes = await clients.hgmo.pushes(REPO, first, last)
        outcomes: list[Outcome[Push, Summary]] = await analyse_revisions(
            pushes, lambda push: _analyse(clients, push), log=lambda outcome: None
        )
        parallel_s = time.perf_counter() - start
    finally:
        await session.close()
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
    return ParallelFigures(
        revisions=len(pushes),
        requests=sum(gate.meter.total for gate in clients.gates.values()),
        latency_ms=latency * 1000,
        sequential_s=sequential_s,
        parallel_s=parallel_s,
        policies=policies,
        max_observed={name: gate.max_observed_rate() for name, gate in clients.gates.items()},
        errors=sum(1 for o in outcomes if not o.ok),
    )


async def _serve(revisions: int, latency: float) -> None:
    """Child process: the simulator's sources, slowed; runs until stdin closes."""
    from mozci_monitor.logs import configure_logging

    configure_logging(format="json", level="warning")
    sim = Simulator(
        SimConfig(
            seed=11,
            pushes=revisions,
            history_pushes=revisions,
            broker_url=None,
            auto_advance=False,
        )
    )
    sim.faults = SlowSources(latency)
    await sim.start()
    info = {
        "root_url": sim.root_url,
        "treeherder_url": sim.treeherder_url,
        "hg_url": sim.hg_url,
        "first": sim.pushes[0].push_id,
        "last": sim.pushes[-1].push_id,
    }
    print(json.dumps(info), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await sim.stop()


def default_policy_bound(revisions: int) -> dict[str, Any]:
    """What the production default policies allow for the same analysis, by arithmetic."""
    per_source = {"treeherder": 2 * revisions, "taskcluster": 2 * revisions, "hgmo": 1}
    floor = max(n / DEFAULT_POLICIES[name].rate_limit for name, n in per_source.items())
    sequential = (sum(per_source.values())) * 0.1
    return {
        "requests_per_source": per_source,
        "parallel_floor_s": floor,
        "sequential_at_100ms_s": sequential,
        "max_speedup": round(sequential / floor, 2),
    }


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2])))
