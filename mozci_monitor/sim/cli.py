"""`mozci-monitor sim` / `python -m mozci_monitor.sim`: serve the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path

from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.simulator import Simulator

# The daemon's default [pulse] url: a simulator and a daemon started with their defaults on
# one machine meet on the local RabbitMQ (memory:// only reaches this process).
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="same seed, same world")
    parser.add_argument("--repo", default="autoland", help="repository name (project)")
    parser.add_argument("--pushes", type=_positive, default=30, help="pushes in the pushlog")
    parser.add_argument(
        "--history-pushes",
        type=int,
        default=None,
        help="pushes already done at start (default: all but the last 5)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (0 picks a free one)")
    parser.add_argument(
        "--broker-url",
        default=DEFAULT_BROKER_URL,
        help=(
            "kombu URL to publish Pulse messages to (default: the local RabbitMQ a daemon"
            " with default settings consumes from); memory:// stays in this process;"
            " 'none' disables publishing"
        ),
    )
    parser.add_argument(
        "--time-scale", type=float, default=3.0, help="wall seconds per simulated CI hour"
    )
    parser.add_argument(
        "--write-config",
        metavar="FILE",
        help="write daemon settings pointing at this simulator to FILE (TOML)",
    )
    parser.add_argument(
        "--daemon-api-port",
        type=int,
        default=8787,
        help="[api] port in the settings --write-config writes (default 8787)",
    )
    parser.add_argument(
        "--daemon-queue",
        default="queue/mozci-monitor/requests",
        help="[pulse] queue in the settings --write-config writes (the daemon's default)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the URLs, the settings file and the suggested watch as one JSON line",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mozci-monitor sim", description=__doc__)
    add_arguments(parser)
    return parser


def config_from_namespace(ns: argparse.Namespace) -> SimConfig:
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


def config_from_args(args: Sequence[str] | None) -> SimConfig:
    return config_from_namespace(_parser().parse_args(args))


def daemon_settings(
    sim: Simulator, *, store_path: Path, api_port: int, queue: str, token_file: Path | None = None
) -> str:
    """TOML settings for a daemon working against `sim` (sources, Pulse, a store)."""
    broker = sim.config.broker_url
    lines = [
        "# Written by `mozci-monitor sim --write-config`: a daemon against this simulator.",
        "[sources]",
        f"taskcluster_root_url = {json.dumps(sim.root_url)}",
        f"hg_url = {json.dumps(sim.hg_url)}",
        f"treeherder_url = {json.dumps(sim.treeherder_url)}",
        "",
        "[pulse]",
        f"queue = {json.dumps(queue)}",
        *([f"url = {json.dumps(broker)}"] if broker and broker != "memory://" else []),
        "",
        "[store]",
        f"path = {json.dumps(str(store_path))}",
        "",
        "[api]",
        f"port = {api_port}",
        # The daemon's API takes submissions with this token; the CLI reads it from here too.
        *([f"token_file = {json.dumps(str(token_file))}"] if token_file else []),
        "",
    ]
    return "\n".join(lines)


_DECISION_POLLS = 600  # 30 s of wall time: far more than a decision task takes here


def _decision_done(sim: Simulator) -> bool:
    if not sim.pushes:
        return True
    runs = sim.task(sim.pushes[-1].decision_task_id).runs
    return bool(runs) and runs[-1].get("state") == "completed"


def _example_watch(sim: Simulator) -> str | None:
    """A watch command on the newest push: its tasks are still to run, their news on Pulse."""
    if not sim.pushes:
        return None
    push = sim.pushes[-1]
    tests = [label for label in push.scheduled_labels if label.startswith("test-")]
    labels = tests or push.scheduled_labels
    if not labels:
        return None
    return (
        f"mozci-monitor watch --repo {sim.config.repo} --revision {push.revision}"
        f" --task-group {push.task_group_id} --label {labels[0]} --times 2"
    )


async def _serve(config: SimConfig, ns: argparse.Namespace | None, target: Path | None) -> None:
    as_json = bool(getattr(ns, "json", False))
    async with Simulator(config) as sim:
        facts: dict[str, str | None] = {
            "taskcluster_root_url": sim.root_url,
            "hg_pushlog": f"{sim.hg_url}/{config.repo}/json-pushes?version=2",
            "treeherder": f"{sim.treeherder_url}/api/",
            "pulse_broker": config.broker_url,
        }
        if not as_json:
            print(f"Taskcluster root URL: {facts['taskcluster_root_url']}", flush=True)
            print(f"hg pushlog:           {facts['hg_pushlog']}", flush=True)
            print(f"Treeherder:           {facts['treeherder']}", flush=True)
            print(f"Pulse broker:         {config.broker_url or 'disabled'}", flush=True)
        if ns is not None and target is not None:
            token_file = target.with_suffix(".token")
            text = daemon_settings(
                sim,
                store_path=target.with_suffix(".sqlite3"),
                api_port=ns.daemon_api_port,
                queue=ns.daemon_queue,
                token_file=token_file,
            )
            await asyncio.to_thread(_write_private, token_file, secrets.token_urlsafe(32))
            await asyncio.to_thread(target.write_text, text)
            facts["daemon_settings"] = str(target)
            if not as_json:
                print(f"Daemon settings:      {target}", flush=True)
        # A submission is checked against its push's full task graph, which the decision
        # task publishes when it ends: suggest the push once that is so.
        for _ in range(_DECISION_POLLS):
            if _decision_done(sim):
                break
            await asyncio.sleep(0.05)
        example = _example_watch(sim)
        if as_json:
            # One line, once the simulator is ready: a script reads it and goes on.
            print(json.dumps({**facts, "try": example}), flush=True)
        elif example is not None:
            print(f"Try:                  {example}", flush=True)
        await _until_stopped()


async def _until_stopped() -> None:
    """Serve until SIGINT or SIGTERM. Handlers of our own, not Python's KeyboardInterrupt:
    a process started with SIGINT ignored (a parent's disposition survives exec) would
    otherwise never stop on Ctrl-C, and SIGTERM (systemd, a container) ends it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _write_private(path: Path, text: str) -> None:
    """A secret only its owner reads (the settings refuse a token file others can read)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    os.chmod(path, 0o600)


def serve(ns: argparse.Namespace) -> int:
    """Serve with options parsed by `add_arguments`, until interrupted."""
    target = Path(ns.write_config).resolve() if ns.write_config else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config_from_namespace(ns), ns, target))
    return 0


def run_sim(args: Sequence[str] | None = None) -> int:
    """Entry point: parse `args`, serve until interrupted, return the exit status."""
    return serve(_parser().parse_args(args))
