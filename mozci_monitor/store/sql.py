"""The store, written once: requests, tasks, the timeline, rejected messages, the outbox.

Every query is here, in portable SQL with `?` placeholders; what differs between SQLite
and PostgreSQL (placeholders, the clock, the write lock, `SKIP LOCKED`, JSON and text
adapters, migrations) is the connector's (`mozci_monitor.store.dialect`). The engine
wraps a batch in `with store.transaction():`, which makes the batch atomic, durable when it
returns, and the only writer meanwhile: that is what lets the daemon ack after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from mozci_monitor.core.actions import SCHEDULING_KINDS, Action, tasks_of
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.capacity import platform_of, pool_of
from mozci_monitor.core.codec import (
    action_from_json,
    action_to_json,
    status_from_json,
)
from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import progress
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    Push,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TaskStatus,
    TimelineEntry,
)
from mozci_monitor.ports.store import (
    OutboxEntry,
    PruneReport,
    RejectedMessage,
    RetentionPolicy,
    ScheduledTasks,
    StoredEntry,
    StoreReader,
)
from mozci_monitor.store.dialect import Connector, Row
from mozci_monitor.store.documents import status_document

# Keep enough of a hostile message to see what it was, not all of it: 2,000 rejected
# messages of 60 KB once added 120 MB.
REJECTED_BODY_LIMIT = 4 * 1024

_WATCHED_GROUPS = (
    "SELECT task_group_id FROM requests WHERE is_open"
    " UNION SELECT task_group_id FROM campaigns WHERE is_open"
)


# Who serves a task: the requests that own it, and the open ones wanting its group and label.
_OWNING = "SELECT request_id FROM request_tasks WHERE task_id = ?"
_WANTING = "SELECT request_id FROM requests WHERE is_open AND task_group_id = ? AND label = ?"

_SAVE_TASK = (
    "INSERT INTO tasks (task_id, task_group_id, label, phase, reason, runs, rank, status,"
    " updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (task_id) DO UPDATE SET"
    " label=excluded.label, phase=excluded.phase, reason=excluded.reason,"
    " runs=excluded.runs, rank=excluded.rank, status=excluded.status,"
    " updated_at=excluded.updated_at"
)


# The meta row counting committed changes to tasks and requests (see
# `SqlStore.generation`).
_GENERATION = "engine_generation"


_UPDATE_REQUEST = (
    "UPDATE requests SET state=?, failure=?, reason=?, task_ids=?, updated_at=?,"
    " is_open=?, policy=? WHERE request_id=?"
)


class SqlStore:
    def __init__(self, connector: Connector) -> None:
        self._sql = connector
        self._reader: SqlStore | None = None
        self._outbox: SqlStore | None = None
        self._in_transaction = False
        self._changed_rows = False  # tasks or requests, in this transaction
        self.written_generation: int | None = None

    @property
    def connector(self) -> Connector:
        return self._sql

    def close(self) -> None:
        for other in (self._reader, self._outbox):
            if other is not None and other is not self:
                other.close()
        self._reader = self._outbox = None
        self._sql.close()

    def reader(self) -> StoreReader:
        """A read-only view on its own connection: people's look-ups never wait for (nor
        delay) the writer's transactions. Opened on first use, closed with the store."""
        if self._reader is None:
            connector = self._sql.reader()
            self._reader = self if connector is self._sql else SqlStore(connector)
        return self._reader

    def outbox(self) -> SqlStore:
        """The store on another read-write connection, for the actuator, where the database
        lets writers work side by side (PostgreSQL: row locks): its claims and marks never
        wait in line behind the engine's batches. This store itself where a second writer
        would only wait for the one write lock (SQLite). Closed with the store."""
        if self._outbox is None:
            connector = self._sql.writer()
            self._outbox = self if connector is self._sql else SqlStore(connector)
        return self._outbox

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One atomic, durable unit of work; `rollback=True` for dry runs.

        A transaction that changed tasks or requests counts one more generation
        in the same commit; `written_generation` is then its number (None when it changed
        none of them, or rolled back)."""
        self.written_generation = None
        with self._sql.transaction(rollback=rollback):
            self._in_transaction, self._changed_rows = True, False
            try:
                yield
                generation = self._next_generation() if self._changed_rows else None
            finally:
                self._in_transaction = False
        if not rollback:
            self.written_generation = generation

    def generation(self) -> int:
        """How many committed transactions changed tasks or requests, in this
        database, by any process. Read inside a transaction (which holds the write lock),
        it tells whether what a process remembers of those rows is still what is stored."""
        return int(self.get_meta(_GENERATION) or 0)

    def _next_generation(self) -> int:
        generation = self.generation() + 1
        self.set_meta(_GENERATION, str(generation))
        return generation

    def _rows_changed(self) -> None:
        """Tasks, requests or campaigns were written: a new generation when this commits."""
        if self._in_transaction:
            self._changed_rows = True
        else:  # a statement on its own (autocommit): it is its own generation
            self._next_generation()

    def probe_writable(self) -> None:
        """Raise StoreError unless a write can be committed now."""
        self._sql.probe_writable()

    # -- requests ---------------------------------------------------------------------------

    def add_request(self, request: Request, at: str) -> None:
        self._sql.execute(
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
                self._sql.json(list(request.task_ids)),
                at,
                at,
                request.is_watching,
                self._sql.json(_policy(request)),
            ),
        )
        # Action tasks are linked too, so their messages find the request they serve.
        self._link((*request.task_ids, *request.action_task_ids), request.request_id)
        self._rows_changed()

    def _request_row(self, request: Request, at: str) -> tuple[object, ...]:
        """The parameters of `_UPDATE_REQUEST` for one request."""
        return (
            request.state.value,
            request.failure.value if request.failure else None,
            request.reason,
            self._sql.json(list(request.task_ids)),
            at,
            request.is_watching,
            self._sql.json(_policy(request)),
            request.request_id,
        )

    def save_request(self, request: Request, at: str) -> None:
        result = self._sql.execute(_UPDATE_REQUEST, self._request_row(request, at))
        if result.rowcount != 1:
            raise StoreError(f"no request {request.request_id}")
        # Action tasks are linked too, so their messages find the request they serve.
        self._link((*request.task_ids, *request.action_task_ids), request.request_id)
        self._rows_changed()

    def save_requests(
        self,
        requests: Sequence[Request],
        at: str,
        *,
        already_linked: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """`save_request` for a batch's requests, in a few statements. `already_linked`:
        for some requests, the task ids their stored version links (the working set knows
        them); only their other tasks are linked, where linking again would change nothing."""
        if not requests:
            return
        updated = self._sql.executemany(
            _UPDATE_REQUEST,
            [self._request_row(request, at) for request in requests],
        )
        if updated != len(requests):
            ids = [request.request_id for request in requests]
            missing = len(set(ids)) - len(self.get_requests(list(dict.fromkeys(ids))))
            raise StoreError(f"{missing} of the batch's requests do not exist")
        linked = already_linked or {}
        links = [
            (task_id, request.request_id)
            for request in requests
            for task_id in request.task_ids
            if task_id not in linked.get(request.request_id, ())
        ]
        if links:
            self._sql.executemany(
                "INSERT INTO request_tasks (task_id, request_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                links,
            )
        self._rows_changed()

    def _link(self, task_ids: Sequence[str], request_id: str) -> None:
        if task_ids:
            self._sql.executemany(
                "INSERT INTO request_tasks (task_id, request_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                [(task_id, request_id) for task_id in task_ids],
            )

    def get_request(self, request_id: str) -> Request | None:
        row = self._sql.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).one()
        return _request_from_row(row) if row else None

    def find_requests(self, prefix: str) -> list[Request]:
        """Requests whose id starts with `prefix` (so people can type a short id)."""
        return self._by_prefix(_REQUESTS, prefix)

    def list_requests(self, *, open_only: bool = False, limit: int = 1000) -> list[Request]:
        """The newest `limit` requests, for people; loops use `iter_requests`."""
        return self._newest(_REQUESTS, open_only, limit)

    def iter_requests(
        self, *, open_only: bool = False, task_group_id: str | None = None, page: int = 500
    ) -> Iterator[Request]:
        """Every request (oldest first), read a page at a time after the last one seen."""
        return self._pages(_REQUESTS, open_only, task_group_id, page)

    def count_open_requests(self) -> int:
        return _count(self._sql.execute("SELECT count(*) AS n FROM requests WHERE is_open").one())

    def open_task_groups(self) -> set[str]:
        """Groups to watch: those of open requests and of open campaigns (a fill or a
        downstream campaign watches its push before it has any request)."""
        return {row["task_group_id"] for row in self._sql.execute(_WATCHED_GROUPS).rows}

    def watched_among(self, task_group_ids: Iterable[str]) -> set[str]:
        """Which of these groups `open_task_groups` holds, found by index: a batch asks only
        about the groups of tasks it does not know, not for every open group."""
        watched: set[str] = set()
        # Two lists per statement, so half the `IN` list length `_chunks` allows.
        for chunk in _chunks(sorted(set(task_group_ids)), 250):
            marks = ",".join("?" * len(chunk))
            rows = self._sql.execute(
                f"SELECT task_group_id FROM requests WHERE is_open AND task_group_id IN ({marks})"
                " UNION SELECT task_group_id FROM campaigns"
                f" WHERE is_open AND task_group_id IN ({marks})",
                [*chunk, *chunk],
            ).rows
            watched.update(row["task_group_id"] for row in rows)
        return watched

    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]:
        """Requests that already own `task_id`, plus open ones wanting its group and label."""
        return self.get_requests(self.request_ids_serving(task_id, task_group_id, label))

    def request_ids_serving(self, task_id: str, task_group_id: str, label: str | None) -> list[str]:
        """`requests_serving`'s ids only, in one statement (who keeps the rows in memory
        reads only those it does not have)."""
        if label is None:
            query, params = _OWNING, [task_id]
        else:
            query, params = f"{_OWNING} UNION {_WANTING}", [task_id, task_group_id, label]
        return sorted(row["request_id"] for row in self._sql.execute(query, params).rows)

    def request_ids_serving_many(
        self, keys: Sequence[tuple[str, str, str | None]]
    ) -> dict[tuple[str, str, str | None], list[str]]:
        """`request_ids_serving` for a batch's (task id, group, label) keys, in two
        statements per 500 tasks or groups rather than one per task."""
        owning: dict[str, set[str]] = {}
        task_ids = list(dict.fromkeys(task_id for task_id, _, _ in keys))
        for chunk in _chunks(task_ids):
            rows = self._sql.execute(
                "SELECT task_id, request_id FROM request_tasks"
                f" WHERE task_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).rows
            for row in rows:
                owning.setdefault(row["task_id"], set()).add(row["request_id"])
        wanting: dict[tuple[str, str], set[str]] = {}
        groups = list(dict.fromkeys(group for _, group, label in keys if label is not None))
        for chunk in _chunks(groups):
            rows = self._sql.execute(
                "SELECT request_id, task_group_id, label FROM requests WHERE is_open"
                f" AND task_group_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).rows
            for row in rows:
                group_label = (row["task_group_id"], row["label"])
                wanting.setdefault(group_label, set()).add(row["request_id"])
        return {
            key: sorted(
                owning.get(key[0], set())
                | (wanting.get((key[1], key[2]), set()) if key[2] is not None else set())
            )
            for key in keys
        }

    def get_requests(self, request_ids: Sequence[str]) -> list[Request]:
        """The requests of these ids that exist, in the order given."""
        found: dict[str, Request] = {}
        for chunk in _chunks(list(request_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._sql.execute(f"SELECT * FROM requests WHERE request_id IN ({marks})", chunk)
            found.update((row["request_id"], _request_from_row(row)) for row in rows.rows)
        return [found[request_id] for request_id in request_ids if request_id in found]

    # -- tasks ------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self._sql.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).one()
        return _task_from_row(row) if row else None

    def get_tasks(self, task_ids: Iterable[str]) -> dict[str, TaskRecord]:
        ids = list(task_ids)
        found: dict[str, TaskRecord] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._sql.execute(f"SELECT * FROM tasks WHERE task_id IN ({marks})", chunk)
            found.update((row["task_id"], _task_from_row(row)) for row in rows.rows)
        return found

    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]:
        rows = self._sql.execute(
            "SELECT * FROM tasks WHERE task_group_id = ? ORDER BY task_id", (task_group_id,)
        ).rows
        return [_task_from_row(row) for row in rows]

    def save_task(self, record: TaskRecord, at: str) -> None:
        self.save_tasks([record], at)

    def save_tasks(self, records: Sequence[TaskRecord], at: str) -> None:
        """Insert or update tasks, all in one statement."""
        if records:
            self._sql.executemany(_SAVE_TASK, [self._task_row(record, at) for record in records])
            self._rows_changed()

    def _task_row(self, record: TaskRecord, at: str) -> tuple[Any, ...]:
        runs, rank = progress(record.status)
        return (
            record.task_id,
            record.task_group_id,
            record.label,
            record.phase.value,
            record.reason,
            runs,
            rank,
            self._sql.json(status_document(record.status)),
            at,
        )

    # -- timeline and rejections ----------------------------------------------------------

    def append_timeline(self, request_id: str, entries: Sequence[TimelineEntry], at: str) -> None:
        self.append_timelines([(request_id, entry) for entry in entries], at)

    def append_timelines(self, entries: Sequence[tuple[str, TimelineEntry]], at: str) -> None:
        """Timeline entries of several requests, each request's in the order given."""
        if entries:
            self._sql.executemany(
                "INSERT INTO timeline (request_id, at, kind, task_id, detail) VALUES (?,?,?,?,?)",
                [
                    (request_id, at, entry.kind, entry.task_id, self._sql.json(entry.detail))
                    for request_id, entry in entries
                ],
            )

    def timeline(self, request_id: str) -> list[StoredEntry]:
        rows = self._sql.execute(
            "SELECT seq, at, kind, task_id, detail FROM timeline WHERE request_id = ? ORDER BY seq",
            (request_id,),
        ).rows
        return [
            StoredEntry(
                int(row["seq"]), row["at"], row["kind"], row["task_id"], json.loads(row["detail"])
            )
            for row in rows
        ]

    def record_rejection(self, rejection: Rejection, at: str) -> None:
        self._sql.execute(
            "INSERT INTO rejected (at, exchange, routing_key, reason, body) VALUES (?,?,?,?,?)",
            (
                at,
                rejection.exchange[:512],
                rejection.routing_key[:1024],
                rejection.reason[:2000],
                bytes(rejection.body[:REJECTED_BODY_LIMIT]),
            ),
        )

    def rejections(self, limit: int = 100) -> list[RejectedMessage]:
        rows = self._sql.execute(
            "SELECT at, exchange, routing_key, reason FROM rejected ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).rows
        return [
            RejectedMessage(row["at"], row["exchange"], row["routing_key"], row["reason"])
            for row in rows
        ]

    def count_rejections(self) -> int:
        return _count(self._sql.execute("SELECT count(*) AS n FROM rejected").one())

    # -- small facts the daemon keeps across restarts --------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._sql.execute("SELECT value FROM meta WHERE key = ?", (key,)).one()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """One statement, so atomic on its own."""
        self._sql.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- test results -----------------------------------------------------------------------

    def put_task_results(
        self, task_id: str, run_id: int, source: str, results: dict[str, Any], at: str
    ) -> bool:
        """Keep what a finished run's test results say; the first write wins (a finished
        run's results do not change, and a redelivered fetch must not flip them)."""
        written = self._sql.execute(
            "INSERT INTO task_results (task_id, run_id, source, results, recorded_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (task_id, run_id) DO NOTHING",
            (task_id, run_id, source, self._sql.json(results), at),
        ).rowcount
        return bool(written)

    def task_results(self, task_id: str, run_id: int) -> tuple[str, dict[str, Any]] | None:
        """(source, results) of one run, or None when they were not recorded."""
        row = self._sql.execute(
            "SELECT source, results FROM task_results WHERE task_id = ? AND run_id = ?",
            (task_id, run_id),
        ).one()
        return None if row is None else (str(row["source"]), json.loads(row["results"]))

    # -- campaigns --------------------------------------------------------------------------

    def add_campaign(self, campaign: Campaign, at: str) -> None:
        self._sql.execute(
            "INSERT INTO campaigns (campaign_id, kind, repo, revision, task_group_id, label,"
            " params, state, outcome, summary, max_actions, actions, tasks, dry_run,"
            " created_at, updated_at, is_open) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                campaign.campaign_id,
                campaign.kind.value,
                campaign.push.repo,
                campaign.push.revision,
                campaign.push.task_group_id,
                campaign.label,
                self._sql.json(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                self._sql.json(dict(campaign.summary)),
                campaign.max_actions,
                campaign.actions,
                campaign.tasks,
                campaign.dry_run,
                at,
                at,
                not campaign.is_final,
            ),
        )

    def save_campaign(self, campaign: Campaign, at: str) -> None:
        result = self._sql.execute(
            "UPDATE campaigns SET params=?, state=?, outcome=?, summary=?, actions=?, tasks=?,"
            " updated_at=?, is_open=? WHERE campaign_id=?",
            (
                self._sql.json(dict(campaign.params)),
                campaign.state.value,
                campaign.outcome,
                self._sql.json(dict(campaign.summary)),
                campaign.actions,
                campaign.tasks,
                at,
                not campaign.is_final,
                campaign.campaign_id,
            ),
        )
        if result.rowcount != 1:
            raise StoreError(f"no campaign {campaign.campaign_id}")

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        row = self._sql.execute(
            "SELECT * FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).one()
        return _campaign_from_row(row) if row else None

    def find_campaigns(self, prefix: str) -> list[Campaign]:
        return self._by_prefix(_CAMPAIGNS, prefix)

    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]:
        """The newest `limit` campaigns, for people; loops use `iter_campaigns`."""
        return self._newest(_CAMPAIGNS, open_only, limit)

    def iter_campaigns(
        self, *, open_only: bool = False, task_group_id: str | None = None, page: int = 500
    ) -> Iterator[Campaign]:
        """Every campaign (oldest first), read a page at a time after the last one seen."""
        return self._pages(_CAMPAIGNS, open_only, task_group_id, page)

    def campaign_requests(self, campaign_id: str) -> list[Request]:
        rows = self._sql.execute(
            "SELECT * FROM requests WHERE campaign_id = ? ORDER BY created_at, request_id",
            (campaign_id,),
        ).rows
        return [_request_from_row(row) for row in rows]

    # Requests and campaigns are read alike: by id prefix, newest first, or paged.

    def _by_prefix(self, listed: _Listed[_T], prefix: str) -> list[_T]:
        table, key = listed.table, listed.key
        where, params = _prefix_range(key, prefix)
        rows = self._sql.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY {key}", params)
        return [listed.from_row(row) for row in rows.rows]

    def _newest(self, listed: _Listed[_T], open_only: bool, limit: int) -> list[_T]:
        where = "WHERE is_open" if open_only else ""
        rows = self._sql.execute(
            f"SELECT * FROM {listed.table} {where} ORDER BY created_at DESC, {listed.key} LIMIT ?",
            (limit,),
        )
        return [listed.from_row(row) for row in rows.rows]

    def _pages(
        self, listed: _Listed[_T], open_only: bool, task_group_id: str | None, page: int
    ) -> Iterator[_T]:
        """Keyset paging on (created_at, id): each page starts after the last row of the
        previous one, so rows added meanwhile neither shift nor repeat the walk."""
        table, key = listed.table, listed.key
        where = ["is_open"] if open_only else []
        params: list[Any] = []
        if task_group_id is not None:
            where.append("task_group_id = ?")
            params.append(task_group_id)
        after: tuple[str, str] | None = None
        while True:
            clauses = [*where, "(created_at, " + key + ") > (?, ?)"] if after else where
            condition = ("WHERE " + " AND ".join(clauses)) if clauses else ""
            rows = self._sql.execute(
                f"SELECT * FROM {table} {condition} ORDER BY created_at, {key} LIMIT ?",
                [*params, *(after or ()), page],
            ).rows
            yield from map(listed.from_row, rows)
            if len(rows) < page:
                return
            after = (rows[-1]["created_at"], rows[-1][key])

    # -- outbox -----------------------------------------------------------------------------

    def add_action(self, action: Action, at: str) -> bool:
        """Queue an action under its idempotency key; False when the key was already there."""
        result = self._sql.execute(
            "INSERT INTO outbox (key, kind, request_id, campaign_id, repo, day, payload,"
            " tasks, created_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING",
            (
                action.key,
                action.kind.value,
                action.request_id,
                action.campaign_id,
                action.push.repo if action.push else None,
                at[:10],
                self._sql.json(action_to_json(action)),
                tasks_of(action),
                at,
            ),
        )
        return result.rowcount == 1

    def count_tasks(self, *, repo: str, day: str) -> int:
        """Tasks the actions queued for a repository on a UTC day schedule on Firefox CI
        (`core.actions.tasks_of`: notifications, reads and cancels count 0)."""
        return _count(
            self._sql.execute(
                "SELECT coalesce(sum(tasks), 0) AS n FROM outbox WHERE repo = ? AND day = ?",
                (repo, day),
            ).one()
        )

    def pending_actions(self, limit: int = 100) -> list[OutboxEntry]:
        """Every pending entry, claimed or not (for people and single-instance use)."""
        rows = self._sql.execute(
            "SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, key LIMIT ?",
            (limit,),
        ).rows
        return [_outbox_from_row(row) for row in rows]

    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]:
        column, value = ("request_id", request_id) if request_id else ("campaign_id", campaign_id)
        rows = self._sql.execute(
            f"SELECT * FROM outbox WHERE {column} = ? ORDER BY created_at, key", (value,)
        ).rows
        return [_outbox_from_row(row) for row in rows]

    def count_done_like(self, action: Action) -> int:
        """Done outbox entries of the same kind, task and labels in the same push.

        Used to tell, after a crash, whether an action task found in the push's group
        is ours or one we already accounted for.
        """
        rows = self._sql.execute(
            "SELECT payload FROM outbox WHERE state = 'done' AND kind = ?"
            " AND repo IS NOT DISTINCT FROM ?",
            (action.kind.value, action.push.repo if action.push else None),
        ).rows
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

    # -- capacity (core.capacity counts what these return) -------------------------------

    def tasks_of_action(self, action: Action) -> list[ScheduledTasks]:
        """Where an action's tasks go: per label (or its task), the worker pool named by a
        known task's definition (its status row) and the label's platform."""
        wanted = tasks_of(action)
        if wanted <= 0 or action.push is None:
            return []
        if action.task_id is not None:
            record = self.get_task(action.task_id)
            label = (record.label if record else None) or next(iter(action.labels), "")
            pool = _pool_of_status(record.status) if record else None
            return [ScheduledTasks(pool, platform_of(label), wanted, label)]
        group = action.push.task_group_id
        share = wanted // max(1, len(action.labels))
        found = []
        for label in action.labels or ("",):
            row = self._sql.execute(
                "SELECT status FROM tasks WHERE task_group_id = ? AND label = ? LIMIT 1",
                (group, label),
            ).one()
            if row is None:
                # A label the push never ran (add-new-jobs): a label runs on the same pool
                # on every push, so another push's task tells. A scan, but a rare one.
                row = self._sql.execute(
                    "SELECT status FROM tasks WHERE label = ? LIMIT 1", (label,)
                ).one()
            status = status_from_json(json.loads(row["status"])) if row else None
            pool = _pool_of_status(status) if status else None
            found.append(ScheduledTasks(pool, platform_of(label), share, label))
        return found

    def tasks_scheduled_on(self, day: str, *, owner: str | None = None) -> list[ScheduledTasks]:
        """The tasks of the actions performed on a UTC day (done that day, not dry runs)
        or being performed by another instance (started that day, not done: they may
        have scheduled already). `owner`'s own unfinished entries are left out: its
        capacity check counts what it admitted itself."""
        rows = self._sql.execute(
            f"SELECT payload FROM outbox WHERE kind IN ({_SCHEDULING_PLACEHOLDERS}) AND ("
            " (state = 'done' AND substr(done_at, 1, 10) = ?"
            "  AND (result IS NULL OR result NOT LIKE 'dry-run%'))"
            " OR (state = 'pending' AND attempts > 0 AND substr(started_at, 1, 10) = ?"
            "  AND claimed_by IS DISTINCT FROM ?))",
            (*sorted(kind.value for kind in SCHEDULING_KINDS), day, day, owner),
        ).rows
        found: list[ScheduledTasks] = []
        for row in rows:
            found.extend(self.tasks_of_action(action_from_json(json.loads(row["payload"]))))
        return found

    def claim_actions(
        self, owner: str, *, lease_seconds: float, limit: int = 100
    ) -> list[OutboxEntry]:
        """Claim pending entries for `owner` until the lease runs out (database clock).

        Returns entries nobody holds, entries whose lease ran out (their claimer died or
        hung: in doubt if started) and entries `owner` already holds (lease extended), oldest
        first. Rows another transaction is claiming right now are skipped, not waited for.
        """
        now, lease = self._sql.now, float(lease_seconds)
        rows = self._sql.execute(
            "UPDATE outbox SET claimed_by = ?, lease_seconds = ?,"
            f" lease_until = {self._sql.later('?')}"
            " WHERE key IN (SELECT key FROM outbox WHERE state = 'pending'"
            f"  AND (claimed_by IS NULL OR claimed_by = ? OR lease_until <= {now})"
            # Entries waiting for capacity go last: a day's worth of them must not keep
            # newer work (a notification, a cancel) out of every batch.
            "  ORDER BY CASE WHEN last_error LIKE 'deferred:%' THEN 1 ELSE 0 END,"
            f"  created_at, key LIMIT ?{self._sql.skip_locked})"
            " RETURNING *",
            (owner, lease, lease, owner, limit),
        ).rows
        entries = [_outbox_from_row(row) for row in rows]
        return sorted(entries, key=lambda entry: (entry.created_at, entry.key))

    def release_actions(self, owner: str) -> int:
        """Give up `owner`'s claims on pending entries (clean shutdown): others take them now."""
        return self._sql.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
            " WHERE claimed_by = ? AND state = 'pending'",
            (owner,),
        ).rowcount

    def claim_of(self, key: str) -> tuple[str | None, bool]:
        """(claimer, lease still running) of an entry; for tests and `show`."""
        row = self._sql.execute(
            "SELECT claimed_by,"
            f" CASE WHEN lease_until > {self._sql.now} THEN 1 ELSE 0 END AS live"
            " FROM outbox WHERE key = ?",
            (key,),
        ).one()
        if row is None:
            raise StoreError(f"no outbox entry {key}")
        return row["claimed_by"], bool(row["live"])

    # The `mark_action_*` calls without `owner` are for single-instance use (they return
    # None); with `owner` they are fenced on the claim and say whether this instance still
    # held it: False means another one took the entry over and this one must not attempt
    # it (or record its outcome).

    def _mark(
        self,
        assignments: str,
        params: Sequence[object],
        key: str,
        owner: str | None,
        *,
        pending_only: bool = False,
    ) -> bool | None:
        """`UPDATE outbox SET <assignments>` on entry `key`, fenced on `owner`'s claim."""
        state = " AND state = 'pending'" if pending_only else ""
        result = self._sql.execute(
            f"UPDATE outbox SET {assignments} WHERE key = ?{state}"
            " AND (CAST(? AS TEXT) IS NULL OR claimed_by = ?)",
            (*params, key, owner, owner),
        )
        return None if owner is None else result.rowcount == 1

    def mark_action_sized(self, action: Action, *, owner: str | None = None) -> bool | None:
        """The capacity gate sized the entry's action down (`sized_from`): what it will
        schedule is this action, so the daily budget (`count_tasks`) and the capacity
        quota (`tasks_scheduled_on`) count it rather than the action as decided."""
        return self._mark(
            "payload = ?, tasks = ?",
            (self._sql.json(action_to_json(action)), tasks_of(action)),
            action.key,
            owner,
            pending_only=True,
        )

    def mark_action_started(self, key: str, at: str, *, owner: str | None = None) -> bool | None:
        """Recorded before the action is attempted, so a crash leaves evidence to check.

        With `owner`, starting renews the claim for a whole lease: an instance works
        through the entries it claimed one after the other, and the lease must cover one
        attempt, not the whole batch.
        """
        return self._mark(
            "attempts = attempts + 1, started_at = ?,"
            " lease_until = CASE WHEN CAST(? AS TEXT) IS NULL THEN lease_until"
            f"  ELSE {self._sql.later('coalesce(lease_seconds, 0)')} END",
            (at, owner),
            key,
            owner,
        )

    def mark_action_done(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None:
        return self._mark(
            "state = 'done', done_at = ?, result = ?, last_error = NULL, lease_until = NULL",
            (at, result),
            key,
            owner,
        )

    def mark_action_failed(
        self, key: str, at: str, error: str, *, final: bool, owner: str | None = None
    ) -> bool | None:
        return self._mark(
            "last_error = ?,"
            " state = CASE WHEN ? THEN 'failed' ELSE state END,"
            " done_at = CASE WHEN ? THEN ? ELSE done_at END,"
            " lease_until = CASE WHEN ? THEN NULL ELSE lease_until END",
            (error[:2000], final, final, at, final),
            key,
            owner,
        )

    def mark_action_withdrawn(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None:
        """Close a pending entry without performing it (`core.withdrawal`): what it was for
        has ended. Its own state, so that neither the in-doubt check (`count_done_like`)
        nor the capacity count (`tasks_scheduled_on`) takes it for a performed one."""
        return self._mark(
            "state = 'withdrawn', done_at = ?, result = ?, lease_until = NULL",
            (at, result),
            key,
            owner,
            pending_only=True,
        )

    def mark_action_deferred(
        self, key: str, reason: str, *, started_at: str | None, owner: str | None = None
    ) -> bool | None:
        """Undo the attempt just started (capacity deferred it before anything was done):
        the attempt count and start stamp go back to what they were, the reason stays."""
        return self._mark(
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
            " started_at = ?, last_error = ?",
            (started_at, reason[:2000]),
            key,
            owner,
            pending_only=True,
        )

    # -- leases -----------------------------------------------------------------------------

    def try_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold `name` for `seconds` (database clock) unless another owner holds it now.

        The holder taking it again extends it. Not releasing a lease is how "at most once
        per period across instances" is said (e.g. reconcile group G at most every N s).
        """
        row = self._sql.execute(
            f"INSERT INTO leases (name, owner, until) VALUES (?, ?, {self._sql.later('?')})"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
            f" WHERE leases.owner = excluded.owner OR leases.until <= {self._sql.now}"
            " RETURNING owner",
            (name, owner, float(seconds)),
        ).one()
        return row is not None

    def release_lease(self, name: str, owner: str) -> bool:
        result = self._sql.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
        return result.rowcount == 1

    def lease_holder(self, name: str) -> str | None:
        row = self._sql.execute(
            f"SELECT owner FROM leases WHERE name = ? AND until > {self._sql.now}", (name,)
        ).one()
        return str(row["owner"]) if row else None

    # -- retention --------------------------------------------------------------------------

    def prune_step(self, policy: RetentionPolicy, now: datetime) -> PruneReport:
        """Delete at most `policy.batch` rows per kind of what the policy lets go, each kind
        in its own short transaction; call again while it deletes something."""
        report = PruneReport()
        for table, (select, params) in self._prunable(policy, now).items():
            with self.transaction():
                key = "seq" if table == "rejected" else "task_id"
                deleted = self._sql.execute(
                    f"DELETE FROM {table} WHERE {key} IN ({select} LIMIT ?)",
                    [*params, policy.batch],
                ).rowcount
                if deleted and table == "tasks":
                    self._rows_changed()
            if deleted:
                report.add(table, deleted)
        return report

    def prune(
        self, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
    ) -> PruneReport:
        """The whole pass at once (the CLI's `prune`): batches until nothing is left."""
        if dry_run:
            return self.prune_preview(policy, now)
        report = PruneReport()
        while step := self.prune_step(policy, now).deleted:
            for table, rows in step.items():
                report.add(table, rows)
        return report

    def prune_preview(self, policy: RetentionPolicy, now: datetime) -> PruneReport:
        """What `prune_step` would delete, all batches together (nothing is deleted)."""
        report = PruneReport()
        for table, (select, params) in self._prunable(policy, now).items():
            row = self._sql.execute(f"SELECT count(*) AS n FROM ({select}) AS doomed", params)
            if count := _count(row.one()):
                report.add(table, count)
        return report

    def _prunable(self, policy: RetentionPolicy, now: datetime) -> dict[str, tuple[str, list[Any]]]:
        """Per table, a SELECT of the keys that may go (oldest first) and its parameters."""
        rejected_before = _iso(now - timedelta(days=policy.rejected_days))
        tasks_before = _iso(now - timedelta(days=policy.finished_task_days))
        return {
            # Old rejected messages, and any beyond the newest `rejected_max_rows`.
            "rejected": (
                "SELECT seq FROM rejected WHERE at < ? OR seq <= coalesce((SELECT seq FROM"
                " rejected ORDER BY seq DESC LIMIT 1 OFFSET ?), 0) ORDER BY seq",
                [rejected_before, policy.rejected_max_rows],
            ),
            # Task snapshots of groups nothing watches any more (their requests and
            # campaigns are finished), untouched for a while.
            "tasks": (
                "SELECT task_id FROM tasks WHERE updated_at < ?"
                f" AND task_group_id NOT IN ({_WATCHED_GROUPS}) ORDER BY updated_at",
                [tasks_before],
            ),
            # Test results of runs whose task is gone (pruned above, or never stored).
            "task_results": (
                "SELECT task_id FROM task_results WHERE task_id NOT IN"
                " (SELECT task_id FROM tasks) ORDER BY task_id",
                [],
            ),
        }


def _iso(moment: datetime) -> str:
    """The stores' timestamp format (clock.utc_now), which sorts as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _prefix_range(column: str, prefix: str) -> tuple[str, list[Any]]:
    """`column` starts with `prefix`, as a range its primary-key index answers (identifiers
    sort bytewise in both databases, and UTF-8 keeps code point order)."""
    end = _after_prefix(prefix)
    if end is None:
        return f"{column} >= ?", [prefix]
    return f"{column} >= ? AND {column} < ?", [prefix, end]


def _after_prefix(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: no bound)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last == 0xD800:  # surrogates cannot be stored: skip to the next code point
            last = 0xE000
        if last <= 0x10FFFF:
            return "".join(chars) + chr(last)
    return None


_SCHEDULING_PLACEHOLDERS = ",".join("?" * len(SCHEDULING_KINDS))


def _pool_of_status(status: TaskStatus) -> str | None:
    return pool_of({"provisionerId": status.provisioner_id, "workerType": status.worker_type})


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices short enough for an `IN (...)` list on every dialect."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _count(row: Row | None) -> int:
    return int(row["n"]) if row else 0


def _policy(request: Request) -> dict[str, Any]:
    return {
        "remedy": request.remedy.value,
        "require_green": request.require_green,
        "max_actions": request.max_actions,
        "actions": request.actions,
        "tasks": request.tasks,
        "expected_new": request.expected_new,
        "awaiting_rerun": list(request.awaiting_rerun),
        "replaced": list(request.replaced),
        "batch": request.batch,
        "cancel_on_fail": request.cancel_on_fail,
        "judge_by_results": request.judge_by_results,
        "runs_green": request.runs_green,
        "runs_orange": request.runs_orange,
        "first_orange": request.first_orange,
        "action_tasks": [_action_task_json(task) for task in request.action_tasks],
        "opened_at": request.opened_at,
    }


def _request_from_row(row: Row) -> Request:
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
        # Stored before budgets counted tasks: one per action is the best guess.
        tasks=int(policy.get("tasks", policy.get("actions", 0))),
        expected_new=int(policy.get("expected_new", 0)),
        awaiting_rerun=tuple(policy.get("awaiting_rerun", ())),
        replaced=tuple(policy.get("replaced", ())),
        batch=int(policy.get("batch", 0)),
        judge_by_results=bool(policy.get("judge_by_results", False)),
        cancel_on_fail=bool(policy.get("cancel_on_fail", True)),
        runs_green=int(policy.get("runs_green", 0)),
        runs_orange=int(policy.get("runs_orange", 0)),
        first_orange=policy.get("first_orange"),
        action_tasks=tuple(_action_task_from_json(t) for t in policy.get("action_tasks", ())),
        opened_at=policy.get("opened_at"),
    )


def _task_from_row(row: Row) -> TaskRecord:
    return TaskRecord(
        task_id=row["task_id"],
        task_group_id=row["task_group_id"],
        label=row["label"],
        # Validated when it arrived; stored rows are read back without re-validation.
        status=status_from_json(json.loads(row["status"])),
        phase=Phase(row["phase"]),
        reason=row["reason"],
    )


def _campaign_from_row(row: Row) -> Campaign:
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
        tasks=row["tasks"],
        dry_run=bool(row["dry_run"]),
    )


def _outbox_from_row(row: Row) -> OutboxEntry:
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


def _action_task_json(task: ActionTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "key": task.key,
        "route": task.route,
        "times": task.times,
        "state": task.state,
        "completed_at": task.completed_at,
        "retry_of": task.retry_of,
    }


def _action_task_from_json(data: dict[str, Any]) -> ActionTask:
    return ActionTask(
        task_id=str(data["task_id"]),
        key=str(data["key"]),
        route=str(data["route"]),
        times=int(data.get("times", 1)),
        state=str(data.get("state", "running")),
        completed_at=data.get("completed_at"),
        retry_of=data.get("retry_of"),
    )


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Listed(Generic[_T]):
    """A table people look through by id and loops walk: its name and key are this
    module's constants, never user input."""

    table: str
    key: str
    from_row: Callable[[Row], _T]


_REQUESTS = _Listed("requests", "request_id", _request_from_row)
_CAMPAIGNS = _Listed("campaigns", "campaign_id", _campaign_from_row)
