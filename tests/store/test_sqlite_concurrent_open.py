"""Two processes opening a new SQLite store at once (the daemon starting while a CLI
command records a campaign) both end up with the schema, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.store import sqlite as sqlite_store
from mozci_monitor.store.dialect import statements
from mozci_monitor.store.sqlite import MIGRATIONS, SqliteStore


class _Interleaving:
    """A connection that lets another one migrate the file right after it read the schema
    version: the worst moment for a check-then-act migration."""

    def __init__(self, connection: sqlite3.Connection, other: Path, log: list[str]) -> None:
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_other", other)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._connection, name, value)

    def execute(self, sql: str, *args: Any) -> Any:
        result = self._connection.execute(sql, *args)
        if sql == "PRAGMA user_version" and not self._log:
            self._log.append(self._migrate_from_elsewhere())
        return result

    def _migrate_from_elsewhere(self) -> str:
        other = sqlite3.connect(self._other, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return "locked out"  # the reader holds the write lock: it cannot interleave
        for statement in statements(MIGRATIONS[0]):
            other.execute(statement)
        other.execute("PRAGMA user_version=1")
        other.execute("COMMIT")
        other.close()
        return "migrated"


def test_a_migration_step_runs_once_when_two_open_a_new_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite3"
    log: list[str] = []
    connect = sqlite3.connect

    def interleaving_connect(*args: Any, **kwargs: Any) -> Any:
        return _Interleaving(connect(*args, **kwargs), path, log)

    monkeypatch.setattr(sqlite_store.sqlite3, "connect", interleaving_connect)
    store = SqliteStore(path)  # with a check-then-act migration: "table already exists"
    store.close()
    assert log == ["locked out"]
    monkeypatch.undo()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
