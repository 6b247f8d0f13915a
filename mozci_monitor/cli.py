"""The `mozci-monitor` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
from typing import Any, NoReturn, TextIO, get_type_hints

from mozci_monitor import client, wiring
from mozci_monitor.api.backend import SubmissionRefused
from mozci_monitor.api.views import campaign_json
from mozci_monitor.campaign_text import format_campaign, format_campaigns
from mozci_monitor.campaigns import SourcesNotConfigured
from mozci_monitor.cli_options import add_global_options, log_level
from mozci_monitor.clock import utc_now
from mozci_monitor.config import (
    ConfigError,
    Settings,
    api_token,
    capacity_text,
    find_config,
    load_settings,
    secrets_of,
)
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.errors import MozciMonitorError, StoreError, SubmissionError
from mozci_monitor.core.kinds import REGISTRY, AnyParams, KindSpec, WatchParams
from mozci_monitor.core.messages import MalformedMessage, Rejection, parse_message
from mozci_monitor.core.model import Request, TaskEvent
from mozci_monitor.daemon import Daemon
from mozci_monitor.engine import BatchOutcome
from mozci_monitor.logs import configure_logging
from mozci_monitor.store_views import campaign_detail, campaign_list
from mozci_monitor.submissions import parse_submission

AnyStore = wiring.AnyStore


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    config_path = find_config(getattr(args, "config", None))
    args.config_path = config_path
    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        print(f"mozci-monitor: config error: {error}", file=sys.stderr)
        return 2
    configure_logging(
        format=settings.log.format,
        level=log_level(args, settings),
        secrets=secrets_of(settings),
    )
    try:
        result: int = args.handler(args, settings)
    except KeyboardInterrupt:
        # Ctrl-C is how people stop `--wait`, `wait`, `sim` and `run` in a terminal.
        print("mozci-monitor: interrupted", file=sys.stderr)
        return 130
    except (ConfigError, StoreError, MozciMonitorError, ConnectionError) as error:
        # Deliberate errors (and a broker that cannot be reached) explain themselves.
        print(f"mozci-monitor: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"mozci-monitor: {_describe_os_error(error)}", file=sys.stderr)
        return 2
    return result


def _describe_os_error(error: OSError) -> str:
    """`file: reason` when the error names a file, else just the reason."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mozci-monitor",
        description="Watch the Firefox CI jobs you trigger and act when they do not run.",
    )
    add_global_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (consume Pulse, track requests)")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check-config", help="validate the settings, print them (budgets in tasks) and exit"
    )
    client.add_json_option(check)
    check.set_defaults(handler=_check_config)

    migrate = commands.add_parser(
        "migrate", help="bring the store's schema up to date (once, before starting daemons)"
    )
    client.add_json_option(migrate)
    migrate.set_defaults(handler=_migrate)

    prune = commands.add_parser(
        "prune", help="delete what the [retention] settings let go, and print what it was"
    )
    prune.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    client.add_json_option(prune)
    _store_option(prune)
    prune.set_defaults(handler=_prune)

    # One subcommand per campaign kind, generated from the kinds' registry.
    for spec in REGISTRY.values():
        _add_campaign_command(commands, spec)

    campaigns = commands.add_parser("campaigns", help="list campaigns")
    campaigns.add_argument("--open", action="store_true", help="only campaigns still running")
    campaigns.add_argument("--json", action="store_true")
    _store_option(campaigns)
    campaigns.set_defaults(handler=_campaigns)

    listing = commands.add_parser(
        "list", help="the newest campaigns, from the daemon's API (--api-url) or the store"
    )
    listing.add_argument("--open", action="store_true", help="only those not yet final")
    listing.add_argument(
        "--requests", action="store_true", help="every request instead (from the store)"
    )
    listing.add_argument("--json", action="store_true")
    _store_option(listing)
    client.add_api_options(listing)
    listing.set_defaults(handler=_list)

    show = commands.add_parser(
        "show", help="a request's or campaign's state and timeline (from the store or the API)"
    )
    show.add_argument("request_id", help="the id, or a unique prefix of it")
    show.add_argument("--json", action="store_true")
    _store_option(show)
    client.add_api_options(show)
    show.set_defaults(handler=_show)

    submit = commands.add_parser("submit", help="start a campaign through the daemon's API")
    client.add_submit_arguments(submit)
    submit.set_defaults(handler=_client_command)

    cancel = commands.add_parser("cancel", help="cancel a campaign through the daemon's API")
    client.add_cancel_arguments(cancel)
    cancel.set_defaults(handler=_client_command)

    wait = commands.add_parser(
        "wait", help="wait for a campaign to end (exit 0 if it finished, 1 otherwise)"
    )
    client.add_wait_arguments(wait)
    wait.set_defaults(handler=_client_command)

    demo = commands.add_parser(
        "demo", help="run the simulator and the daemon together, one campaign of each kind"
    )
    from mozci_monitor.demo import add_arguments as add_demo_arguments

    add_demo_arguments(demo)
    demo.set_defaults(handler=_demo)

    sim = commands.add_parser(
        "sim",
        help="serve the Firefox CI simulator alone (and publish its Pulse messages)",
        description="Serve the Firefox CI simulator until Ctrl-C, publishing Pulse messages.",
    )
    from mozci_monitor.sim.cli import add_arguments as add_sim_arguments

    add_sim_arguments(sim)
    sim.set_defaults(handler=_sim)

    results = commands.add_parser(
        "results", help="a test task's results from its structured logs, judged by a signature"
    )
    from mozci_monitor.results_cli import add_arguments as add_results_arguments

    add_results_arguments(results)
    results.set_defaults(handler=_results)

    replay = commands.add_parser("replay", help="feed recorded messages through the machine")
    replay.add_argument("file", help='JSON lines: {"exchange", "routing_key", "payload"}')
    replay.add_argument("--dry-run", action="store_true", help="apply, report, then roll back")
    client.add_json_option(replay)
    _store_option(replay)
    replay.set_defaults(handler=_replay)
    for command in commands.choices.values():
        add_global_options(command, top_level=False)
    return parser


def _wait_options(parser: argparse.ArgumentParser) -> None:
    # The options of `submit --wait` and `wait`; --wait-timeout is its older name, and the
    # interval's default depends on where it polls.
    client.add_wait_options(
        parser,
        flag=True,
        wait_help="show progress until the campaign ends",
        interval_default=None,
        interval_help="seconds between polls (default 5 through the API, 1 on a store)",
        older_names=("--wait-timeout",),
    )


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="SQLite store path (default: store.path in settings)")


def _open_store(args: argparse.Namespace, settings: Settings) -> AnyStore:
    """The configured store (`--store PATH` always means a SQLite file)."""
    return wiring.build_store(settings, path=args.store)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # Built inside the loop: the HTTP session and the consumer bind to it.
    return run_daemon_process(lambda: wiring.build_daemon(settings))


def run_daemon_process(build: Callable[[], Daemon]) -> int:
    """Run the daemon until SIGTERM/SIGINT (or it stops itself); return its exit code."""

    async def run() -> int:
        daemon = build()
        code = await daemon.run()
        if daemon.left_behind:
            # asyncio.run would wait for ever on a task that ignores its cancellation, and
            # the interpreter on a hung store thread; a stop must end before systemd's
            # TimeoutStopSec, so exit now (the log named what did not stop).
            exit_now(code)
        return code

    return asyncio.run(run())


def exit_now(code: int) -> NoReturn:
    """Exit without waiting for tasks or threads (what is durable was committed)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.demo import run_demo

    return asyncio.run(run_demo(args))


def _results(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.results_cli import run

    return run(args, settings)


def _sim(args: argparse.Namespace, settings: Settings) -> int:
    from mozci_monitor.sim.cli import serve

    return serve(args)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    text = wiring.migrate_store(settings)
    if args.json:
        print(json.dumps({"backend": settings.store.backend, "result": text}))
    else:
        print(text)
    return 0


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from mozci_monitor.ports.store import RetentionPolicy

    retention = settings.retention
    policy = RetentionPolicy(
        rejected_days=retention.rejected_days,
        rejected_max_rows=retention.rejected_max_rows,
        finished_task_days=retention.finished_task_days,
        batch=retention.batch,
    )
    store = _open_store(args, settings)
    try:
        report = store.prune(policy, datetime.now(UTC), dry_run=args.dry_run)
    finally:
        store.close()
    if args.json:
        deleted = {table: report.deleted.get(table, 0) for table in ("rejected", "tasks")}
        print(json.dumps({"dry_run": args.dry_run, "deleted": deleted}))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for table in ("rejected", "tasks"):
        print(f"{verb} {report.deleted.get(table, 0)} {table} row(s)")
    return 0


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    """Exactly the validation `run` does before it starts (`wiring.check_settings`)."""
    from mozci_monitor.config import pulse_url
    from mozci_monitor.redact import redact_text

    wiring.check_settings(settings)
    url = redact_text(pulse_url(settings.pulse))
    if args.json:
        config_path = getattr(args, "config_path", None)
        document = {
            "ok": True,
            "config": str(config_path) if config_path else None,
            "pulse": {"url": url, "queue": settings.pulse.queue},
            "store": {"backend": settings.store.backend, "path": settings.store.path},
            "budgets": _budgets(settings),
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"config ok: pulse {url} queue {settings.pulse.queue}")
    print(f"store: {settings.store.path}")
    budgets = {key: "no limit" if n is None else str(n) for key, n in _budgets(settings).items()}
    print(
        f"budgets in tasks: {budgets['per_request']} per request,"
        f" {budgets['per_campaign']} per campaign,"
        f" {budgets['per_repo_day']} per repository per day"
    )
    capacity = capacity_text(settings.capacity)
    if capacity:
        print(f"capacity: {capacity}")
    return 0


def _budgets(settings: Settings) -> dict[str, int | None]:
    """The configured budgets, in tasks scheduled (None: no limit)."""
    actions = settings.actions
    return {
        "per_request": actions.max_per_request,
        "per_campaign": actions.max_per_campaign or None,
        "per_repo_day": actions.max_per_repo_day or None,
    }


API_PROBE_TIMEOUT = 2.0  # seconds: a daemon that does not answer by then is not there


def _campaign_command(args: argparse.Namespace, settings: Settings) -> int:
    """Validate as the API does; then submit through the running daemon's API when it
    answers, else plan and record the campaign on the configured store (the same campaign
    service the daemon uses) for the daemon to pick up. `--store` names a store
    explicitly: then the campaign goes there, not to whatever daemon answers."""
    document = _submission_document(args)
    try:
        params = parse_submission(document)
    except SubmissionError as error:
        print(f"mozci-monitor: {_cli_message(args.kind, error)}", file=sys.stderr)
        return 2
    if args.store is None and settings.api.enabled:
        answered = asyncio.run(_submit_through_api(document, args, settings))
        if answered is not None:
            return answered
    if getattr(args, "config_path", None) is None and not args.store:
        # Without settings, the store would be a ./mozci-monitor.sqlite3 no daemon reads.
        print(
            f"mozci-monitor: no daemon answered at {_api_url(args, settings)} and no settings"
            " file was found (--config FILE, $MOZCI_MONITOR_CONFIG, ./mozci-monitor.toml,"
            " ~/.config/mozci-monitor/config.toml, /etc/mozci-monitor/mozci-monitor.toml):"
            " start the daemon, or give its settings so that the campaign is recorded in"
            " its store",
            file=sys.stderr,
        )
        return 2
    return _submit_to_store(params, args, settings)


async def _submit_through_api(
    document: dict[str, Any], args: argparse.Namespace, settings: Settings
) -> int | None:
    """The exit code, or None when no daemon answers on the API."""
    url = _api_url(args, settings)
    async with client.MonitorClient(url, api_token(settings), timeout=API_PROBE_TIMEOUT) as probe:
        try:
            await probe.ready()
        except client.ApiClientError as error:
            if error.status == 0:
                return None
            raise
    async with client.MonitorClient(url, api_token(settings)) as api:
        try:
            created = await api.submit(document)
        except client.ApiClientError as error:
            print(f"mozci-monitor: {_api_refusal(args.kind, error, settings)}", file=sys.stderr)
            # Refused (a wrong value, an unknown push or label, no token): like a usage error.
            return 2 if 400 <= error.status < 500 else 1
        campaign_id = str(created["id"])
        waiting = getattr(args, "wait", False)
        if not args.json:
            print(campaign_id)
        elif not waiting:
            print(json.dumps(created, indent=2))
        print(f"{created['kind']} campaign {campaign_id} submitted to {url}", file=sys.stderr)
        if waiting:
            code = await api.wait(
                campaign_id,
                interval=args.interval or 5.0,
                give_up_after=args.give_up_after,
                out=sys.stderr,
            )
            if args.json:
                print(json.dumps(api.last_seen or created, indent=2))
            return code
        return 0


def _submit_to_store(params: AnyParams, args: argparse.Namespace, settings: Settings) -> int:
    async def submit() -> tuple[Campaign, int]:
        async with wiring.offline_campaigns(settings, store_path=args.store) as service:
            campaign, requests = await service.plan(params)
            return await service.start(campaign, requests), len(requests)

    try:
        campaign, count = asyncio.run(submit())
    except SourcesNotConfigured as error:
        raise ConfigError(str(error)) from None
    except SubmissionRefused as error:
        print(f"mozci-monitor: {error}", file=sys.stderr)
        return 1
    except SubmissionError as error:  # the push contradicts the submission (push_check)
        print(f"mozci-monitor: {_cli_message(args.kind, error)}", file=sys.stderr)
        return 2
    if args.json and not args.wait:
        print(json.dumps(campaign_json(campaign), indent=2))
    elif not args.json:
        print(campaign.campaign_id)
    dry = " (dry run)" if campaign.dry_run else ""
    named = args.store or (
        "the PostgreSQL store" if settings.store.backend == "postgres" else settings.store.path
    )
    where = f"recorded in {named}; it starts when `mozci-monitor run` runs on this store"
    if args.store is None and settings.api.enabled:
        where = f"no daemon answered at {_api_url(args, settings)}; {where}"
    if isinstance(params, WatchParams):
        what = f"watching {params.label} x{params.times} on {params.repo}@{params.revision[:12]}"
        print(
            f"{what}{dry} (campaign {campaign.campaign_id}; {where})",
            file=sys.stderr,
        )
    else:
        print(
            f"{campaign.kind.value} campaign {campaign.campaign_id}: {count} request(s){dry};"
            f" {where}",
            file=sys.stderr,
        )
    if getattr(args, "wait", False):
        store = wiring.build_store(settings, path=args.store)
        return _wait_for(
            store,
            campaign.campaign_id,
            args.give_up_after,
            interval=args.interval or 1.0,
            as_json=args.json,
        )
    return 0


def _add_campaign_command(commands: Any, spec: KindSpec) -> None:
    command = commands.add_parser(spec.name, help=spec.summary)
    hints = get_type_hints(spec.params)
    for name, param in spec.param_fields():
        option = "--" + (param.option or name.replace("_", "-"))
        required = _is_required(spec, name)
        if hints[name] is bool:
            command.add_argument(option, dest=name, action="store_true", help=param.help)
        elif param.max_items is not None:
            command.add_argument(option, dest=name, action="append", default=[], help=param.help)
        else:
            # Plain text and integers: the registry's bounds are checked by parse_submission,
            # the same check the API runs, so both refuse the same values.
            kind_of = int if hints[name] in (int, int | None) else str
            default = _default_of(spec, name)
            command.add_argument(
                option,
                dest=name,
                type=kind_of,
                required=required,
                help=param.help + (f" (default {default})" if default is not None else ""),
            )
    _wait_options(command)
    client.add_json_option(command)
    _store_option(command)
    command.set_defaults(handler=_campaign_command, kind=spec.kind)


def _is_required(spec: KindSpec, name: str) -> bool:
    return any(
        item.name == name and item.default is MISSING for item in dataclass_fields(spec.params)
    )


def _default_of(spec: KindSpec, name: str) -> Any:
    for item in dataclass_fields(spec.params):
        if item.name == name and item.default not in (MISSING, None, (), False):
            return item.default
    return None


def _submission_document(args: argparse.Namespace) -> dict[str, Any]:
    """The options given, as the API would receive them (defaults left to the registry)."""
    document: dict[str, Any] = {"kind": args.kind.value}
    for name, _ in REGISTRY[args.kind].param_fields():
        value = getattr(args, name, None)
        if value is None or value is False or value == []:
            continue
        document[name] = value
    return document


def _api_refusal(kind: CampaignKind, error: client.ApiClientError, settings: Settings) -> str:
    """The daemon's refusal as the offline path words it, with what to do about a token."""
    if error.status == 401:
        return (
            f"{error.message}: the daemon's API token comes from ${settings.api.token_env} or"
            " api.token_file in its settings (give them with --config)"
        )
    return _option_message(kind, error.field, error.message)


def _cli_message(kind: CampaignKind, error: SubmissionError) -> str:
    """The API's message, naming the option instead of the JSON field."""
    return _option_message(kind, error.field, str(error))


def _option_message(kind: CampaignKind, field: str | None, message: str) -> str:
    params = dict(REGISTRY[kind].param_fields())
    if field in params and message.startswith(f"{field}: "):
        option = params[field].option or field.replace("_", "-")
        return f"--{option}: {message.removeprefix(f'{field}: ')}"
    return message


def _wait_for(
    store: AnyStore,
    campaign_id: str,
    timeout: float,
    *,
    interval: float = 1.0,
    as_json: bool = False,
) -> int:
    """Poll the store until the campaign is final, with the one progress display."""
    from mozci_monitor.cli_progress import ProgressDisplay, dry_run_decided, dry_run_lines

    progress = ProgressDisplay(sys.stderr)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            campaign = store.get_campaign(campaign_id)
            if campaign is None:
                progress.note(f"mozci-monitor: campaign {campaign_id} vanished")
                return 1
            detail = campaign_detail(store, campaign)
            progress.update(detail)
            if dry_run_decided(detail):
                progress.close()
                if as_json:
                    print(json.dumps(detail, indent=2))
                else:
                    print(f"dry run: decided, nothing performed ({campaign_id})")
                    print("\n".join(dry_run_lines(detail)))
                return 0
            if campaign.is_final:
                progress.close()
                if as_json:
                    print(json.dumps(detail, indent=2))
                else:
                    print(f"{campaign.state.value}: {campaign.outcome}")
                return 0 if campaign.state is CampaignState.FINISHED else 1
            time.sleep(interval)
    finally:
        progress.close()
    print(
        f"mozci-monitor: campaign {campaign_id} still running after {timeout:.0f} s",
        file=sys.stderr,
    )
    return 1


def _campaigns(args: argparse.Namespace, settings: Settings) -> int:
    store = _open_store(args, settings)
    campaigns = [campaign_json(c) for c in store.iter_campaigns(open_only=args.open)][::-1]
    print(json.dumps(campaigns, indent=2) if args.json else format_campaigns(campaigns))
    return 0


def _api_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "api_url", None) or os.environ.get(client.URL_ENV))


def _api_url(args: argparse.Namespace, settings: Settings) -> str:
    host = settings.api.host
    host = f"[{host}]" if ":" in host else host
    return client.resolve_url(args, default=f"http://{host}:{settings.api.port}")


def _client_command(args: argparse.Namespace, settings: Settings) -> int:
    url = _api_url(args, settings)
    token = api_token(settings) if args.command in {"submit", "cancel"} else None
    return asyncio.run(client.run_client_command(args.command, args, url=url, token=token))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    if _api_wanted(args) and not args.requests:
        return _client_command(args, settings)
    store = _open_store(args, settings)
    if not args.requests:
        campaigns = campaign_list(store, open_only=args.open)
        print(json.dumps(campaigns, indent=2) if args.json else format_campaigns(campaigns))
        return 0
    requests = list(store.iter_requests(open_only=args.open))[::-1]  # all, newest first
    if args.json:
        print(json.dumps([request_json(r) for r in requests], indent=2))
        return 0
    if not requests:
        print("no requests")
        return 0
    print(f"{'ID':<18}  {'STATE':<16}  {'RUNS':>4}  {'PUSH':<24}  LABEL")
    for request in requests:
        state = request.state.value + (f"/{request.failure.value}" if request.failure else "")
        push = f"{request.push.repo}@{request.push.revision[:12]}"
        print(
            f"{request.request_id:<18}  {state:<16}  {request.wanted:>4}  {push:<24}"
            f"  {request.label}"
        )
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    if _api_wanted(args):
        return _client_command(args, settings)
    store = _open_store(args, settings)
    # Request ids start with their campaign's id: a prefix naming one campaign shows the
    # campaign, unless it is a request's full id.
    campaigns = store.find_campaigns(args.request_id)
    if len(campaigns) == 1 and store.get_request(args.request_id) is None:
        return _show_campaign(store, campaigns[0], as_json=args.json)
    matches = store.find_requests(args.request_id)
    if len(matches) != 1:
        if matches:
            what = f"{len(matches)} requests match {args.request_id!r}: give more of the id"
        elif campaigns:
            what = f"{len(campaigns)} campaigns match {args.request_id!r}: give more of the id"
        else:
            what = f"no campaign or request matches {args.request_id!r}"
        print(f"mozci-monitor: {what}", file=sys.stderr)
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


def _show_campaign(store: AnyStore, campaign: Campaign, *, as_json: bool) -> int:
    # The API's document and text, so that `show` reads the same with or without a daemon.
    detail = campaign_detail(store, campaign)
    print(json.dumps(detail, indent=2) if as_json else format_campaign(detail))
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
    engine = wiring.build_engine(settings, store)
    total = BatchOutcome()
    reasons: list[str] = []
    with open(args.file, "rb") as handle:
        # A dry run must see its own earlier effects, so it is one transaction, rolled back.
        size = sys.maxsize if args.dry_run else 500
        for chunk in _chunks(_replay_items(handle, reasons), size):
            total.add(engine.apply(chunk, _now(), dry_run=args.dry_run))
    if args.json:
        document = {
            "dry_run": args.dry_run,
            "parsed": total.parsed,
            "applied": total.applied,
            "duplicate": total.duplicates,
            "stale": total.stale,
            "unwatched": total.unwatched,
            "rejected": total.rejected,
            "rejections": reasons,
            "requests": {r.request_id: r.state.value for r in total.changed_requests.values()},
        }
        print(json.dumps(document, indent=2))
        return 0 if total.rejected == 0 else 1
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
