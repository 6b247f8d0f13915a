"""A client of the daemon's HTTP API, and the `submit/list/show/cancel/wait` commands on it.

`MonitorClient` speaks JSON over an injected (or owned) `aiohttp.ClientSession`. The
`cmd_*` coroutines are what the CLI subcommands run: they print, and return an exit code.
`wait` polls a campaign until it is final: a progress bar on a terminal, one plain line
per change otherwise (logs, CI); exit code 0 when the campaign finished, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO, get_type_hints
from urllib.parse import quote

import aiohttp

from mozci_monitor.campaign_text import format_campaign, format_campaigns
from mozci_monitor.cli_progress import ProgressDisplay, dry_run_decided, dry_run_lines
from mozci_monitor.core.errors import ApiClientError as ApiClientError
from mozci_monitor.core.kinds import REGISTRY, Param

DEFAULT_URL = "http://127.0.0.1:8787"
TOKEN_ENV = "MOZCI_MONITOR_API_TOKEN"
URL_ENV = "MOZCI_MONITOR_API_URL"

EXIT_FINISHED = 0
EXIT_NOT_FINISHED = 1
EXIT_ERROR = 2

# `wait` gives up after an hour unless told otherwise (the campaign goes on in the daemon).
DEFAULT_WAIT_TIMEOUT = 3600.0
# How long `wait` keeps polling a daemon that stopped answering (a restart takes seconds).
DEFAULT_UNREACHABLE_PATIENCE = 60.0
DAEMON_DOWN_HINT = (
    "; is the daemon running? Start it with `mozci-monitor run` (with the same --config),"
    " or give its address with --api-url"
)


def unreachable_message(base_url: str, error: BaseException) -> str:
    """What went wrong reaching the API, in words (not the exception's repr)."""
    if isinstance(error, TimeoutError):
        why = "timed out"
    elif isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        if isinstance(cause, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(cause, socket.gaierror):
            why = f"unknown host {error.host}"
        else:
            why = cause.strerror or type(cause).__name__
    elif isinstance(error, aiohttp.ServerDisconnectedError):
        why = "the connection was closed"
    else:
        why = type(error).__name__
    return f"no answer from the daemon's API at {base_url} ({why})"


class MonitorClient:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        submit_timeout: float = 600.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self.last_seen: dict[str, Any] | None = None  # the campaign as `wait` saw it last
        self._token = token
        self._session = session
        self._owns_session = session is None
        self._closed = False  # once closed, no call may create (and leak) a new session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Backfill and bisect are planned (pushlog, index, queue) before the answer comes.
        self._submit_timeout = aiohttp.ClientTimeout(total=submit_timeout)

    async def __aenter__(self) -> MonitorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # -- the API ----------------------------------------------------------------------------

    async def submit(self, submission: Mapping[str, Any]) -> dict[str, Any]:
        """Start a campaign; `submission` as in the OpenAPI `Submission` schema."""
        result: dict[str, Any] = await self._call(
            "POST", "/api/campaigns", dict(submission), limit=self._submit_timeout
        )
        return result

    async def list(self, *, open_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        query = f"?open={'true' if open_only else 'false'}&limit={limit}"
        result: list[dict[str, Any]] = await self._call("GET", "/api/campaigns" + query)
        return result

    async def show(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", _campaign_path(campaign_id))
        return result

    async def cancel(self, campaign_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        result: dict[str, Any] = await self._call(
            "POST", _campaign_path(campaign_id) + "/cancel", body
        )
        return result

    async def ready(self) -> dict[str, Any]:
        """The /readyz document (whether or not the daemon is ready)."""
        result: dict[str, Any] = await self._call("GET", "/readyz", accept=(200, 503))
        return result

    async def wait(
        self,
        campaign_id: str,
        *,
        interval: float = 5.0,
        give_up_after: float | None = DEFAULT_WAIT_TIMEOUT,
        patience: float = DEFAULT_UNREACHABLE_PATIENCE,
        out: TextIO | None = None,
        tty: bool | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> int:
        """Poll until the campaign is final; 0 if it finished, 1 otherwise (or timed out).

        A daemon that does not answer the first poll is not running (or not there): that is
        an error at once, with a hint. One that stops answering later may be restarting
        (systemd Restart=on-failure): polls go on for `patience` seconds before giving up.
        """
        stream = sys.stderr if out is None else out
        progress = ProgressDisplay(stream, tty=tty)
        deadline = None if give_up_after is None else clock() + give_up_after
        unreachable_since: float | None = None
        answered = False
        try:
            while True:
                try:
                    detail = await self.show(campaign_id)
                except ApiClientError as error:
                    if error.status != 0:
                        raise
                    if not answered:
                        raise ApiClientError(0, f"{error.message}{DAEMON_DOWN_HINT}") from None
                    if unreachable_since is None:
                        unreachable_since = clock()
                        progress.note(f"{error.message}; still trying for {patience:g}s")
                    elif clock() - unreachable_since >= patience:
                        raise ApiClientError(
                            0, f"{error.message} for {patience:g}s{DAEMON_DOWN_HINT}"
                        ) from None
                else:
                    answered = True
                    unreachable_since = None
                    self.last_seen = detail
                    progress.update(detail)
                    if dry_run_decided(detail):
                        progress.note(f"{campaign_id} dry run: decided, nothing performed")
                        for line in dry_run_lines(detail):
                            progress.note(line)
                        return EXIT_FINISHED
                    if detail.get("final"):
                        progress.note(_final_line(detail))
                        if detail.get("state") == "finished":
                            return EXIT_FINISHED
                        return EXIT_NOT_FINISHED
                if deadline is not None and clock() >= deadline:
                    progress.note(
                        f"{campaign_id}: not final after {give_up_after:g}s; giving up waiting"
                        f" (the daemon goes on; `mozci-monitor wait {campaign_id}` to resume)"
                    )
                    return EXIT_NOT_FINISHED
                await sleep(interval)
        finally:
            progress.close()

    # -- transport --------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        accept: tuple[int, ...] = (200, 201),
        limit: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        if self._closed:
            # A call after close() (a task still running at shutdown) would otherwise
            # create a session nobody closes: asyncio reports it as unclosed when collected.
            raise ApiClientError(0, "client closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Accept": "application/json"}
        if self._token and method != "GET":
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._session.request(
                method,
                self._base + path,
                json=body,
                headers=headers,
                timeout=limit or self._timeout,
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientConnectionError, TimeoutError) as error:
            raise ApiClientError(0, unreachable_message(self._base, error)) from None
        try:
            document = json.loads(text) if text else None
        except ValueError:
            raise ApiClientError(status, f"not JSON: {text[:200]!r}") from None
        if status not in accept:
            if isinstance(document, dict) and "error" in document:
                raise ApiClientError(status, str(document["error"]), document.get("field"))
            raise ApiClientError(status, text[:200])
        return document


def _campaign_path(campaign_id: str) -> str:
    return "/api/campaigns/" + quote(campaign_id, safe="")


# -- progress -----------------------------------------------------------------------------


def _final_line(detail: Mapping[str, Any]) -> str:
    outcome = detail.get("outcome") or ""
    return f"{detail.get('id')} {detail.get('state')}: {outcome}".rstrip(": ")


# -- commands (what `mozci-monitor submit/list/show/cancel/wait` run) -----------------------


async def cmd_submit(
    client: MonitorClient,
    submission: Mapping[str, Any],
    *,
    wait: bool = False,
    interval: float = 5.0,
    give_up_after: float | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the new campaign's id (stdout); with `wait`, then wait for it.

    `as_json`: the campaign's document instead (with `wait`, as it ended)."""
    stdout, stderr = out or sys.stdout, err or sys.stderr
    return await _guard(
        stderr,
        _submit(client, submission, wait, interval, give_up_after, stdout, stderr, as_json),
    )


async def _submit(
    client: MonitorClient,
    submission: Mapping[str, Any],
    wait: bool,
    interval: float,
    give_up_after: float | None,
    stdout: TextIO,
    stderr: TextIO,
    as_json: bool = False,
) -> int:
    campaign = await client.submit(submission)
    if not wait:
        print(json.dumps(campaign, indent=2) if as_json else campaign["id"], file=stdout)
        return 0
    if not as_json:
        print(campaign["id"], file=stdout)
    code = await client.wait(
        campaign["id"], interval=interval, give_up_after=give_up_after, out=stderr
    )
    if as_json:
        print(json.dumps(client.last_seen or campaign, indent=2), file=stdout)
    return code


async def cmd_list(
    client: MonitorClient,
    *,
    open_only: bool = False,
    limit: int = 50,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr

    async def run() -> int:
        campaigns = await client.list(open_only=open_only, limit=limit)
        text = json.dumps(campaigns, indent=2) if as_json else format_campaigns(campaigns)
        print(text, file=stdout)
        return 0

    return await _guard(stderr, run())


async def cmd_show(
    client: MonitorClient,
    campaign_id: str,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr

    async def run() -> int:
        detail = await client.show(campaign_id)
        print(json.dumps(detail, indent=2) if as_json else format_campaign(detail), file=stdout)
        return 0

    return await _guard(stderr, run())


async def cmd_cancel(
    client: MonitorClient,
    campaign_id: str,
    *,
    reason: str | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, stderr = out or sys.stdout, err or sys.stderr

    async def run() -> int:
        campaign = await client.cancel(campaign_id, reason)
        text = (
            json.dumps(campaign, indent=2) if as_json else f"{campaign['id']} {campaign['state']}"
        )
        print(text, file=stdout)
        return 0

    return await _guard(stderr, run())


async def cmd_wait(
    client: MonitorClient,
    campaign_id: str,
    *,
    interval: float = 5.0,
    give_up_after: float | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Progress on stderr; `as_json`: then the campaign as last seen, on stdout."""
    stdout, stderr = out or sys.stdout, err or sys.stderr

    async def run() -> int:
        code = await client.wait(
            campaign_id, interval=interval, give_up_after=give_up_after, out=stderr
        )
        if as_json and client.last_seen is not None:
            print(json.dumps(client.last_seen, indent=2), file=stdout)
        return code

    return await _guard(stderr, run())


async def _guard(err: TextIO, body: Awaitable[int]) -> int:
    try:
        return await body
    except ApiClientError as error:
        where = f" ({error.field})" if error.field and error.field not in error.message else ""
        # No answer at all: every command says what to check, not only `wait`.
        hint = (
            DAEMON_DOWN_HINT if error.status == 0 and DAEMON_DOWN_HINT not in error.message else ""
        )
        print(f"mozci-monitor: {error.message}{where}{hint}", file=err)
        return EXIT_ERROR


# -- argparse glue (the CLI's subcommands call these) ---------------------------------------


def _submit_options() -> dict[str, tuple[Param, Any, list[str]]]:
    """Every parameter of every campaign kind: its spec, Python type and the kinds having it."""
    options: dict[str, tuple[Param, Any, list[str]]] = {}
    for spec in REGISTRY.values():
        hints = get_type_hints(spec.params)
        for name, param in spec.param_fields():
            kinds = options.setdefault(name, (param, hints[name], []))[2]
            kinds.append(spec.name)
    return options


SUBMIT_FIELDS = ("kind", *_submit_options())


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url",
        help=f"the daemon's API (default: ${URL_ENV}, else api.host/api.port from the settings)",
    )


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every campaign kind, from the registry; the API checks the values."""
    parser.add_argument("kind", help=", ".join(spec.name for spec in REGISTRY.values()))
    every_kind = len(REGISTRY)
    for name, (param, hint, kinds) in _submit_options().items():
        option = "--" + (param.option or name.replace("_", "-"))
        scope = "" if len(kinds) == every_kind else f"{', '.join(kinds)}: "
        if hint is bool:
            parser.add_argument(option, dest=name, action="store_true", help=scope + param.help)
        elif param.max_items is not None:
            parser.add_argument(option, dest=name, action="append", help=scope + param.help)
        else:
            parser.add_argument(
                option,
                dest=name,
                type=int if hint in (int, int | None) else str,
                required=name in ("repo", "revision"),
                help=scope + param.help,
            )
    add_wait_options(parser, flag=True)
    add_json_option(parser)
    add_api_options(parser)


def add_wait_options(
    parser: argparse.ArgumentParser,
    *,
    flag: bool = False,
    wait_help: str = "then wait for it to end",
    interval_default: float | None = 5.0,
    interval_help: str = "seconds between polls (default 5)",
    older_names: Sequence[str] = (),
) -> None:
    """`--interval` and `--give-up-after` (also `--timeout`, and `older_names`); with
    `flag`, `--wait` too. Every command that waits takes these, from here."""
    if flag:
        parser.add_argument("--wait", action="store_true", help=wait_help)
    parser.add_argument(
        "--interval", type=float, metavar="SECONDS", default=interval_default, help=interval_help
    )
    parser.add_argument(
        "--give-up-after",
        "--timeout",
        *older_names,
        dest="give_up_after",
        type=float,
        metavar="SECONDS",
        default=DEFAULT_WAIT_TIMEOUT,
        help=f"stop waiting after this many seconds (exit 1; default {DEFAULT_WAIT_TIMEOUT:g})",
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_id", help="the id, or a unique prefix of it")
    parser.add_argument("--reason", help="recorded as the campaign's outcome")
    add_json_option(parser)
    add_api_options(parser)


def add_wait_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_id", help="the id, or a unique prefix of it")
    add_wait_options(parser)
    add_json_option(parser)
    add_api_options(parser)


def submission_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given: the API applies defaults and says which field is wrong."""
    document: dict[str, Any] = {}
    for name in SUBMIT_FIELDS:
        value = getattr(args, name, None)
        if value is None or value is False:
            continue
        document[name] = value
    return document


def resolve_url(args: argparse.Namespace, default: str) -> str:
    return getattr(args, "api_url", None) or os.environ.get(URL_ENV) or default


async def run_client_command(
    command: str,
    args: argparse.Namespace,
    *,
    url: str,
    token: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run `submit`, `list`, `show`, `cancel` or `wait` against the API at `url`.

    `show` takes the id from ``args.campaign_id`` (or ``args.request_id``, the CLI's
    existing positional); `list` reads ``args.open`` and ``args.json``.
    """
    async with MonitorClient(url, token) as client:
        if command == "submit":
            return await cmd_submit(
                client,
                submission_from_args(args),
                wait=args.wait,
                interval=args.interval,
                give_up_after=args.give_up_after,
                as_json=getattr(args, "json", False),
                out=out,
                err=err,
            )
        if command == "list":
            return await cmd_list(
                client,
                open_only=getattr(args, "open", False),
                as_json=getattr(args, "json", False),
                out=out,
                err=err,
            )
        if command == "show":
            campaign_id = getattr(args, "campaign_id", None) or args.request_id
            return await cmd_show(
                client, campaign_id, as_json=getattr(args, "json", False), out=out, err=err
            )
        if command == "cancel":
            return await cmd_cancel(
                client,
                args.campaign_id,
                reason=args.reason,
                as_json=getattr(args, "json", False),
                out=out,
                err=err,
            )
        if command == "wait":
            return await cmd_wait(
                client,
                args.campaign_id,
                interval=args.interval,
                give_up_after=args.give_up_after,
                as_json=getattr(args, "json", False),
                out=out,
                err=err,
            )
    raise ValueError(f"unknown client command {command!r}")
