"""One store contract, two stores: every test here runs on SQLite and on PostgreSQL.

`open_store()` opens another connection to the same database (a second daemon, the CLI);
`store` is the first one. PostgreSQL comes from tests/pg.py (a throw-away cluster; the
postgres half skips without it, fails when CI is set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg import pg_dsn, postgres  # noqa: F401  (fixtures)

from mozci_monitor.store.postgres import PostgresStore
from mozci_monitor.store.sqlite import SqliteStore

AnyStore = SqliteStore | PostgresStore
OpenStore = Callable[[], AnyStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[AnyStore] = []
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"

        def make() -> AnyStore:
            return SqliteStore(path)
    else:
        dsn = request.getfixturevalue("pg_dsn")

        def make() -> AnyStore:
            return PostgresStore(dsn)

    def open_one() -> AnyStore:
        store = make()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore) -> AnyStore:
    return open_store()


@pytest.fixture
def kind(store: AnyStore) -> str:
    return "postgres" if isinstance(store, PostgresStore) else "sqlite"
