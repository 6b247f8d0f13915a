"""CLI commands over the store: `prune [--dry-run]` (the retention pass, once, saying what it
deleted) and `list`, which shows every request, not the newest thousand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from store.pulse_builder import make_request

from mozci_monitor.cli import main
from mozci_monitor.core.messages import Rejection
from mozci_monitor.store.sqlite import SqliteStore

LONG_AGO = "2020-01-01T00:00:00.000Z"  # older than any retention default
FUTURE = "2999-01-01T00:00:00.000Z"  # newer than any run of this test


def test_prune_dry_run_counts_then_prune_deletes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    with store.transaction():
        for n in range(3):
            store.record_rejection(Rejection("ex", "rk", f"old {n}", b"x"), LONG_AGO)
        store.record_rejection(Rejection("ex", "rk", "kept", b"x"), FUTURE)
    store.close()

    assert main(["prune", "--dry-run", "--store", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "would delete 3 rejected row(s)",
        "would delete 0 tasks row(s)",
    ]
    assert main(["prune", "--store", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "deleted 3 rejected row(s)",
        "deleted 0 tasks row(s)",
    ]

    reopened = SqliteStore(path)
    try:
        assert [r.reason for r in reopened.rejections()] == ["kept"]
    finally:
        reopened.close()


def test_list_shows_every_request_newest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    with store.transaction():
        store.add_request(make_request("oldest"), LONG_AGO)
        for n in range(1_050):
            store.add_request(make_request(f"r-{n:04d}"), FUTURE)
    store.close()

    assert main(["list", "--requests", "--open", "--json", "--store", str(path)]) == 0
    listed = [entry["id"] for entry in json.loads(capsys.readouterr().out)]

    assert len(listed) == 1_051
    assert listed[-1] == "oldest"
