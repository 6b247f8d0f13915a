"""PROPOSAL for mozci_monitor/store/sqlite.py: the PostgreSQL store's claim and lease methods.

The `mark_action_*` take `owner=` (fenced on the claim, return whether it was still held)
and return None without it, as today; in SqliteStore give them the same `@overload`s as
PostgresStore so both keep satisfying the current OutboxStore protocol.

Written as a subclass so the contract suite can hold both stores to one interface before
the lead folds it into SqliteStore (see mozci_monitor/store/WIRING.md): MIGRATION_CLAIMS below
appended to `_MIGRATIONS`, and these methods moved into the class.

SQLite has one writer (BEGIN IMMEDIATE): claiming is a plain UPDATE inside a write
transaction, nothing can claim the same rows concurrently. Leases use SQLite's own clock
(`julianday('now')`, seconds since the epoch): every daemon sharing a SQLite file runs on
the same host, so they share that clock.
"""

from __future__ import annotations

from pathlib import Path

from mozci_monitor.store.sqlite import OutboxEntry, SqliteStore, StoreError, _outbox_from_row

MIGRATION_CLAIMS = """
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
ALTER TABLE outbox ADD COLUMN lease_seconds REAL;
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
"""

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # epoch seconds, sub-second


class ClaimingSqliteStore(SqliteStore):
    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        # Folded into SqliteStore this is the next entry of _MIGRATIONS; as a subclass it
        # cannot know that number (SqliteStore grows), so it checks for the column.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "claimed_by" not in columns:
            with self.transaction():
                for statement in MIGRATION_CLAIMS.split(";"):
                    if statement.strip():
                        self._db.execute(statement)

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
