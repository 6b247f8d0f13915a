"""The `mozci-monitor` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from mozci_monitor.clock import utc_now
from mozci_monitor.config import ConfigError, Settings, load_settings, secrets_of
from mozci_monitor.core.messages import MalformedMessage, Rejection, is_slug_id, parse_message
from mozci_monitor.core.model import Push, Request, TaskEvent
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.logs import configure_logging
from mozci_monitor.store.sqlite import SqliteStore, StoreError

CONFIG_ENV = "MOZCI_MONITOR_CONFIG"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config or os.environ.get(CONFIG_ENV))
    except ConfigError as error:
        print(f"mozci-monitor: config error: {error}", file=sys.stderr)
        return 2
    configure_logging(
        format=settings.log.format, level=settings.log.level, secrets=secrets_of(settings)
    )
    try:
        result: int = args.handler(args, settings)
    except (ConfigError, StoreError) as error:
        print(f"mozci-monitor: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"mozci-monitor: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mozci-monitor",
        description="Watch the Firefox CI jobs you trigger and act when they do not run.",
    )
    parser.add_argument("--config", help=f"TOML settings file (default: ${CONFIG_ENV})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (consume Pulse, track requests)")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate the settings and exit")
    check.set_defaults(handler=_check_config)

    watch = commands.add_parser("watch", help="register a request for the daemon to watch")
    watch.add_argument("--repo", required=True, help="e.g. autoland, mozilla-central")
    watch.add_argument("--revision", required=True)
    watch.add_argument("--task-group", required=True, help="the push's decision task group")
    watch.add_argument("--label", required=True, help="task label, e.g. test-linux1804-64/opt-…")
    watch.add_argument("--times", type=_positive_int, default=1, help="runs wanted (default 1)")
    watch.add_argument("--task-id", action="append", default=[], help="a task known to serve it")
    _store_option(watch)
    watch.set_defaults(handler=_watch)

    listing = commands.add_parser("list", help="list requests")
    listing.add_argument("--open", action="store_true", help="only requests not yet final")
    listing.add_argument("--json", action="store_true")
    _store_option(listing)
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="a request's state, tasks and timeline")
    show.add_argument("request_id", help="the id, or a unique prefix of it")
    show.add_argument("--json", action="store_true")
    _store_option(show)
    show.set_defaults(handler=_show)

    demo = commands.add_parser(
        "demo", help="run the simulator and the daemon together, one campaign of each kind"
    )
    from mozci_monitor.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    demo.set_defaults(handler=_demo)

    sim = commands.add_parser("sim", help="serve the Firefox CI simulator alone", add_help=False)
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(handler=_sim)

    replay = commands.add_parser("replay", help="feed recorded messages through the machine")
    replay.add_argument("file", help='JSON lines: {"exchange", "routing_key", "payload"}')
    replay.add_argument("--dry-run", action="store_true", help="apply, report, then roll back")
    _store_option(replay)
    replay.set_defaults(handler=_replay)
    return parser


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="SQLite store path (default: store.path in settings)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _open_store(args: argparse.Namespace, settings: Settings) -> SqliteStore:
    return SqliteStore(Path(args.store or settings.store.path))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.daemon import build_daemon

    daemon = build_daemon(settings)
    return asyncio.run(daemon.run())


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.demo import run_demo

    return asyncio.run(run_demo(args))


def _sim(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.sim import run_sim

    return int(run_sim(args.sim_args) or 0)


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.config import pulse_url
    from mozci_monitor.logs import redact_text

    url = pulse_url(settings.pulse)
    print(f"config ok: pulse {redact_text(url)} queue {settings.pulse.queue}")
    print(f"store: {settings.store.path}")
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    for what, value in [("--task-group", args.task_group)] + [
        ("--task-id", task_id) for task_id in args.task_id
    ]:
        if not is_slug_id(value):
            print(f"mozci-monitor: {what} {value!r} is not a Taskcluster task id", file=sys.stderr)
            return 2
    store = _open_store(args, settings)
    request = Request(
        request_id=secrets.token_hex(6),
        push=Push(args.repo, args.revision, args.task_group),
        label=args.label,
        wanted=args.times,
        task_ids=tuple(dict.fromkeys(args.task_id)),
    )
    request = Engine(store).register(request, _now())
    print(request.request_id)
    print(
        f"watching {request.label} x{request.wanted} on {request.push.repo}"
        f"@{request.push.revision[:12]} (state: {request.state.value})",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(args, settings)
    requests = store.list_requests(open_only=args.open)
    if args.json:
        print(json.dumps([request_json(r) for r in requests], indent=2))
        return 0
    if not requests:
        print("no requests")
        return 0
    print(f"{'ID':<12}  {'STATE':<16}  {'RUNS':>4}  {'PUSH':<24}  LABEL")
    for request in requests:
        state = request.state.value + (f"/{request.failure.value}" if request.failure else "")
        push = f"{request.push.repo}@{request.push.revision[:12]}"
        print(
            f"{request.request_id:<12}  {state:<16}  {request.wanted:>4}  {push:<24}"
            f"  {request.label}"
        )
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(args, settings)
    matches = store.find_requests(args.request_id)
    if len(matches) != 1:
        what = "no request" if not matches else f"{len(matches)} requests"
        print(f"mozci-monitor: {what} match {args.request_id!r}", file=sys.stderr)
        return 1
    request = matches[0]
    tasks = store.get_tasks(request.task_ids)
    timeline = store.timeline(request.request_id)
    if args.json:
        document = request_json(request)
        document["tasks"] = [
            {
                "task_id": t.task_id,
                "phase": tasks[t.task_id].phase.value,
                "reason": tasks[t.task_id].reason,
                "runs": len(tasks[t.task_id].status.runs),
            }
            for t in (tasks[i] for i in request.task_ids if i in tasks)
        ]
        document["timeline"] = [
            {"seq": e.seq, "at": e.at, "kind": e.kind, "task_id": e.task_id, "detail": e.detail}
            for e in timeline
        ]
        print(json.dumps(document, indent=2))
        return 0
    _print_request(request, sys.stdout)
    print("tasks:")
    if not request.task_ids:
        print("  (none seen yet)")
    for task_id in request.task_ids:
        record = tasks.get(task_id)
        if record is not None:
            reason = f" ({record.reason})" if record.reason else ""
            print(f"  {task_id}  {record.phase.value}{reason}  runs={len(record.status.runs)}")
    print("timeline:")
    for entry in timeline:
        detail = " ".join(f"{k}={v}" for k, v in entry.detail.items())
        task = f" {entry.task_id}" if entry.task_id else ""
        print(f"  {entry.at}  {entry.kind:<10}{task}  {detail}")
    return 0


def _print_request(request: Request, out: TextIO) -> None:
    state = request.state.value + (f" ({request.failure.value})" if request.failure else "")
    print(f"request {request.request_id}: {state}", file=out)
    if request.reason:
        print(f"  reason:  {request.reason}", file=out)
    print(f"  label:   {request.label} x{request.wanted}", file=out)
    print(
        f"  push:    {request.push.repo}@{request.push.revision} group"
        f" {request.push.task_group_id}",
        file=out,
    )


def request_json(request: Request) -> dict[str, Any]:
    return {
        "id": request.request_id,
        "state": request.state.value,
        "failure": request.failure.value if request.failure else None,
        "reason": request.reason,
        "label": request.label,
        "wanted": request.wanted,
        "repo": request.push.repo,
        "revision": request.push.revision,
        "task_group_id": request.push.task_group_id,
        "campaign_id": request.campaign_id,
        "task_ids": list(request.task_ids),
    }


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(args, settings)
    engine = Engine(store)
    total = BatchOutcome()
    reasons: list[str] = []
    with open(args.file, "rb") as handle:
        # A dry run must see its own earlier effects, so it is one transaction, rolled back.
        size = sys.maxsize if args.dry_run else 500
        for chunk in _chunks(_replay_items(handle, reasons), size):
            total.add(engine.apply(chunk, _now(), dry_run=args.dry_run))
    verb = "would apply" if args.dry_run else "applied"
    print(
        f"parsed {total.parsed}, {verb} {total.applied}, ignored"
        f" {total.duplicates + total.stale + total.unwatched} (duplicate {total.duplicates},"
        f" stale {total.stale}, unwatched {total.unwatched}), rejected {total.rejected}"
    )
    for reason in reasons:
        print(f"  rejected: {reason}")
    for request in total.changed_requests.values():
        print(f"  request {request.request_id}: {request.state.value}")
    return 0 if total.rejected == 0 else 1


def _replay_items(handle: Any, reasons: list[str]) -> Iterator[TaskEvent | Rejection]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        record: object = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise MalformedMessage("line is not a JSON object")
            exchange = record.get("exchange")
            routing_key = record.get("routing_key")
            payload = record.get("payload")
            if not isinstance(exchange, str) or not isinstance(routing_key, str):
                raise MalformedMessage("exchange and routing_key must be strings")
            if not isinstance(payload, dict):
                raise MalformedMessage("payload must be a JSON object")
            yield parse_message(exchange, routing_key, payload)
        except (MalformedMessage, ValueError) as error:
            reason = error.reason if isinstance(error, MalformedMessage) else f"not JSON: {error}"
            reasons.append(f"line {number}: {reason}")
            yield Rejection(
                str(record.get("exchange", "")) if isinstance(record, dict) else "",
                str(record.get("routing_key", "")) if isinstance(record, dict) else "",
                reason,
                line,
            )


def _chunks(items: Iterator[TaskEvent | Rejection], size: int) -> Iterator[list[Any]]:
    chunk: list[TaskEvent | Rejection] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _now() -> str:
    return utc_now()


if __name__ == "__main__":
    sys.exit(main())
