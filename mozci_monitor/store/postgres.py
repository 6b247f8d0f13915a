"""PostgreSQL: the store shared by several daemons (the queries are `store.sql`'s).

Why a synchronous driver (psycopg 3) and not asyncpg: the store port is synchronous by
design. Each daemon runs every store call on one dedicated thread, and the engine wraps a
whole batch in one `with store.transaction():` block of plain calls. asyncpg would force
an async store port (and an event loop inside the store thread, or store calls on the
daemon's loop competing with Pulse and HTTP work); psycopg keeps the port, the engine and
the SQLite store unchanged.

How several daemons share it safely:

* Write transactions are serialised by one transaction-scoped advisory lock
  (`pg_advisory_xact_lock`), taken when `transaction()` begins: the engine gets exactly the
  single-writer semantics it has on SQLite (BEGIN IMMEDIATE), so updates to one request
  never interleave, and the budgets it reads across many rows (campaign actions, a
  repository's actions per day) stay exact across instances. Row locks on the request
  alone would not cover those budgets, and taking them in the engine's access order
  (request, campaign, next request) deadlocks between two batches. The serialised part is
  short (no network I/O ever runs inside it); parsing, actions, notifications and REST
  reconciliation run in parallel on every instance.
* The outbox key is the primary key: `add_action` is INSERT … ON CONFLICT DO NOTHING, so an
  intent is queued once however many instances decide it.
* Performing is claimed: `claim_actions` takes pending entries with SELECT … FOR UPDATE
  SKIP LOCKED and stamps them with the claimer and a lease (database clock), so two
  instances never attempt one entry at once; `mark_action_*(…, owner=…)` are fenced on the
  claim, so an instance whose lease was taken over learns it before acting. Entries of an
  instance that died are claimed again when its lease runs out, and found *in doubt* by
  the actuator (started, not done), which checks Taskcluster before acting again.
  Notifications are outbox entries too: the same claim sends them once.
* Reconciliation and other periodic chores take a named lease (`try_lease`) in the leases
  table: at most one instance reconciles a task group within a lease period; a lease
  outlives a crash only until it expires (a session advisory lock would be released by the
  connection drop, but also held for ever by a hung instance whose connection lives on).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.types.string import TextLoader

from mozci_monitor.core.errors import StoreError
from mozci_monitor.redact import redact_text
from mozci_monitor.store.dialect import Result, json_text, migrations
from mozci_monitor.store.sql import SqlStore

log = structlog.get_logger(__name__)

MIGRATIONS = migrations("postgres")
SCHEMA_VERSION = len(MIGRATIONS)

# Advisory lock names (hashed to bigint keys by the server); advisory locks are per database.
_WRITE_LOCK = "mozci-monitor/write"
_MIGRATE_LOCK = "mozci-monitor/migrate"

Connection = psycopg.Connection[DictRow]


class PostgresConnector:
    now = "clock_timestamp()"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, dsn: str, session: Mapping[str, str]) -> None:
        self.dsn = dsn
        self._session = dict(session)
        self._conn: Connection | None = None

    @property
    def description(self) -> str:
        return redact_text(self.dsn)

    @property
    def connection(self) -> Connection:
        """The connection, opened again after it broke (the daemon retries the batch)."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = _connect(self.dsn, self._session)
            except psycopg.Error as error:
                raise StoreError(f"cannot connect to {self.description}: {error}") from error
        return self._conn

    def later(self, seconds: str) -> str:
        return f"(clock_timestamp() + make_interval(secs => {seconds}))"

    def json(self, value: Any) -> str:
        """JSON text for a JSONB column, which refuses \\u0000 escapes (U+FFFD instead)."""
        return _JSON_NUL.sub(r"\1\\ufffd", json_text(value))

    def execute(self, query: str, params: Sequence[Any] = ()) -> Result:
        """PostgreSQL text cannot hold NUL, which a hostile Pulse message may carry (SQLite
        stores it): it becomes U+FFFD."""
        try:
            cursor = self.connection.execute(_placeholders(query), [_text(p) for p in params])
            rows: list[Any] = cursor.fetchall() if cursor.description else []
        except psycopg.Error as error:
            raise StoreError(f"store {self.description}: {error}") from error
        return Result(rows, cursor.rowcount)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        try:
            with self.connection.cursor() as cursor:
                cursor.executemany(
                    _placeholders(query), [[_text(value) for value in row] for row in rows]
                )
                return cursor.rowcount  # summed over the rows (psycopg >= 3.1)
        except psycopg.Error as error:
            raise StoreError(f"store {self.description}: {error}") from error

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """Serialised with every other instance's by the advisory write lock."""
        try:
            with self.connection.transaction(force_rollback=rollback):
                self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [_WRITE_LOCK])
                yield
        except psycopg.Error as error:
            raise StoreError(f"store {self.description}: {error}") from error

    def probe_writable(self) -> None:
        try:
            with self.connection.transaction(force_rollback=True):
                row = self.execute("SELECT pg_is_in_recovery() AS standby").one()
                if row is not None and row["standby"]:
                    raise StoreError(f"store {self.description} is a read-only standby")
                self.execute("UPDATE outbox SET attempts = attempts WHERE false")
        except (psycopg.Error, StoreError) as error:
            raise StoreError(f"store {self.description} is not writable: {error}") from error

    def schema_version(self) -> int:
        """0 for an empty database."""
        found = self.execute("SELECT to_regclass('schema_version') IS NOT NULL AS present").one()
        if found is None or not found["present"]:
            return 0
        latest = self.execute("SELECT max(version) AS version FROM schema_version").one()
        return int(latest["version"] or 0) if latest else 0

    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns the version it is at."""
        try:
            with self.connection.transaction():
                self.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [_MIGRATE_LOCK]
                )
                self.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY,"
                    " applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
                )
                version = self.schema_version()
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    self.connection.execute(script.encode())
                    self.execute("INSERT INTO schema_version (version) VALUES (?)", [number])
                    log.info("store migrated", version=number)
                    version = number
        except psycopg.Error as error:
            raise StoreError(f"cannot migrate store {self.description}: {error}") from error
        return version

    def reader(self) -> PostgresConnector:
        return PostgresConnector(self.dsn, {**self._session, "default_transaction_read_only": "on"})

    def writer(self) -> PostgresConnector:
        return PostgresConnector(self.dsn, self._session)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresStore(SqlStore):
    """`PostgresStore(dsn)`: a libpq connection string or URL (postgresql://…).

    `migrate=True` (the default) brings the schema up to date on connect, under an advisory
    lock so instances starting together migrate once; with `migrate=False` a schema older
    than this code is an error (run `mozci-monitor migrate` first). A schema newer than
    this code is always an error: an old binary must not write to it.
    """

    def __init__(
        self,
        dsn: str,
        *,
        migrate: bool = True,
        lock_timeout: float = 60.0,
        idle_in_transaction_timeout: float = 60.0,
    ) -> None:
        self.dsn = dsn
        # Guards of the instance-wide write lock: a frozen instance (SIGSTOP, swapped
        # out, a debugger) whose connection lives on must not stall every other one. The
        # server ends its session once it idles inside a transaction that long (the lock
        # goes with it); a waiter gives up after `lock_timeout` and the daemon retries the
        # batch while reporting the store as not writable.
        self._connector = PostgresConnector(
            dsn,
            {
                "lock_timeout": f"{int(lock_timeout * 1000)}ms",
                "idle_in_transaction_session_timeout": (
                    f"{int(idle_in_transaction_timeout * 1000)}ms"
                ),
            },
        )
        super().__init__(self._connector)
        try:
            version = self.migrate() if migrate else self.schema_version()
        except StoreError:
            self.close()
            raise
        if version != SCHEMA_VERSION:
            self.close()
            raise StoreError(
                f"store {redact_text(dsn)} has schema version {version}, this code needs"
                f" {SCHEMA_VERSION}"
                + (": run `mozci-monitor migrate`" if version < SCHEMA_VERSION else "")
            )

    @property
    def _db(self) -> Connection:
        return self._connector.connection

    def schema_version(self) -> int:
        return self._connector.schema_version()

    def migrate(self) -> int:
        return self._connector.migrate()


def _connect(dsn: str, session: Mapping[str, str]) -> Connection:
    params = conninfo_to_dict(dsn)
    # libpq waits for ever by default: an unreachable server would hold the store thread
    # (and the daemon's health) hostage. Keepalives notice a dead peer mid-query.
    defaults = {
        "connect_timeout": "10",
        "keepalives": "1",
        "keepalives_idle": "30",
        "keepalives_interval": "10",
        "keepalives_count": "3",
    }
    missing = {key: value for key, value in defaults.items() if key not in params}
    conn = psycopg.connect(make_conninfo(dsn, **missing), autocommit=True, row_factory=dict_row)
    for name, value in session.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    # JSON as text, decoded by the same converters as SQLite's (stored as JSONB so that
    # people can query into it).
    conn.adapters.register_loader("jsonb", TextLoader)
    return conn


@lru_cache(maxsize=512)
def _placeholders(query: str) -> str:
    """`?` → `%s` (queries hold no `?` or `%` of their own)."""
    return query.replace("%", "%%").replace("?", "%s")


def _text(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
