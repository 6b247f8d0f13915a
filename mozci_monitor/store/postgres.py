"""PostgreSQL store: the SQLite store's interface, shared by several daemons.

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

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.types.string import TextLoader

from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.codec import action_from_json, action_to_json, status_to_json
from mozci_monitor.core.machine import progress
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import (
    Request,
    TaskRecord,
    TimelineEntry,
)
from mozci_monitor.store._schema_pg import MIGRATIONS
from mozci_monitor.store.sqlite import (
    REJECTED_BODY_LIMIT,
    OutboxEntry,
    StoredEntry,
    StoreError,
    _policy_json,
)
from mozci_monitor.store.sqlite import _campaign_from_row as _sqlite_campaign_from_row
from mozci_monitor.store.sqlite import _outbox_from_row as _sqlite_outbox_from_row
from mozci_monitor.store.sqlite import _request_from_row as _sqlite_request_from_row
from mozci_monitor.store.sqlite import _task_from_row as _sqlite_task_from_row

log = structlog.get_logger(__name__)

SCHEMA_VERSION = len(MIGRATIONS)

# Advisory lock names (hashed to bigint keys by the server); advisory locks are per database.
_WRITE_LOCK = "mozci-monitor/write"
_MIGRATE_LOCK = "mozci-monitor/migrate"

Connection = psycopg.Connection[DictRow]


class PostgresStore:
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
        self._session = {
            "lock_timeout": f"{int(lock_timeout * 1000)}ms",
            "idle_in_transaction_session_timeout": f"{int(idle_in_transaction_timeout * 1000)}ms",
        }
        self._conn: Connection | None = None
        try:
            version = self.migrate() if migrate else self.schema_version()
        except psycopg.Error as error:
            self.close()
            raise StoreError(f"cannot use store {_redacted(dsn)}: {error}") from error
        if version != SCHEMA_VERSION:
            self.close()
            raise StoreError(
                f"store {_redacted(dsn)} has schema version {version}, this code needs"
                f" {SCHEMA_VERSION}"
                + (": run `mozci-monitor migrate`" if version < SCHEMA_VERSION else "")
            )

    # -- connection, schema and transactions ------------------------------------------------

    @property
    def _db(self) -> Connection:
        """The connection, opened again after it broke (the daemon retries the batch)."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = _connect(self.dsn, self._session)
            except psycopg.Error as error:
                raise StoreError(f"cannot connect to {_redacted(self.dsn)}: {error}") from error
        return self._conn

    def _execute(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> psycopg.Cursor[DictRow]:
        """Every statement with parameters: PostgreSQL text cannot hold NUL, which a
        hostile Pulse message may carry (SQLite stores it); it becomes U+FFFD."""
        if isinstance(params, Mapping):
            params = {name: _text(value) for name, value in params.items()}
        elif params is not None:
            params = [_text(value) for value in params]
        return self._db.execute(query, params)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def schema_version(self) -> int:
        """0 for an empty database."""
        row = self._execute("SELECT to_regclass('schema_version') IS NOT NULL AS present")
        found = row.fetchone()
        if found is None or not found["present"]:
            return 0
        latest = self._execute("SELECT max(version) AS version FROM schema_version").fetchone()
        return int(latest["version"] or 0) if latest else 0

    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns the version it is at."""
        db = self._db
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_MIGRATE_LOCK,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
            )
            version = self.schema_version()
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                db.execute(script)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
                log.info("store migrated", version=number)
                version = number
        return version

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One atomic, durable unit of work, serialised with every other instance's."""
        db = self._db
        with db.transaction(force_rollback=rollback):
            db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_WRITE_LOCK,))
            yield

    def probe_writable(self) -> None:
        """Raise StoreError unless a write can be committed now."""
        try:
            with self._db.transaction(force_rollback=True):
                row = self._execute("SELECT pg_is_in_recovery() AS standby").fetchone()
                if row is not None and row["standby"]:
                    raise StoreError(f"store {_redacted(self.dsn)} is a read-only standby")
                self._execute("UPDATE outbox SET attempts = attempts WHERE false")
        except psycopg.Error as error:
            raise StoreError(f"store {_redacted(self.dsn)} is not writable: {error}") from error

    # -- requests ---------------------------------------------------------------------------

    def add_request(self, request: Request, at: str) -> None:
        self._execute(
            "INSERT INTO requests (request_id, campaign_id, repo, revision, task_group_id, label,"
            " wanted, state, failure, reason, task_ids, created_at, updated_at, is_open, policy)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                request.request_id,
                request.campaign_id,
                request.push.repo,
                request.push.revision,
                request.push.task_group_id,
                request.label,
                request.wanted,
                request.state.value,
                request.failure.value if request.failure else None,
                request.reason,
                _json(list(request.task_ids)),
                at,
                at,
                request.is_watching,
                _json(json.loads(_policy_json(request))),
            ),
        )
        self._link(request.task_ids, request.request_id)

    def save_request(self, request: Request, at: str) -> None:
        cursor = self._execute(
            "UPDATE requests SET state=%s, failure=%s, reason=%s, task_ids=%s, updated_at=%s,"
            " is_open=%s, policy=%s WHERE request_id=%s",
            (
                request.state.value,
                request.failure.value if request.failure else None,
                request.reason,
                _json(list(request.task_ids)),
                at,
                request.is_watching,
                _json(json.loads(_policy_json(request))),
                request.request_id,
            ),
        )
        if cursor.rowcount != 1:
            raise StoreError(f"no request {request.request_id}")
        self._link(request.task_ids, request.request_id)

    def _link(self, task_ids: Sequence[str], request_id: str) -> None:
        if task_ids:
            self._execute(
                "INSERT INTO request_tasks (task_id, request_id)"
                " SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
                (list(task_ids), request_id),
            )

    def get_request(self, request_id: str) -> Request | None:
        row = self._execute(
            "SELECT * FROM requests WHERE request_id = %s", (request_id,)
        ).fetchone()
        return _request_from_row(row) if row else None

    def find_requests(self, prefix: str) -> list[Request]:
        """Requests whose id starts with `prefix` (so people can type a short id)."""
        rows = self._execute(
            "SELECT * FROM requests WHERE starts_with(request_id, %s) ORDER BY request_id",
            (prefix,),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    def list_requests(self, *, open_only: bool = False, limit: int = 1000) -> list[Request]:
        where = "WHERE is_open" if open_only else ""
        rows = self._execute(
            f"SELECT * FROM requests {where} ORDER BY created_at DESC, request_id LIMIT %s",
            (limit,),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    def count_open_requests(self) -> int:
        row = self._execute("SELECT count(*) AS n FROM requests WHERE is_open").fetchone()
        return int(row["n"]) if row else 0

    def open_task_groups(self) -> set[str]:
        """Groups to watch: those of open requests and of open campaigns (a fill or a
        downstream campaign watches its push before it has any request)."""
        rows = self._execute(
            "SELECT task_group_id FROM requests WHERE is_open"
            " UNION SELECT task_group_id FROM campaigns WHERE is_open"
        )
        return {row["task_group_id"] for row in rows}

    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]:
        """Requests that already own `task_id`, plus open ones wanting its group and label."""
        rows = self._execute(
            "SELECT r.* FROM request_tasks rt JOIN requests r USING (request_id)"
            " WHERE rt.task_id = %s",
            (task_id,),
        ).fetchall()
        if label is not None:
            rows += self._execute(
                "SELECT * FROM requests WHERE is_open AND task_group_id = %s AND label = %s",
                (task_group_id, label),
            ).fetchall()
        seen: dict[str, Request] = {}
        for row in rows:
            seen.setdefault(row["request_id"], _request_from_row(row))
        return list(seen.values())

    # -- tasks ------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self._execute("SELECT * FROM tasks WHERE task_id = %s", (task_id,)).fetchone()
        return _task_from_row(row) if row else None

    def get_tasks(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]:
        rows = self._execute(
            "SELECT * FROM tasks WHERE task_id = ANY(%s)", (list(task_ids),)
        ).fetchall()
        return {row["task_id"]: _task_from_row(row) for row in rows}

    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]:
        rows = self._execute(
            "SELECT * FROM tasks WHERE task_group_id = %s ORDER BY task_id", (task_group_id,)
        )
        return [_task_from_row(row) for row in rows]

    def save_task(self, record: TaskRecord, at: str) -> None:
        runs, rank = progress(record.status)
        self._execute(
            "INSERT INTO tasks (task_id, task_group_id, label, phase, reason, runs, rank, status,"
            " updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (task_id) DO UPDATE SET"
            " label=excluded.label, phase=excluded.phase, reason=excluded.reason,"
            " runs=excluded.runs, rank=excluded.rank, status=excluded.status,"
            " updated_at=excluded.updated_at",
            (
                record.task_id,
                record.task_group_id,
                record.label,
                record.phase.value,
                record.reason,
                runs,
                rank,
                _json(status_to_json(record.status)),
                at,
            ),
        )

    # -- timeline and rejections ----------------------------------------------------------

    def append_timeline(self, request_id: str, entries: Sequence[TimelineEntry], at: str) -> None:
        if not entries:
            return
        with self._db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO timeline (request_id, at, kind, task_id, detail)"
                " VALUES (%s,%s,%s,%s,%s)",
                [
                    (request_id, at, entry.kind, entry.task_id, _json(entry.detail))
                    for entry in entries
                ],
            )

    def timeline(self, request_id: str) -> list[StoredEntry]:
        rows = self._execute(
            "SELECT seq, at, kind, task_id, detail FROM timeline WHERE request_id = %s"
            " ORDER BY seq",
            (request_id,),
        )
        return [
            StoredEntry(
                int(row["seq"]), row["at"], row["kind"], row["task_id"], json.loads(row["detail"])
            )
            for row in rows
        ]

    def record_rejection(self, rejection: Rejection, at: str) -> None:
        self._execute(
            "INSERT INTO rejected (at, exchange, routing_key, reason, body)"
            " VALUES (%s,%s,%s,%s,%s)",
            (
                at,
                _text(rejection.exchange[:512]),
                _text(rejection.routing_key[:1024]),
                _text(rejection.reason),
                bytes(rejection.body[:REJECTED_BODY_LIMIT]),
            ),
        )

    def rejections(self, limit: int = 100) -> list[tuple[str, str, str, str]]:
        rows = self._execute(
            "SELECT at, exchange, routing_key, reason FROM rejected ORDER BY seq DESC LIMIT %s",
            (limit,),
        )
        return [(row["at"], row["exchange"], row["routing_key"], row["reason"]) for row in rows]

    def count_rejections(self) -> int:
        row = self._execute("SELECT count(*) AS n FROM rejected").fetchone()
        return int(row["n"]) if row else 0

    # -- small facts the daemons keep across restarts --------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """One statement, so atomic on its own (no write lock needed)."""
        self._execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- campaigns --------------------------------------------------------------------------

    def add_campaign(self, campaign: Campaign, at: str) -> None:
        self._execute(
            "INSERT INTO campaigns (campaign_id, kind, repo, revision, task_group_id, label,"
            " params, state, outcome, summary, max_actions, actions, dry_run, created_at,"
            " updated_at, is_open) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                campaign.campaign_id,
                campaign.kind.value,
                campaign.push.repo,
                campaign.push.revision,
                campaign.push.task_group_id,
                campaign.label,
                _json(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                _json(dict(campaign.summary)),
                campaign.max_actions,
                campaign.actions,
                campaign.dry_run,
                at,
                at,
                not campaign.is_final,
            ),
        )

    def save_campaign(self, campaign: Campaign, at: str) -> None:
        cursor = self._execute(
            "UPDATE campaigns SET params=%s, state=%s, outcome=%s, summary=%s, actions=%s,"
            " updated_at=%s, is_open=%s WHERE campaign_id=%s",
            (
                _json(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                _json(dict(campaign.summary)),
                campaign.actions,
                at,
                not campaign.is_final,
                campaign.campaign_id,
            ),
        )
        if cursor.rowcount != 1:
            raise StoreError(f"no campaign {campaign.campaign_id}")

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        row = self._execute(
            "SELECT * FROM campaigns WHERE campaign_id = %s", (campaign_id,)
        ).fetchone()
        return _campaign_from_row(row) if row else None

    def find_campaigns(self, prefix: str) -> list[Campaign]:
        rows = self._execute(
            "SELECT * FROM campaigns WHERE starts_with(campaign_id, %s) ORDER BY campaign_id",
            (prefix,),
        ).fetchall()
        return [_campaign_from_row(row) for row in rows]

    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]:
        where = "WHERE is_open" if open_only else ""
        rows = self._execute(
            f"SELECT * FROM campaigns {where} ORDER BY created_at DESC, campaign_id LIMIT %s",
            (limit,),
        ).fetchall()
        return [_campaign_from_row(row) for row in rows]

    def campaign_requests(self, campaign_id: str) -> list[Request]:
        rows = self._execute(
            "SELECT * FROM requests WHERE campaign_id = %s ORDER BY created_at, request_id",
            (campaign_id,),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    # -- outbox -----------------------------------------------------------------------------

    def add_action(self, action: Action, at: str) -> bool:
        """Queue an action under its idempotency key; False when the key was already there."""
        cursor = self._execute(
            "INSERT INTO outbox (key, kind, request_id, campaign_id, repo, day, payload,"
            " created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (key) DO NOTHING",
            (
                action.key,
                action.kind.value,
                action.request_id,
                action.campaign_id,
                action.push.repo if action.push else None,
                at[:10],
                _json(action_to_json(action)),
                at,
            ),
        )
        return cursor.rowcount == 1

    def count_actions(self, *, repo: str, day: str) -> int:
        """Actions other than notifications queued for a repository on a UTC day."""
        row = self._execute(
            "SELECT count(*) AS n FROM outbox WHERE repo = %s AND day = %s AND kind != 'notify'",
            (repo, day),
        ).fetchone()
        return int(row["n"]) if row else 0

    def pending_actions(self, limit: int = 100) -> list[OutboxEntry]:
        """Every pending entry, claimed or not (for people and single-instance use)."""
        rows = self._execute(
            "SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, key LIMIT %s",
            (limit,),
        ).fetchall()
        return [_outbox_from_row(row) for row in rows]

    def claim_actions(
        self, owner: str, *, lease_seconds: float, limit: int = 100
    ) -> list[OutboxEntry]:
        """Claim pending entries for `owner` until the lease runs out (database clock).

        Returns entries nobody holds, entries whose lease ran out (their claimer died or
        hung: in doubt if started) and entries `owner` already holds (lease extended), oldest
        first. Rows another transaction is claiming right now are skipped, not waited for.
        """
        rows = self._execute(
            "UPDATE outbox SET claimed_by = %(owner)s, lease_seconds = %(lease)s,"
            " lease_until = clock_timestamp() + make_interval(secs => %(lease)s)"
            " WHERE key IN ("
            "  SELECT key FROM outbox WHERE state = 'pending'"
            "  AND (claimed_by IS NULL OR claimed_by = %(owner)s"
            "       OR lease_until <= clock_timestamp())"
            "  ORDER BY created_at, key LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            {"owner": owner, "lease": float(lease_seconds), "limit": limit},
        ).fetchall()
        entries = [_outbox_from_row(row) for row in rows]
        return sorted(entries, key=lambda entry: (entry.created_at, entry.key))

    def release_actions(self, owner: str) -> int:
        """Give up `owner`'s claims on pending entries (clean shutdown): others take them now."""
        cursor = self._execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
            " WHERE claimed_by = %s AND state = 'pending'",
            (owner,),
        )
        return cursor.rowcount

    def claim_of(self, key: str) -> tuple[str | None, bool]:
        """(claimer, lease still running) of an entry; for tests and `show`."""
        row = self._execute(
            "SELECT claimed_by, coalesce(lease_until > clock_timestamp(), false) AS live"
            " FROM outbox WHERE key = %s",
            (key,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no outbox entry {key}")
        return row["claimed_by"], bool(row["live"])

    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]:
        column, value = ("request_id", request_id) if request_id else ("campaign_id", campaign_id)
        rows = self._execute(
            f"SELECT * FROM outbox WHERE {column} = %s ORDER BY created_at, key", (value,)
        ).fetchall()
        return [_outbox_from_row(row) for row in rows]

    def count_done_like(self, action: Action) -> int:
        """Done outbox entries of the same kind, task and labels in the same push.

        Used to tell, after a crash, whether an action task found in the push's group
        is ours or one we already accounted for.
        """
        rows = self._execute(
            "SELECT payload FROM outbox WHERE state = 'done' AND kind = %s"
            " AND repo IS NOT DISTINCT FROM %s",
            (action.kind.value, action.push.repo if action.push else None),
        )
        count = 0
        for row in rows:
            other = action_from_json(json.loads(row["payload"]))
            if (
                other.push == action.push
                and other.task_id == action.task_id
                and sorted(other.labels) == sorted(action.labels)
                and not (other.request_id == action.request_id and other.key == action.key)
            ):
                count += 1
        return count

    # The `mark_action_*` calls without `owner` are SQLite's (return None, satisfy today's
    # OutboxStore protocol); with `owner` they are fenced on the claim and say whether this
    # instance still held it: False means another one took the entry over and this one
    # must not attempt it (or record its outcome).

    def mark_action_started(self, key: str, at: str, *, owner: str | None = None) -> bool | None:
        """Recorded before the action is attempted, so a crash leaves evidence to check.

        With `owner`, starting renews the claim for a whole lease: an instance works
        through the entries it claimed one after the other, and the lease must cover one
        attempt, not the whole batch.
        """
        cursor = self._execute(
            "UPDATE outbox SET attempts = attempts + 1, started_at = %(at)s,"
            " lease_until = CASE WHEN %(owner)s::text IS NULL THEN lease_until"
            "  ELSE clock_timestamp() + make_interval(secs => coalesce(lease_seconds, 0)) END"
            " WHERE key = %(key)s AND (%(owner)s::text IS NULL OR claimed_by = %(owner)s)",
            {"at": at, "key": key, "owner": owner},
        )
        return None if owner is None else cursor.rowcount == 1

    def mark_action_done(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None:
        cursor = self._execute(
            "UPDATE outbox SET state = 'done', done_at = %s, result = %s, last_error = NULL,"
            " lease_until = NULL WHERE key = %s AND (%s::text IS NULL OR claimed_by = %s)",
            (at, result, key, owner, owner),
        )
        return None if owner is None else cursor.rowcount == 1

    def mark_action_failed(
        self, key: str, at: str, error: str, *, final: bool, owner: str | None = None
    ) -> bool | None:
        cursor = self._execute(
            "UPDATE outbox SET last_error = %(error)s,"
            " state = CASE WHEN %(final)s THEN 'failed' ELSE state END,"
            " done_at = CASE WHEN %(final)s THEN %(at)s ELSE done_at END,"
            " lease_until = CASE WHEN %(final)s THEN NULL ELSE lease_until END"
            " WHERE key = %(key)s AND (%(owner)s::text IS NULL OR claimed_by = %(owner)s)",
            {"error": _text(error[:2000]), "final": final, "at": at, "key": key, "owner": owner},
        )
        return None if owner is None else cursor.rowcount == 1

    # -- leases -----------------------------------------------------------------------------

    def try_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold `name` for `seconds` (database clock) unless another owner holds it now.

        The holder taking it again extends it. Not releasing a lease is how "at most once
        per period across instances" is said (e.g. reconcile group G at most every N s).
        """
        row = self._execute(
            "INSERT INTO leases (name, owner, until)"
            " VALUES (%(name)s, %(owner)s, clock_timestamp() + make_interval(secs => %(s)s))"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
            " WHERE leases.owner = excluded.owner OR leases.until <= clock_timestamp()"
            " RETURNING owner",
            {"name": name, "owner": owner, "s": float(seconds)},
        ).fetchone()
        return row is not None

    def release_lease(self, name: str, owner: str) -> bool:
        cursor = self._execute("DELETE FROM leases WHERE name = %s AND owner = %s", (name, owner))
        return cursor.rowcount == 1

    def lease_holder(self, name: str) -> str | None:
        row = self._execute(
            "SELECT owner FROM leases WHERE name = %s AND until > clock_timestamp()", (name,)
        ).fetchone()
        return row["owner"] if row else None


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


def _redacted(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparseable dsn>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


def _text(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _json(value: Any) -> str:
    """JSON text for a JSONB column, which refuses \\u0000 escapes (U+FFFD instead)."""
    return _JSON_NUL.sub(r"\1\\ufffd", json.dumps(value, separators=(",", ":")))


def _row(row: Mapping[str, Any]) -> sqlite3.Row:
    """The SQLite store's row converters read any mapping with the same columns.

    JSON columns come back as text (see `_connect`), so both stores decode them with the
    same code and a field added to the model is stored by both or by neither.
    """
    return cast(sqlite3.Row, row)


def _request_from_row(row: Mapping[str, Any]) -> Request:
    return _sqlite_request_from_row(_row(row))


def _task_from_row(row: Mapping[str, Any]) -> TaskRecord:
    return _sqlite_task_from_row(_row(row))


def _campaign_from_row(row: Mapping[str, Any]) -> Campaign:
    return _sqlite_campaign_from_row(_row(row))


def _outbox_from_row(row: Mapping[str, Any]) -> OutboxEntry:
    return _sqlite_outbox_from_row(_row(row))
