"""What differs between SQL databases, and nothing else: the store is written once above it.

A `Connector` owns one connection and knows its database's dialect: how parameters are
written, the database clock, how a writer excludes other writers, how rows are claimed
without waiting, how values are adapted, and how the schema is migrated. Queries are written
with `?` placeholders and portable SQL (`ON CONFLICT … DO NOTHING`, row values, `RETURNING`,
`IS NOT DISTINCT FROM`), which SQLite ≥ 3.39 and PostgreSQL both understand.

Adding a dialect: a `Connector` for it (a module beside `sqlite.py`), its schema as
`migrations/<dialect>/0001_initial.sql` onwards, a `SqlStore` subclass that opens it, a
branch where the configured store is built, and a parameter of the `open_store` fixture
in tests/store_contract, whose tests then run on it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import msgspec

Row = Mapping[str, Any]

_ENCODER = msgspec.json.Encoder()


def json_text(value: Any) -> str:
    """Compact JSON text of plain data, for a JSON column. msgspec's encoder: ten times
    the standard library's speed, and a batch encodes every task status, request policy
    and timeline entry it wrote (non-ASCII is kept as UTF-8 rather than escaped)."""
    return _ENCODER.encode(value).decode()


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[Row]
    rowcount: int

    def one(self) -> Row | None:
        return self.rows[0] if self.rows else None


class Connector(Protocol):
    # SQL text the store splices into its queries
    now: str  # the database clock (lease times are the database's, never a host's)
    skip_locked: str  # appended to a SELECT whose rows are claimed: skip, do not wait

    @property
    def description(self) -> str:
        """The database, for messages (never a password)."""
        ...

    def later(self, seconds: str) -> str:
        """SQL for the database clock plus the SQL expression `seconds`."""
        ...

    def execute(self, query: str, params: Sequence[Any] = ()) -> Result: ...
    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run `query` once per row; the rows it changed, summed over all of them."""
        ...

    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]:
        """Atomic, durable, and the only writer of the database while it lasts."""
        ...

    def probe_writable(self) -> None: ...
    def json(self, value: Any) -> str:
        """JSON text as this database stores it."""
        ...

    def reader(self) -> Connector:
        """Another, read-only connection to the same database (or this one if there is no
        other, e.g. an in-memory SQLite database)."""
        ...

    def writer(self) -> Connector:
        """Another read-write connection to the same database, for a writer that must not
        queue behind this one's transactions; this one where writers cannot work side by
        side anyway (a database-wide write lock)."""
        ...

    def close(self) -> None: ...


def migrations(dialect: str) -> tuple[str, ...]:
    """The schema as numbered SQL scripts (`migrations/<dialect>/NNNN_name.sql`), in order.

    Applied in order and recorded by the connector (SQLite: `PRAGMA user_version`,
    PostgreSQL: the `schema_version` table). Never edit a released one: add the next.
    """
    folder = resources.files("mozci_monitor.store").joinpath("migrations", dialect)
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return tuple(folder.joinpath(name).read_text(encoding="utf-8") for name in names)


def statements(script: str) -> Iterator[str]:
    """A migration's statements (they hold no `;` inside literals)."""
    for statement in script.split(";"):
        if statement.strip():
            yield statement
