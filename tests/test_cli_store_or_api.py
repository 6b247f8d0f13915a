"""`list` and `show` print the same whether they read the store or ask the daemon's API.

The API is served by the daemon's own backend (`DaemonApiBackend`) over the same store, in
a thread of its own, and the CLI asks it over HTTP with `--api-url`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from store.pulse_builder import GROUP, LABEL, FakeTask, slug
from support.offline_cli import every_push_agrees

from mozci_monitor.api import create_app
from mozci_monitor.api_backend import DaemonApiBackend
from mozci_monitor.cli import main
from mozci_monitor.store.sqlite import SqliteStore

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    every_push_agrees(monkeypatch)  # made-up pushes, no network: see support/offline_cli.py


T = TypeVar("T")


class _Reader:
    """The one daemon method the API's reads use: run a read on the store."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def in_reader(self, read: Callable[[SqliteStore], T]) -> T:
        return read(self._store)


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    """The API over the store at tmp_path/state.sqlite3, served from another thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    address: list[str] = []
    stop = asyncio.Event()

    async def serve() -> None:
        store = SqliteStore(tmp_path / "state.sqlite3")
        # Reads only: no campaign service is needed.
        backend: Any = DaemonApiBackend(_Reader(store), store, None)  # type: ignore[arg-type]
        runner = web.AppRunner(create_app(backend, token=None))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        address.append(f"http://{host}:{port}")
        started.set()
        await stop.wait()
        await runner.cleanup()
        store.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the API did not start"
    yield address[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_list_and_show_read_the_same_from_the_store_and_from_the_api(
    tmp_path: Path, api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ("--store", str(tmp_path / "state.sqlite3"))
    watch = ["--repo", "autoland", "--revision", REVISION, "--task-group", GROUP]
    first = _run(capsys, "watch", *watch, "--label", LABEL, "--times", "2", *store).strip()
    _run(capsys, "watch", *watch, "--label", "test-windows10-64/debug-xpcshell-3", *store)
    # Some history for the timeline: a task of the first request runs.
    task = FakeTask(slug(1))
    messages = tmp_path / "messages.jsonl"
    messages.write_text("".join(m.jsonl() + "\n" for m in (task.pending(), task.running())))
    _run(capsys, "replay", str(messages), *store)

    for argv in (
        ["list"],
        ["list", "--json"],
        ["list", "--open"],
        ["show", first],
        ["show", first, "--json"],
        ["show", first[:8]],
    ):
        from_store = _run(capsys, *argv, *store)
        from_api = _run(capsys, *argv, "--api-url", api_url)
        assert from_store == from_api, argv
        assert first in from_store
    assert "running" in _run(capsys, "show", first, *store)  # the replayed task counted
