"""The API client and its commands against a real API server (in-memory backend)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import re
import socket
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from api.fakes import GROUP, LABEL, REVISION, TOKEN, FakeBackend

from mozci_monitor.api import ApiOptions, ApiServer
from mozci_monitor.client import (
    DAEMON_DOWN_HINT,
    EXIT_ERROR,
    EXIT_FINISHED,
    EXIT_NOT_FINISHED,
    ApiClientError,
    MonitorClient,
    add_api_options,
    add_cancel_arguments,
    add_submit_arguments,
    add_wait_arguments,
    cmd_cancel,
    cmd_list,
    cmd_show,
    cmd_submit,
    cmd_wait,
    resolve_url,
    run_client_command,
)
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import FailureKind, RequestState

WATCH: dict[str, Any] = {
    "kind": "watch",
    "repo": "autoland",
    "revision": REVISION,
    "task_group": GROUP,
    "label": LABEL,
}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def server(backend: FakeBackend) -> AsyncIterator[ApiServer]:
    api = ApiServer(backend, ApiOptions(port=0, token=TOKEN))
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def client(server: ApiServer) -> AsyncIterator[MonitorClient]:
    async with MonitorClient(server.url, TOKEN) as monitor:
        yield monitor


async def test_submit_list_show_cancel(client: MonitorClient, backend: FakeBackend) -> None:
    created = await client.submit({**WATCH, "times": 2})
    assert created["state"] == "running"
    assert backend.submitted[0].times == 2
    listed = await client.list(open_only=True)
    assert [c["id"] for c in listed] == [created["id"]]
    shown = await client.show(created["id"])
    assert shown["requests"][0]["label"] == LABEL
    canceled = await client.cancel(created["id"], "not needed")
    assert (canceled["state"], canceled["outcome"]) == ("canceled", "not needed")
    assert await client.list(open_only=True) == []


async def test_submit_cancel_and_wait_print_json(
    client: MonitorClient, backend: FakeBackend
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await cmd_submit(client, WATCH, as_json=True, out=out, err=err) == 0
    submitted = json.loads(out.getvalue())
    assert (submitted["kind"], submitted["state"]) == ("watch", "running")
    campaign_id = submitted["id"]

    out = io.StringIO()
    assert await cmd_cancel(client, campaign_id, reason="oops", as_json=True, out=out) == 0
    canceled = json.loads(out.getvalue())
    assert (canceled["id"], canceled["state"], canceled["outcome"]) == (
        campaign_id,
        "canceled",
        "oops",
    )

    out, err = io.StringIO(), io.StringIO()
    code = await cmd_wait(client, campaign_id, interval=0, as_json=True, out=out, err=err)
    assert code == EXIT_NOT_FINISHED
    waited = json.loads(out.getvalue())  # stdout is the document alone; progress on stderr
    assert (waited["id"], waited["state"], waited["final"]) == (campaign_id, "canceled", True)
    assert f"{campaign_id} canceled" in err.getvalue()


async def test_errors_carry_status_and_field(client: MonitorClient, server: ApiServer) -> None:
    with pytest.raises(ApiClientError) as bad:
        await client.submit({**WATCH, "times": 0})
    assert (bad.value.status, bad.value.field) == (400, "times")
    with pytest.raises(ApiClientError) as missing:
        await client.show("c-nothing")
    assert missing.value.status == 404
    async with MonitorClient(server.url, "wrong") as intruder:
        with pytest.raises(ApiClientError) as forbidden:
            await intruder.cancel("c-anything")
    assert forbidden.value.status == 403


async def test_commands_print_and_return_exit_codes(
    client: MonitorClient, backend: FakeBackend
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await cmd_submit(client, WATCH, out=out, err=err) == 0
    campaign_id = out.getvalue().strip()
    assert campaign_id in backend.campaigns

    out = io.StringIO()
    assert await cmd_list(client, out=out) == 0
    assert campaign_id in out.getvalue() and "running" in out.getvalue()

    out = io.StringIO()
    assert await cmd_show(client, campaign_id, out=out) == 0
    assert f"campaign {campaign_id} (watch): running" in out.getvalue()
    assert LABEL in out.getvalue() and "registered" in out.getvalue()

    out = io.StringIO()
    assert await cmd_cancel(client, campaign_id, reason="oops", out=out) == 0
    assert out.getvalue().strip() == f"{campaign_id} canceled"

    err = io.StringIO()
    assert await cmd_submit(client, {**WATCH, "kind": "bisect"}, out=out, err=err) == EXIT_ERROR
    assert "task_group: unknown field for a bisect campaign" in err.getvalue()


def _advance(backend: FakeBackend, campaign_id: str, steps: list[Any]) -> Any:
    """A fake sleep: each poll interval, the backend moves the campaign one step on."""

    async def sleep(_: float) -> None:
        if steps:
            steps.pop(0)(backend, campaign_id)

    return sleep


def _request_done(backend: FakeBackend, campaign_id: str) -> None:
    (request,) = backend.requests[campaign_id]
    backend.requests[campaign_id] = [replace(request, state=RequestState.COMPLETED)]


def _finish(state: CampaignState) -> Any:
    def step(backend: FakeBackend, campaign_id: str) -> None:
        backend.campaigns[campaign_id] = replace(
            backend.campaigns[campaign_id], state=state, outcome=f"it {state.value}"
        )

    return step


async def test_wait_plain_lines_until_finished(client: MonitorClient, backend: FakeBackend) -> None:
    campaign_id = (await client.submit(WATCH))["id"]
    out = io.StringIO()
    steps = [lambda b, c: None, _request_done, _finish(CampaignState.FINISHED)]
    code = await client.wait(
        campaign_id, interval=0, out=out, sleep=_advance(backend, campaign_id, steps)
    )
    assert code == EXIT_FINISHED
    lines = out.getvalue().splitlines()
    # One line per change, not per poll; no terminal control characters.
    assert lines == [
        f"{campaign_id} running: 0/1 runs (scheduled 1)",
        f"{campaign_id} running: 1/1 runs (completed 1)",
        f"{campaign_id} finished: 1/1 runs (completed 1)",
        f"{campaign_id} finished: it finished",
    ]


async def test_wait_draws_a_bar_on_a_terminal(client: MonitorClient, backend: FakeBackend) -> None:
    campaign_id = (await client.submit(WATCH))["id"]
    out = Tty()
    steps = [_request_done, _finish(CampaignState.FINISHED)]
    code = await client.wait(
        campaign_id, interval=0, out=out, sleep=_advance(backend, campaign_id, steps)
    )
    assert code == EXIT_FINISHED
    text = out.getvalue()
    assert text.count("\r\x1b[2K") >= 3  # redrawn in place, once per poll
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "0/1 runs" in plain and "1/1 runs" in plain
    assert text.endswith(f"{campaign_id} finished: it finished\n")


@pytest.mark.parametrize("state", [CampaignState.FAILED, CampaignState.GAVE_UP])
async def test_wait_is_1_when_the_campaign_did_not_finish(
    client: MonitorClient, backend: FakeBackend, state: CampaignState
) -> None:
    campaign_id = (await client.submit(WATCH))["id"]

    def orange(b: FakeBackend, c: str) -> None:
        (request,) = b.requests[c]
        b.requests[c] = [replace(request, state=RequestState.FAILED, failure=FailureKind.ORANGE)]

    steps = [orange, _finish(state)]
    out = io.StringIO()
    code = await client.wait(
        campaign_id, interval=0, out=out, sleep=_advance(backend, campaign_id, steps)
    )
    assert code == EXIT_NOT_FINISHED
    assert "failed/orange 1" in out.getvalue()


async def test_wait_gives_up_after_a_while(client: MonitorClient, backend: FakeBackend) -> None:
    campaign_id = (await client.submit(WATCH))["id"]
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    out = io.StringIO()
    code = await client.wait(
        campaign_id, interval=5, give_up_after=12, out=out, sleep=sleep, clock=lambda: now[0]
    )
    assert code == EXIT_NOT_FINISHED
    assert now[0] == 15
    assert "not final after 12s" in out.getvalue()


async def test_wait_command_on_a_canceled_campaign(
    client: MonitorClient, backend: FakeBackend
) -> None:
    campaign_id = (await client.submit(WATCH))["id"]
    await client.cancel(campaign_id)
    err = io.StringIO()
    assert await cmd_wait(client, campaign_id, interval=0, err=err) == EXIT_NOT_FINISHED
    assert f"{campaign_id} canceled" in err.getvalue()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_unreachable_api_is_a_clear_error() -> None:
    port = _closed_port()
    async with MonitorClient(f"http://127.0.0.1:{port}", TOKEN, timeout=5) as nowhere:
        err = io.StringIO()
        assert await cmd_show(nowhere, "c-1", err=err) == EXIT_ERROR
        assert err.getvalue() == (
            f"mozci-monitor: no answer from the daemon's API at http://127.0.0.1:{port}"
            f" (connection refused){DAEMON_DOWN_HINT}\n"
        )
        # Every command says what to check, as `wait` does.
        for command in (cmd_list(nowhere, err=err), cmd_cancel(nowhere, "c-1", err=err)):
            err.truncate(0)
            err.seek(0)
            assert await command == EXIT_ERROR
            assert err.getvalue().endswith(f"(connection refused){DAEMON_DOWN_HINT}\n")


async def test_wait_on_a_daemon_that_is_not_running_says_what_to_do() -> None:
    port = _closed_port()
    async with MonitorClient(f"http://127.0.0.1:{port}", TOKEN, timeout=5) as nowhere:
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        with pytest.raises(ApiClientError):
            await nowhere.wait("c-1", interval=1, sleep=sleep, out=io.StringIO())
        assert sleeps == []  # no retrying a daemon that never answered
        err = io.StringIO()
        assert await cmd_wait(nowhere, "c-1", interval=1, err=err) == EXIT_ERROR
        assert "(connection refused); is the daemon running?" in err.getvalue()
        assert "mozci-monitor run" in err.getvalue()


async def test_wait_gives_up_on_a_daemon_that_stays_down(
    client: MonitorClient, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id = (await client.submit(WATCH))["id"]
    now = [0.0]
    polls = [0]
    answer = client.show

    async def show(campaign: str) -> dict[str, Any]:
        polls[0] += 1
        if polls[0] > 1:  # the daemon stops after the first poll
            raise ApiClientError(0, "no answer from the daemon's API at X (connection refused)")
        return await answer(campaign)

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(client, "show", show)
    out = io.StringIO()
    with pytest.raises(ApiClientError) as caught:
        await client.wait(
            campaign_id, interval=5, patience=30, out=out, sleep=sleep, clock=lambda: now[0]
        )
    assert "still trying for 30s" in out.getvalue()
    assert "for 30s; is the daemon running?" in caught.value.message
    assert now[0] == 35  # polls at 5 (down since), 10 … 35 (30 s later)


def _parser() -> argparse.ArgumentParser:
    """What cli.py is proposed to build (see api/wiring_proposal.md)."""
    parser = argparse.ArgumentParser(prog="mozci-monitor")
    commands = parser.add_subparsers(dest="command")
    add_submit_arguments(commands.add_parser("submit"))
    add_cancel_arguments(commands.add_parser("cancel"))
    add_wait_arguments(commands.add_parser("wait"))
    listing = commands.add_parser("list")
    listing.add_argument("--open", action="store_true")
    listing.add_argument("--json", action="store_true")
    add_api_options(listing)
    show = commands.add_parser("show")
    show.add_argument("request_id")
    show.add_argument("--json", action="store_true")
    add_api_options(show)
    return parser


async def test_the_cli_glue_end_to_end(server: ApiServer, backend: FakeBackend) -> None:
    parser = _parser()

    async def run(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(argv)
        out, err = io.StringIO(), io.StringIO()
        url = resolve_url(args, default="http://127.0.0.1:1")
        code = await run_client_command(args.command, args, url=url, token=TOKEN, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    api = ("--api-url", server.url)
    code, out, err = await run(
        "submit", "watch", "--repo", "autoland", "--revision", REVISION, "--task-group", GROUP,
        "--label", LABEL, "--times", "3", "--green", "--task-id", GROUP, *api,
    )  # fmt: skip
    assert (code, err) == (0, "")
    campaign_id = out.strip()
    (submission,) = backend.submitted
    assert (submission.times, submission.green, submission.task_ids) == (3, True, (GROUP,))
    assert submission.record_only is False  # flags not given are not sent

    code, out, _ = await run("list", "--open", "--json", *api)
    assert [c["id"] for c in json.loads(out)] == [campaign_id]
    code, out, _ = await run("show", campaign_id[:5], *api)
    assert out.startswith(f"campaign {campaign_id} (watch): running")
    code, out, _ = await run("cancel", campaign_id, "--reason", "done here", *api)
    assert out.strip() == f"{campaign_id} canceled"
    code, _, err = await run("wait", campaign_id, "--interval", "0", *api)
    assert code == EXIT_NOT_FINISHED and "canceled: done here" in err

    code, _, err = await run(
        "submit", "watch", "--repo", "autoland", "--revision", REVISION, "--task-group", GROUP,
        *api,
    )  # fmt: skip
    assert code == EXIT_ERROR and "label: required" in err

    code, out, err = await run(
        "submit", "fill", "--repo", "autoland", "--revision", REVISION, "--include", "^test-",
        "--include", "mochitest", "--exclude=-asan", *api,
    )  # fmt: skip
    assert (code, err) == (0, "")
    fill = backend.submitted[-1]
    assert (fill.include, fill.exclude, fill.task_group) == (
        ("^test-", "mochitest"),
        ("-asan",),
        None,
    )
    code, out, err = await run(
        "submit", "until-fail", "--repo", "autoland", "--revision", REVISION, "--label", LABEL,
        "--batch", "2", "--budget", "10", "--keep-pending", *api,
    )  # fmt: skip
    assert (code, err) == (0, "")
    until = backend.submitted[-1]
    assert (until.batch, until.budget, until.keep_pending) == (2, 10, True)


async def test_a_call_after_close_leaves_no_unclosed_session() -> None:
    """A task still calling at shutdown must not make the closed client open a session
    nobody closes (asyncio logs "Unclosed client session" when it is collected)."""
    gc.collect()  # what earlier tests left unclosed is theirs, not this client's
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        client = MonitorClient(f"http://127.0.0.1:{_closed_port()}")
        await client.close()
        with pytest.raises(ApiClientError, match="client closed"):
            await client.list()
        del client
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert [c["message"] for c in reported] == []
    assert [str(w.message) for w in caught if "Unclosed" in str(w.message)] == []
