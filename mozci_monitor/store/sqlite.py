"""SQLite: the store on one host.

WAL mode with synchronous=FULL: a commit is on disk when `commit` returns, which is what
lets the daemon ack a Pulse message right after. The writer's connection is used by one
thread at a time (`check_same_thread=False` only lets the CLI and tests create it on one
thread and use it on another); readers get their own read-only connection, which WAL lets
read beside an open write transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mozci_monitor.core.errors import StoreError
from mozci_monitor.store.dialect import Result, json_text, migrations, statements
from mozci_monitor.store.sql import SqlStore

MIGRATIONS = migrations("sqlite")

# Epoch seconds with sub-second precision: what lease columns hold on SQLite.
_NOW = "((julianday('now') - 2440587.5) * 86400.0)"


class SqliteConnector:
    now = _NOW
    skip_locked = ""  # one writer at a time: a claim never meets another in progress

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self._read_only = read_only
        try:
            if read_only:
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
                )
            else:
                self._db = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=10.0
                )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open store {self.path}: {error}") from error
        self._db.row_factory = sqlite3.Row
        if read_only:
            return
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"cannot use store {self.path}: {error}") from error

    @property
    def description(self) -> str:
        return self.path

    def later(self, seconds: str) -> str:
        return f"({_NOW} + {seconds})"

    def json(self, value: Any) -> str:
        return json_text(value)

    def _migrate(self) -> None:
        # The version is read under the write lock: a daemon and a CLI command opening a new
        # store at once must not both run the same step ("table requests already exists").
        while True:
            with self.transaction():
                version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
                if version >= len(MIGRATIONS):
                    return
                for statement in statements(MIGRATIONS[version]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={version + 1}")

    def execute(self, query: str, params: Sequence[Any] = ()) -> Result:
        try:
            cursor = self._db.execute(query, params)
            rows: list[Any] = cursor.fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from error
        return Result(rows, cursor.rowcount)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        try:
            return self._db.executemany(query, rows).rowcount  # summed over the rows
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from error

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        # IMMEDIATE takes the write lock now, so two writers never both read then write.
        self._end("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._end("ROLLBACK")
            raise
        self._end("ROLLBACK" if rollback else "COMMIT")

    def _end(self, statement: str) -> None:
        try:
            self._db.execute(statement)
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {statement}: {error}") from error

    def probe_writable(self) -> None:
        try:
            with self.transaction(rollback=True):
                self._db.execute("UPDATE outbox SET attempts = attempts WHERE 0")
                self._db.execute("PRAGMA user_version=" + str(len(MIGRATIONS)))
        except (sqlite3.Error, StoreError) as error:
            raise StoreError(f"store {self.path} is not writable: {error}") from error

    def reader(self) -> SqliteConnector:
        if self._read_only or self.path == ":memory:":
            return self  # an in-memory database has no other connection to open
        return SqliteConnector(self.path, read_only=True)

    def writer(self) -> SqliteConnector:
        # One write lock per database, which a batch holds for its whole transaction: a
        # second connection's writes poll for it (SQLite's busy handler) and starve behind
        # back-to-back batches (measured: action latency p99 1.7 s, against 0.16 s when
        # they take turns on this connection's thread). So a writer shares this one.
        return self

    def close(self) -> None:
        self._db.close()


class SqliteStore(SqlStore):
    """`SqliteStore(path)`: opening it creates or migrates the schema."""

    def __init__(self, path: str | Path) -> None:
        self._connector = SqliteConnector(path)
        self.path = self._connector.path
        super().__init__(self._connector)
