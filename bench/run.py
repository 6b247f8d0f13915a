"""Run every mozci-monitor benchmark on a local RabbitMQ; print figures, then JSON.

    python bench/run.py --json            # full sizes (several minutes)
    python bench/run.py --quick --json    # tiny sizes, seconds: keeps the scripts working
    python bench/run.py --only throughput,backlog --profile bench/results/profiles

The last line of output is always the JSON summary:
{"throughput_ratio", "cpu_per_msg_ratio", "latency_p50_ms", "latency_p99_ms",
 "latency_busy_p99_ms", "parallel_speedup", "rss_mb_100k", "backlog_drain_s",
 "scaleout_msg_per_s", "scaleout_cpu_us_per_msg", "loadavg"}; the full details go to
--details (JSON file). `cpu_per_msg_ratio` is the daemon's CPU per message over the raw
consumer's (goal <= 2); `latency_busy_p99_ms` is the latency run again while a second
process keeps one core busy; the scale-out figures are lists for 1, 2 and 3 daemons on
PostgreSQL; `loadavg` is the machine's load average at the start and the end.
Every benchmark has a timeout and stops by itself. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, sys.path[0] is bench/ itself: put the project root there instead, so
# bench modules are imported as the `bench` package and never shadow a library.
sys.path[0] = str(ROOT)
if "--package" in sys.argv:
    # Experiment: measure a patched copy of mozci_monitor (e.g. a bench/proposed-*.patch
    # applied in a scratch tree) with the same benchmark code.
    sys.path.insert(0, sys.argv[sys.argv.index("--package") + 1])

import mozci_monitor  # noqa: E402
from bench import rabbit  # noqa: E402
from bench.harness import log_to_file  # noqa: E402
from bench.profiling import format_report, summarize  # noqa: E402

ALL = ("throughput", "latency", "parallel", "memory", "backlog", "scaleout")


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "requests": 50,  # 500 messages
            "latency_rate": 200.0,
            "latency_seconds": 1.5,
            "latency_low_rate": 0.0,
            "trigger_every": 10,
            "scaleout_requests": 50,
            "revisions": 5,
            "memory_tasks": 2_000,
            "backlog": 500,
        }
    return {
        "requests": 2_000,  # 20,000 messages
        "latency_rate": 1_000.0,
        "latency_seconds": 20.0,
        "latency_low_rate": 300.0,  # also below the daemon's capacity: latency without backlog
        "trigger_every": 25,
        "scaleout_requests": 2_000,  # 20,000 messages, as the throughput run
        "revisions": 100,
        "memory_tasks": 100_000,
        "backlog": 8_000,
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="end with the JSON summary line")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated subset")
    parser.add_argument("--broker", help="AMQP URL (default: a private RabbitMQ node)")
    parser.add_argument(
        "--shared-broker",
        action="store_true",
        help="use the shared node on 5672 (tests/broker.py) instead of a private one",
    )
    parser.add_argument("--profile", type=Path, help="py-spy profiles of throughput/backlog here")
    parser.add_argument("--details", type=Path, help="write every figure here (JSON)")
    parser.add_argument(
        "--package", type=Path, help="experiment: import mozci_monitor from DIR (a patched copy)"
    )
    parser.add_argument(
        "--pulse",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="experiment: override a [pulse] setting for throughput/backlog (e.g. prefetch=1000)",
    )
    parser.add_argument(
        "--daemon",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="experiment: override a [daemon] setting for throughput/backlog (batch_max=1000)",
    )
    parser.add_argument("--log", type=Path, default=Path("/tmp/mozci-bench-daemon.log"))
    parser.add_argument(
        "--log-level", default="info", help="experiment: the daemon's log level (production: info)"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    size = sizes(args.quick)
    log_to_file(args.log, args.log_level)
    seed = int(time.time()) % 100_000  # fresh ids per run: queues and stores never collide
    details: dict[str, Any] = {
        "machine": machine(),
        "sizes": size,
        "quick": args.quick,
        "command": " ".join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
        "package": _package_path(),
        "overrides": {
            "pulse": _overrides(args.pulse),
            "daemon": _overrides(args.daemon),
            "log_level": args.log_level,
        },
    }
    summary: dict[str, Any] = dict.fromkeys(
        (
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
        )
    )
    started = time.monotonic()
    with rabbit.local_broker(args.broker, private=not args.shared_broker) as url:
        details["broker"] = rabbit.redact(url)
        if "throughput" in chosen:
            ratio, cpu_ratio = _throughput(url, size, seed, args, details)
            summary["throughput_ratio"], summary["cpu_per_msg_ratio"] = ratio, cpu_ratio
        if "backlog" in chosen:
            summary["backlog_drain_s"] = _backlog(url, size, seed + 1, args, details)
        if "latency" in chosen:
            p50, p99, busy_p99 = _latency(url, size, seed + 2, details)
            summary["latency_p50_ms"], summary["latency_p99_ms"] = p50, p99
            summary["latency_busy_p99_ms"] = busy_p99
        if "parallel" in chosen:
            summary["parallel_speedup"] = _parallel(size, details)
        if "memory" in chosen:
            summary["rss_mb_100k"] = _memory(url, size, details)
        if "scaleout" in chosen:
            rates, cpu = _scaleout(url, size, seed + 3, details)
            summary["scaleout_msg_per_s"], summary["scaleout_cpu_us_per_msg"] = rates, cpu
    details["machine"]["loadavg_at_end"] = os.getloadavg()
    summary["loadavg"] = [
        [round(x, 2) for x in details["machine"]["loadavg_at_start"]],
        [round(x, 2) for x in details["machine"]["loadavg_at_end"]],
    ]
    details["elapsed_s"] = round(time.monotonic() - started, 1)
    details["summary"] = summary
    if args.details:
        args.details.parent.mkdir(parents=True, exist_ok=True)
        args.details.write_text(json.dumps(details, indent=2, default=str) + "\n")
    _say(f"done in {details['elapsed_s']} s (load average now {os.getloadavg()})")
    if args.json:
        print(json.dumps(summary), flush=True)
    return 0


def _package_path() -> str:
    """Where mozci_monitor was imported from, relative to the clone when inside it (the
    details are committed as results: no path of the machine that ran them)."""
    package = Path(mozci_monitor.__file__).resolve().parent
    return str(package.relative_to(ROOT)) if package.is_relative_to(ROOT) else package.name


def _overrides(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        values[key.strip()] = json.loads(raw) if raw.strip()[:1].isdigit() else raw
    return values


def _say(text: str) -> None:
    print(text, flush=True)


def _profile_path(args: argparse.Namespace, name: str) -> Path | None:
    return args.profile / f"{name}.pyspy.txt" if args.profile else None


def _report_profile(args: argparse.Namespace, name: str, seconds: float) -> dict[str, Any] | None:
    path = _profile_path(args, name)
    if path is None or not path.exists():
        return None
    report = summarize(path, seconds=seconds)
    text = format_report(report)
    (args.profile / f"{name}.summary.txt").write_text(text + "\n")
    _say(text)
    return report


def _throughput(
    url: str, size: dict[str, Any], seed: int, args: argparse.Namespace, details: dict[str, Any]
) -> tuple[float, float]:
    from bench.consume import throughput

    _say(f"[1] throughput: {size['requests']} requests, {size['requests'] * 10} messages")
    figures = throughput(
        url,
        size["requests"],
        seed=seed,
        profile=_profile_path(args, "throughput"),
        pulse=_overrides(args.pulse),
        daemon=_overrides(args.daemon),
    )
    details["throughput"] = figures.as_dict()
    _report_profile(args, "throughput", figures.daemon.started_to_acked_s)
    _say(
        f"    raw kombu consumer: {figures.raw_rate:,.0f} msg/s ({figures.raw_s:.2f} s);"
        f" daemon: {figures.daemon_rate:,.0f} msg/s"
        f" ({figures.daemon.first_delivery_to_acked_s:.2f} s, engine"
        f" {figures.daemon.engine_s:.2f} s of which commit {figures.daemon.commit_s:.2f} s)"
    )
    raw_us = figures.raw_cpu_s / figures.messages * 1e6
    daemon_us = figures.daemon.cpu_s / figures.messages * 1e6
    _say(
        f"    CPU per message (all threads): raw {raw_us:.0f} us, daemon {daemon_us:.0f} us"
        f" (by thread: {figures.cpu_us_by_thread()})"
    )
    _say(
        f"    throughput ratio daemon/raw = {figures.ratio:.3f} (goal >= 0.6);"
        f" CPU per message daemon/raw = {daemon_us / raw_us:.2f} (goal <= 2)"
    )
    return round(figures.ratio, 3), round(daemon_us / raw_us, 2)


def _backlog(
    url: str, size: dict[str, Any], seed: int, args: argparse.Namespace, details: dict[str, Any]
) -> float:
    from bench.consume import backlog

    _say(f"[5] backlog: {size['backlog']} messages queued before the daemon starts")
    figures = backlog(
        url,
        size["backlog"],
        seed=seed,
        profile=_profile_path(args, "backlog"),
        pulse=_overrides(args.pulse),
        daemon=_overrides(args.daemon),
    )
    details["backlog"] = figures.as_dict()
    _report_profile(args, "backlog", figures.daemon.started_to_acked_s)
    drain_s = figures.daemon.started_to_acked_s
    _say(
        f"    drained in {drain_s:.2f} s from daemon start"
        f" ({figures.daemon.first_delivery_to_acked_s:.2f} s from first delivery);"
        f" the raw consumer drains the same queue in {figures.raw_s:.2f} s (goal < 2 s)"
    )
    return round(drain_s, 3)


def _latency(
    url: str, size: dict[str, Any], seed: int, details: dict[str, Any]
) -> tuple[float, float, float]:
    from bench.busy import one_core_busy
    from bench.latency import latency

    rate, seconds = size["latency_rate"], size["latency_seconds"]
    _say(f"[2] latency: {rate:.0f} msg/s for {seconds:.0f} s, 1 task in {size['trigger_every']}")
    figures = latency(
        url, rate=rate, seconds=seconds, trigger_every=size["trigger_every"], seed=seed
    )
    details["latency"] = figures.as_dict()
    _say(
        f"    publish → rerun at the simulator: p50 {figures.percentile(50):.1f} ms,"
        f" p99 {figures.percentile(99):.1f} ms over {len(figures.latencies_ms)} actions"
        f" (achieved {figures.rate_achieved:.0f} msg/s; goal p99 < 50 ms);"
        f" the daemon acked the last message {figures.ack_lag_s:.1f} s after it was published"
    )
    if size["latency_low_rate"]:
        low = latency(
            url,
            rate=size["latency_low_rate"],
            seconds=seconds,
            trigger_every=max(1, size["trigger_every"] * 3 // 10),
            seed=seed + 50,
        )
        details["latency_below_capacity"] = low.as_dict()
        _say(
            f"    at {low.rate_target:.0f} msg/s: p50 {low.percentile(50):.1f} ms,"
            f" p99 {low.percentile(99):.1f} ms over {len(low.latencies_ms)} actions;"
            f" last ack {low.ack_lag_s:.1f} s after the last publish"
        )
    with one_core_busy():
        busy = latency(
            url, rate=rate, seconds=seconds, trigger_every=size["trigger_every"], seed=seed + 70
        )
    details["latency_one_core_busy"] = busy.as_dict()
    _say(
        f"    with a second process keeping one core busy: p50 {busy.percentile(50):.1f} ms,"
        f" p99 {busy.percentile(99):.1f} ms over {len(busy.latencies_ms)} actions"
        f" (goal p99 < 200 ms); last ack {busy.ack_lag_s:.1f} s after the last publish"
    )
    return (
        round(figures.percentile(50), 2),
        round(figures.percentile(99), 2),
        round(busy.percentile(99), 2),
    )


def _parallel(size: dict[str, Any], details: dict[str, Any]) -> float:
    from bench.parallel import default_policy_bound, parallel

    _say(f"[3] parallel analysis: {size['revisions']} revisions, 100 ms per request")
    figures = parallel(size["revisions"])
    details["parallel"] = figures.as_dict()
    details["parallel_default_policies_bound"] = default_policy_bound(size["revisions"])
    _say(
        f"    sequential {figures.sequential_s:.2f} s,"
        f" analyse_revisions {figures.parallel_s:.2f} s: {figures.speedup:.1f}x (goal >= 20x);"
        f" most requests in any 1 s window:"
        f" {figures.max_observed} vs limits"
        f" { {n: p.rate_limit for n, p in figures.policies.items()} }"
        f" -> {'respected' if figures.rates_respected else 'EXCEEDED'}"
    )
    return round(figures.speedup, 2)


def _memory(url: str, size: dict[str, Any], details: dict[str, Any]) -> float:
    from bench.memory import measure

    _say(f"[4] memory: daemon process with {size['memory_tasks']:,} watched tasks")
    report = measure(url, size["memory_tasks"])
    details["memory"] = report
    _say(
        f"    VmRSS {report['rss_mb']} MB (peak {report['hwm_mb']} MB) after reading"
        f" {report['tasks_loaded']:,} tasks from a {report['store_mb']} MB store (goal < 300 MB)"
    )
    return float(report["rss_mb"])


def _scaleout(
    url: str, size: dict[str, Any], seed: int, details: dict[str, Any]
) -> tuple[list[int], list[int]]:
    from bench.scaleout import scaleout

    requests = size["scaleout_requests"]
    _say(f"[6] scale-out on PostgreSQL: {requests * 10} messages, 1, 2 and 3 daemons")
    runs = [run.as_dict() for run in scaleout(url, requests, seed=seed)]
    details["scaleout"] = runs
    for run in runs:
        _say(
            f"    {run['daemons']} daemon(s): {run['msg_per_s']:,} msg/s"
            f" ({run['seconds']:.2f} s), {run['cpu_us_per_msg']} us CPU per message"
        )
    return [run["msg_per_s"] for run in runs], [run["cpu_us_per_msg"] for run in runs]


if __name__ == "__main__":
    sys.exit(main())
