"""`mozci-monitor sim` / `python -m mozci_monitor.sim`: serve the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.simulator import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mozci-monitor sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="same seed, same world")
    parser.add_argument("--repo", default="autoland", help="repository name (project)")
    parser.add_argument("--pushes", type=int, default=30, help="pushes in the pushlog")
    parser.add_argument(
        "--history-pushes",
        type=int,
        default=None,
        help="pushes already done at start (default: all but the last 5)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--broker-url",
        default="memory://",
        help="kombu URL to publish Pulse messages to; 'none' disables publishing",
    )
    parser.add_argument(
        "--time-scale", type=float, default=3.0, help="wall seconds per simulated CI hour"
    )
    return parser


def config_from_args(args: Sequence[str] | None) -> SimConfig:
    ns = _parser().parse_args(args)
    return SimConfig(
        seed=ns.seed,
        repo=ns.repo,
        pushes=ns.pushes,
        history_pushes=ns.history_pushes,
        host=ns.host,
        port=ns.port,
        broker_url=None if ns.broker_url.lower() == "none" else ns.broker_url,
        time_scale=ns.time_scale,
    )


async def _serve(config: SimConfig) -> None:
    async with Simulator(config) as sim:
        print(f"Taskcluster root URL: {sim.root_url}", flush=True)
        print(f"hg pushlog:           {sim.hg_url}/{config.repo}/json-pushes?version=2", flush=True)
        print(f"Treeherder:           {sim.treeherder_url}/api/", flush=True)
        print(f"Pulse broker:         {config.broker_url or 'disabled'}", flush=True)
        await asyncio.Event().wait()


def run_sim(args: Sequence[str] | None = None) -> int:
    """Entry point: parse `args`, serve until interrupted, return the exit status."""
    config = config_from_args(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))
    return 0
