"""SQLite store: requests, tasks, the append-only timeline, rejected messages, the outbox.

WAL mode with synchronous=FULL: a commit is on disk when `commit` returns, which is what
lets the daemon ack a Pulse message right after. One connection per store object; the
daemon keeps its store on one worker thread (`check_same_thread=False` only lets the CLI
and tests create it on one thread and use it on another, never concurrently).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.codec import (
    action_from_json,
    action_to_json,
    status_from_json,
    status_to_json,
)
from mozci_monitor.core.machine import progress
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import (
    FailureKind,
    Phase,
    Push,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TimelineEntry,
)

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        request_id    TEXT PRIMARY KEY,
        campaign_id   TEXT,
        repo          TEXT NOT NULL,
        revision      TEXT NOT NULL,
        task_group_id TEXT NOT NULL,
        label         TEXT NOT NULL,
        wanted        INTEGER NOT NULL,
        state         TEXT NOT NULL,
        failure       TEXT,
        reason        TEXT,
        task_ids      TEXT NOT NULL DEFAULT '[]',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        is_open       INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX requests_open_group_label ON requests (task_group_id, label) WHERE is_open;
    CREATE TABLE request_tasks (
        task_id    TEXT NOT NULL,
        request_id TEXT NOT NULL REFERENCES requests (request_id),
        PRIMARY KEY (task_id, request_id)
    ) WITHOUT ROWID;
    CREATE TABLE tasks (
        task_id       TEXT PRIMARY KEY,
        task_group_id TEXT NOT NULL,
        label         TEXT,
        phase         TEXT NOT NULL,
        reason        TEXT,
        runs          INTEGER NOT NULL,
        rank          INTEGER NOT NULL,
        status        TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX tasks_group_label ON tasks (task_group_id, label);
    CREATE TABLE timeline (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        at         TEXT NOT NULL,
        kind       TEXT NOT NULL,
        task_id    TEXT,
        detail     TEXT NOT NULL
    );
    CREATE INDEX timeline_request ON timeline (request_id, seq);
    CREATE TABLE rejected (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        exchange    TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        reason      TEXT NOT NULL,
        body        BLOB NOT NULL
    );
    CREATE TABLE outbox (
        key        TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        request_id TEXT,
        payload    TEXT NOT NULL,
        state      TEXT NOT NULL DEFAULT 'pending',
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at TEXT NOT NULL,
        done_at    TEXT
    );
    CREATE INDEX outbox_pending ON outbox (created_at) WHERE state = 'pending';
    """,
    """
    ALTER TABLE requests ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX requests_campaign ON requests (campaign_id);
    CREATE TABLE campaigns (
        campaign_id   TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        repo          TEXT NOT NULL,
        revision      TEXT NOT NULL,
        task_group_id TEXT NOT NULL,
        label         TEXT,
        params        TEXT NOT NULL,
        state         TEXT NOT NULL,
        outcome       TEXT,
        summary       TEXT NOT NULL,
        max_actions   INTEGER,
        actions       INTEGER NOT NULL DEFAULT 0,
        dry_run       INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        is_open       INTEGER NOT NULL DEFAULT 1
    );
    ALTER TABLE outbox ADD COLUMN campaign_id TEXT;
    ALTER TABLE outbox ADD COLUMN repo TEXT;
    ALTER TABLE outbox ADD COLUMN day TEXT;
    ALTER TABLE outbox ADD COLUMN started_at TEXT;
    ALTER TABLE outbox ADD COLUMN result TEXT;
    CREATE INDEX outbox_repo_day ON outbox (repo, day);
    """,
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # Claims and leases: several daemons on one store perform each action once and
    # reconcile each task group once per period (the PostgreSQL store has the same).
    """
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
ALTER TABLE outbox ADD COLUMN lease_seconds REAL;
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
    """,
)

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # epoch seconds, sub-second

REJECTED_BODY_LIMIT = 64 * 1024  # keep enough to debug a hostile message, not all of it


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    key: str
    action: Action
    state: str  # pending | done | failed
    attempts: int
    started_at: str | None
    created_at: str
    done_at: str | None
    result: str | None
    last_error: str | None


class StoreError(RuntimeError):
    """The store cannot do what was asked (unwritable, corrupt, unknown id)."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    seq: int
    at: str
    kind: str
    task_id: str | None
    detail: dict[str, Any]


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open store {self.path}: {error}") from error
        self._db.row_factory = sqlite3.Row
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"cannot use store {self.path}: {error}") from error

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One atomic, durable unit of work; `rollback=True` for dry runs."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if rollback:
            self._db.execute("ROLLBACK")
        else:
            self._db.execute("COMMIT")

    def probe_writable(self) -> None:
        """Raise StoreError unless a write can be committed now."""
        try:
            with self.transaction(rollback=True):
                self._db.execute("UPDATE outbox SET attempts = attempts WHERE 0")
                self._db.execute("PRAGMA user_version=" + str(len(_MIGRATIONS)))
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path} is not writable: {error}") from error

    # -- requests ---------------------------------------------------------------------------

    def add_request(self, request: Request, at: str) -> None:
        self._db.execute(
            "INSERT INTO requests (request_id, campaign_id, repo, revision, task_group_id, label,"
            " wanted, state, failure, reason, task_ids, created_at, updated_at, is_open, policy)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                json.dumps(list(request.task_ids)),
                at,
                at,
                1 if request.is_watching else 0,
                _policy_json(request),
            ),
        )
        for task_id in request.task_ids:
            self._link(task_id, request.request_id)

    def save_request(self, request: Request, at: str) -> None:
        cursor = self._db.execute(
            "UPDATE requests SET state=?, failure=?, reason=?, task_ids=?, updated_at=?,"
            " is_open=?, policy=? WHERE request_id=?",
            (
                request.state.value,
                request.failure.value if request.failure else None,
                request.reason,
                json.dumps(list(request.task_ids)),
                at,
                1 if request.is_watching else 0,
                _policy_json(request),
                request.request_id,
            ),
        )
        if cursor.rowcount != 1:
            raise StoreError(f"no request {request.request_id}")
        for task_id in request.task_ids:
            self._link(task_id, request.request_id)

    def _link(self, task_id: str, request_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO request_tasks (task_id, request_id) VALUES (?, ?)",
            (task_id, request_id),
        )

    def get_request(self, request_id: str) -> Request | None:
        row = self._db.execute(
            "SELECT * FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return _request_from_row(row) if row else None

    def find_requests(self, prefix: str) -> list[Request]:
        """Requests whose id starts with `prefix` (so people can type a short id)."""
        rows = self._db.execute(
            "SELECT * FROM requests WHERE request_id >= ? AND request_id < ? ORDER BY request_id",
            (prefix, prefix + "\uffff"),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    def list_requests(self, *, open_only: bool = False, limit: int = 1000) -> list[Request]:
        where = "WHERE is_open" if open_only else ""
        rows = self._db.execute(
            f"SELECT * FROM requests {where} ORDER BY created_at DESC, request_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    def count_open_requests(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM requests WHERE is_open").fetchone()[0])

    def open_task_groups(self) -> set[str]:
        """Groups to watch: those of open requests and of open campaigns (a fill or a
        downstream campaign watches its push before it has any request)."""
        rows = self._db.execute(
            "SELECT task_group_id FROM requests WHERE is_open"
            " UNION SELECT task_group_id FROM campaigns WHERE is_open"
        )
        return {row[0] for row in rows}

    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]:
        """Requests that already own `task_id`, plus open ones wanting its group and label."""
        rows = self._db.execute(
            "SELECT r.* FROM request_tasks rt JOIN requests r USING (request_id)"
            " WHERE rt.task_id = ?",
            (task_id,),
        ).fetchall()
        if label is not None:
            rows += self._db.execute(
                "SELECT * FROM requests WHERE is_open AND task_group_id = ? AND label = ?",
                (task_group_id, label),
            ).fetchall()
        seen: dict[str, Request] = {}
        for row in rows:
            seen.setdefault(row["request_id"], _request_from_row(row))
        return list(seen.values())

    # -- tasks ------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self._db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return _task_from_row(row) if row else None

    def get_tasks(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]:
        ids = list(task_ids)
        found: dict[str, TaskRecord] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT * FROM tasks WHERE task_id IN ({marks})", chunk)
            found.update((row["task_id"], _task_from_row(row)) for row in rows)
        return found

    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]:
        rows = self._db.execute(
            "SELECT * FROM tasks WHERE task_group_id = ? ORDER BY task_id", (task_group_id,)
        )
        return [_task_from_row(row) for row in rows]

    def save_task(self, record: TaskRecord, at: str) -> None:
        runs, rank = progress(record.status)
        self._db.execute(
            "INSERT INTO tasks (task_id, task_group_id, label, phase, reason, runs, rank, status,"
            " updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (task_id) DO UPDATE SET"
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
                json.dumps(status_to_json(record.status), separators=(",", ":")),
                at,
            ),
        )

    # -- timeline and rejections ----------------------------------------------------------

    def append_timeline(self, request_id: str, entries: Sequence[TimelineEntry], at: str) -> None:
        self._db.executemany(
            "INSERT INTO timeline (request_id, at, kind, task_id, detail) VALUES (?,?,?,?,?)",
            [
                (request_id, at, entry.kind, entry.task_id, json.dumps(entry.detail))
                for entry in entries
            ],
        )

    def timeline(self, request_id: str) -> list[StoredEntry]:
        rows = self._db.execute(
            "SELECT seq, at, kind, task_id, detail FROM timeline WHERE request_id = ? ORDER BY seq",
            (request_id,),
        )
        return [
            StoredEntry(
                row["seq"], row["at"], row["kind"], row["task_id"], json.loads(row["detail"])
            )
            for row in rows
        ]

    def record_rejection(self, rejection: Rejection, at: str) -> None:
        self._db.execute(
            "INSERT INTO rejected (at, exchange, routing_key, reason, body) VALUES (?,?,?,?,?)",
            (
                at,
                rejection.exchange[:512],
                rejection.routing_key[:1024],
                rejection.reason,
                rejection.body[:REJECTED_BODY_LIMIT],
            ),
        )

    def rejections(self, limit: int = 100) -> list[tuple[str, str, str, str]]:
        rows = self._db.execute(
            "SELECT at, exchange, routing_key, reason FROM rejected ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def count_rejections(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    # -- small facts the daemon keeps across restarts --------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- campaigns --------------------------------------------------------------------------

    def add_campaign(self, campaign: Campaign, at: str) -> None:
        self._db.execute(
            "INSERT INTO campaigns (campaign_id, kind, repo, revision, task_group_id, label,"
            " params, state, outcome, summary, max_actions, actions, dry_run, created_at,"
            " updated_at, is_open) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                campaign.campaign_id,
                campaign.kind.value,
                campaign.push.repo,
                campaign.push.revision,
                campaign.push.task_group_id,
                campaign.label,
                json.dumps(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                json.dumps(dict(campaign.summary)),
                campaign.max_actions,
                campaign.actions,
                int(campaign.dry_run),
                at,
                at,
                0 if campaign.is_final else 1,
            ),
        )

    def save_campaign(self, campaign: Campaign, at: str) -> None:
        cursor = self._db.execute(
            "UPDATE campaigns SET params=?, state=?, outcome=?, summary=?, actions=?,"
            " updated_at=?, is_open=? WHERE campaign_id=?",
            (
                json.dumps(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                json.dumps(dict(campaign.summary)),
                campaign.actions,
                at,
                0 if campaign.is_final else 1,
                campaign.campaign_id,
            ),
        )
        if cursor.rowcount != 1:
            raise StoreError(f"no campaign {campaign.campaign_id}")

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        row = self._db.execute(
            "SELECT * FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()
        return _campaign_from_row(row) if row else None

    def find_campaigns(self, prefix: str) -> list[Campaign]:
        rows = self._db.execute(
            "SELECT * FROM campaigns WHERE campaign_id >= ? AND campaign_id < ?"
            " ORDER BY campaign_id",
            (prefix, prefix + "\uffff"),
        ).fetchall()
        return [_campaign_from_row(row) for row in rows]

    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]:
        where = "WHERE is_open" if open_only else ""
        rows = self._db.execute(
            f"SELECT * FROM campaigns {where} ORDER BY created_at DESC, campaign_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [_campaign_from_row(row) for row in rows]

    def campaign_requests(self, campaign_id: str) -> list[Request]:
        rows = self._db.execute(
            "SELECT * FROM requests WHERE campaign_id = ? ORDER BY created_at, request_id",
            (campaign_id,),
        ).fetchall()
        return [_request_from_row(row) for row in rows]

    # -- outbox -----------------------------------------------------------------------------

    def add_action(self, action: Action, at: str) -> bool:
        """Queue an action under its idempotency key; False when the key was already there."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, kind, request_id, campaign_id, repo, day,"
            " payload, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                action.key,
                action.kind.value,
                action.request_id,
                action.campaign_id,
                action.push.repo if action.push else None,
                at[:10],
                json.dumps(action_to_json(action)),
                at,
            ),
        )
        return cursor.rowcount == 1

    def count_actions(self, *, repo: str, day: str) -> int:
        """Actions other than notifications queued for a repository on a UTC day."""
        row = self._db.execute(
            "SELECT count(*) FROM outbox WHERE repo = ? AND day = ? AND kind != 'notify'",
            (repo, day),
        ).fetchone()
        return int(row[0])

    def pending_actions(self, limit: int = 100) -> list[OutboxEntry]:
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, key LIMIT ?",
            (limit,),
        ).fetchall()
        return [_outbox_from_row(row) for row in rows]

    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]:
        column, value = ("request_id", request_id) if request_id else ("campaign_id", campaign_id)
        rows = self._db.execute(
            f"SELECT * FROM outbox WHERE {column} = ? ORDER BY created_at, key", (value,)
        ).fetchall()
        return [_outbox_from_row(row) for row in rows]

    def count_done_like(self, action: Action) -> int:
        """Done outbox entries of the same kind, task and labels in the same push.

        Used to tell, after a crash, whether an action task found in the push's group
        is ours or one we already accounted for.
        """
        rows = self._db.execute(
            "SELECT payload FROM outbox WHERE state = 'done' AND kind = ? AND repo IS ?",
            (action.kind.value, action.push.repo if action.push else None),
        )
        count = 0
        for (payload,) in rows:
            other = action_from_json(json.loads(payload))
            if (
                other.push == action.push
                and other.task_id == action.task_id
                and sorted(other.labels) == sorted(action.labels)
                and not (other.request_id == action.request_id and other.key == action.key)
            ):
                count += 1
        return count

    def claim_actions(
        self, owner: str, *, lease_seconds: float, limit: int = 100
    ) -> list[OutboxEntry]:
        with self.transaction():
            rows = self._db.execute(
                "UPDATE outbox SET claimed_by = :owner, lease_seconds = :lease,"
                f" lease_until = {_NOW} + :lease"
                " WHERE key IN (SELECT key FROM outbox WHERE state = 'pending'"
                f"  AND (claimed_by IS NULL OR claimed_by = :owner OR lease_until <= {_NOW})"
                "  ORDER BY created_at, key LIMIT :limit)"
                " RETURNING *",
                {"owner": owner, "lease": float(lease_seconds), "limit": limit},
            ).fetchall()
        entries = [_outbox_from_row(row) for row in rows]
        return sorted(entries, key=lambda entry: (entry.created_at, entry.key))

    def release_actions(self, owner: str) -> int:
        cursor = self._db.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
            " WHERE claimed_by = ? AND state = 'pending'",
            (owner,),
        )
        return cursor.rowcount

    def claim_of(self, key: str) -> tuple[str | None, bool]:
        row = self._db.execute(
            f"SELECT claimed_by, coalesce(lease_until > {_NOW}, 0) FROM outbox WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no outbox entry {key}")
        return row[0], bool(row[1])

    def mark_action_started(self, key: str, at: str, *, owner: str | None = None) -> bool | None:
        cursor = self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, started_at = :at,"
            " lease_until = CASE WHEN :owner IS NULL THEN lease_until"
            f"  ELSE {_NOW} + coalesce(lease_seconds, 0) END"
            " WHERE key = :key AND (:owner IS NULL OR claimed_by = :owner)",
            {"at": at, "key": key, "owner": owner},
        )
        return None if owner is None else cursor.rowcount == 1

    def mark_action_done(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None:
        cursor = self._db.execute(
            "UPDATE outbox SET state = 'done', done_at = ?, result = ?, last_error = NULL,"
            " lease_until = NULL WHERE key = ? AND (? IS NULL OR claimed_by = ?)",
            (at, result, key, owner, owner),
        )
        return None if owner is None else cursor.rowcount == 1

    def mark_action_failed(
        self, key: str, at: str, error: str, *, final: bool, owner: str | None = None
    ) -> bool | None:
        cursor = self._db.execute(
            "UPDATE outbox SET last_error = :error,"
            " state = CASE WHEN :final THEN 'failed' ELSE state END,"
            " done_at = CASE WHEN :final THEN :at ELSE done_at END,"
            " lease_until = CASE WHEN :final THEN NULL ELSE lease_until END"
            " WHERE key = :key AND (:owner IS NULL OR claimed_by = :owner)",
            {"error": error[:2000], "final": final, "at": at, "key": key, "owner": owner},
        )
        return None if owner is None else cursor.rowcount == 1

    def try_lease(self, name: str, owner: str, seconds: float) -> bool:
        row = self._db.execute(
            "INSERT INTO leases (name, owner, until)"
            f" VALUES (:name, :owner, {_NOW} + :s)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
            f" WHERE leases.owner = excluded.owner OR leases.until <= {_NOW}"
            " RETURNING owner",
            {"name": name, "owner": owner, "s": float(seconds)},
        ).fetchone()
        return row is not None

    def release_lease(self, name: str, owner: str) -> bool:
        cursor = self._db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
        return cursor.rowcount == 1

    def lease_holder(self, name: str) -> str | None:
        row = self._db.execute(
            f"SELECT owner FROM leases WHERE name = ? AND until > {_NOW}", (name,)
        ).fetchone()
        return str(row[0]) if row else None


def _policy_json(request: Request) -> str:
    return json.dumps(
        {
            "remedy": request.remedy.value,
            "require_green": request.require_green,
            "max_actions": request.max_actions,
            "actions": request.actions,
            "expected_new": request.expected_new,
            "awaiting_rerun": list(request.awaiting_rerun),
            "replaced": list(request.replaced),
            "batch": request.batch,
            "cancel_on_fail": request.cancel_on_fail,
            "runs_green": request.runs_green,
            "runs_orange": request.runs_orange,
            "first_orange": request.first_orange,
        }
    )


def _request_from_row(row: sqlite3.Row) -> Request:
    policy = json.loads(row["policy"])
    return Request(
        request_id=row["request_id"],
        push=Push(row["repo"], row["revision"], row["task_group_id"]),
        label=row["label"],
        wanted=row["wanted"],
        state=RequestState(row["state"]),
        failure=FailureKind(row["failure"]) if row["failure"] else None,
        reason=row["reason"],
        campaign_id=row["campaign_id"],
        task_ids=tuple(json.loads(row["task_ids"])),
        remedy=RemedyPolicy(policy.get("remedy", RemedyPolicy.RECORD.value)),
        require_green=bool(policy.get("require_green", False)),
        max_actions=int(policy.get("max_actions", 0)),
        actions=int(policy.get("actions", 0)),
        expected_new=int(policy.get("expected_new", 0)),
        awaiting_rerun=tuple(policy.get("awaiting_rerun", ())),
        replaced=tuple(policy.get("replaced", ())),
        batch=int(policy.get("batch", 0)),
        cancel_on_fail=bool(policy.get("cancel_on_fail", True)),
        runs_green=int(policy.get("runs_green", 0)),
        runs_orange=int(policy.get("runs_orange", 0)),
        first_orange=policy.get("first_orange"),
    )


def _task_from_row(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        task_id=row["task_id"],
        task_group_id=row["task_group_id"],
        label=row["label"],
        # Validated when it arrived; stored rows are read back without re-validation.
        status=status_from_json(json.loads(row["status"])),
        phase=Phase(row["phase"]),
        reason=row["reason"],
    )


def _campaign_from_row(row: sqlite3.Row) -> Campaign:
    return Campaign(
        campaign_id=row["campaign_id"],
        kind=CampaignKind(row["kind"]),
        push=Push(row["repo"], row["revision"], row["task_group_id"]),
        label=row["label"],
        params=json.loads(row["params"]),
        state=CampaignState(row["state"]),
        outcome=row["outcome"],
        summary=json.loads(row["summary"]),
        max_actions=row["max_actions"],
        actions=row["actions"],
        dry_run=bool(row["dry_run"]),
    )


def _outbox_from_row(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        key=row["key"],
        action=action_from_json(json.loads(row["payload"])),
        state=row["state"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        created_at=row["created_at"],
        done_at=row["done_at"],
        result=row["result"],
        last_error=row["last_error"],
    )
