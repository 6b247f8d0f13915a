"""A store that stays bounded, on both dialects: paging without a cut-off, indexed prefix
look-ups, reads beside an open write transaction, and retention."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from store.pulse_builder import GROUP, OTHER_GROUP, FakeTask, make_request, slug

from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import observe
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import Push, RequestState
from mozci_monitor.ports.store import RetentionPolicy
from mozci_monitor.store.dialect import Connector, Result
from mozci_monitor.store.postgres import PostgresStore
from mozci_monitor.store.sql import REJECTED_BODY_LIMIT, SqlStore
from store_contract.conftest import AnyStore

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
AT = "2026-11-22T12:00:00.000Z"
LONG_AGO = "2026-10-01T00:00:00.000Z"  # 52 days before NOW
LAST_WEEK = "2026-11-20T00:00:00.000Z"


# -- paging --------------------------------------------------------------------------------------


def test_iter_requests_pages_through_every_open_request_oldest_first(store: AnyStore) -> None:
    with store.transaction():
        for n in range(23):
            # Ties on created_at across page boundaries: the id breaks them.
            store.add_request(make_request(f"r-{n:02d}"), LONG_AGO if n < 12 else AT)
        store.add_request(
            make_request("closed", state=RequestState.COMPLETED), LONG_AGO
        )  # not open: skipped
        store.add_request(make_request("elsewhere", group=OTHER_GROUP), LONG_AGO)

    walked = [
        r.request_id for r in store.iter_requests(open_only=True, task_group_id=GROUP, page=5)
    ]

    assert walked == [f"r-{n:02d}" for n in range(23)]
    everything = {r.request_id for r in store.iter_requests(page=4)}
    assert everything == {*walked, "closed", "elsewhere"}


def test_iter_campaigns_pages_through_open_campaigns_of_a_group(store: AnyStore) -> None:
    push = Push("autoland", "a" * 40, GROUP)
    with store.transaction():
        for n in range(7):
            store.add_campaign(Campaign(f"c-{n}", CampaignKind.WATCH, push), AT)
        done = Campaign("c-done", CampaignKind.WATCH, push, state=CampaignState.FINISHED)
        store.add_campaign(done, AT)
        other = Campaign("c-other", CampaignKind.FILL, Push("autoland", "b" * 40, OTHER_GROUP))
        store.add_campaign(other, AT)

    walked = [
        c.campaign_id for c in store.iter_campaigns(open_only=True, task_group_id=GROUP, page=3)
    ]

    assert walked == [f"c-{n}" for n in range(7)]


def test_lists_for_people_are_the_newest_first_open_or_all_up_to_the_limit(
    store: AnyStore,
) -> None:
    push = Push("autoland", "a" * 40, GROUP)
    with store.transaction():
        for n, at in enumerate([LONG_AGO, LAST_WEEK, AT]):
            store.add_request(make_request(f"r-{n}"), at)
            store.add_campaign(Campaign(f"c-{n}", CampaignKind.WATCH, push), at)
        store.add_request(make_request("r-x", state=RequestState.COMPLETED), AT)
        store.add_campaign(
            Campaign("c-x", CampaignKind.WATCH, push, state=CampaignState.FINISHED), AT
        )

    assert [r.request_id for r in store.list_requests()] == ["r-2", "r-x", "r-1", "r-0"]
    assert [r.request_id for r in store.list_requests(open_only=True, limit=2)] == ["r-2", "r-1"]
    assert [c.campaign_id for c in store.list_campaigns(limit=3)] == ["c-2", "c-x", "c-1"]
    assert [c.campaign_id for c in store.list_campaigns(open_only=True)] == ["c-2", "c-1", "c-0"]
    assert [c.campaign_id for c in store.find_campaigns("c-")] == ["c-0", "c-1", "c-2", "c-x"]


# -- prefix look-ups -------------------------------------------------------------------------------


def test_prefix_look_ups_find_exactly_the_ids_that_start_with_it(store: AnyStore) -> None:
    ids = ["ab", "abz", "ab\U0010ffff", "ac", "a\U0010ffff1", "b", "aa"]
    with store.transaction():
        for request_id in ids:
            store.add_request(make_request(request_id), AT)

    def found(prefix: str) -> set[str]:
        return {r.request_id for r in store.find_requests(prefix)}

    assert found("ab") == {"ab", "abz", "ab\U0010ffff"}
    assert found("a\U0010ffff") == {"a\U0010ffff1"}
    assert found("") == set(ids)
    assert found("zz") == set()


class _Recording:
    """A connector that remembers the statements it ran (to ask the database how)."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.statements: list[tuple[str, Sequence[Any]]] = []
        self.now, self.skip_locked = inner.now, inner.skip_locked
        self.description = inner.description

    def later(self, seconds: str) -> str:
        return self.inner.later(seconds)

    def execute(self, query: str, params: Sequence[Any] = ()) -> Result:
        self.statements.append((query, params))
        return self.inner.execute(query, params)

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        self.inner.executemany(query, rows)

    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]:
        return self.inner.transaction(rollback=rollback)

    def probe_writable(self) -> None:
        self.inner.probe_writable()

    def json(self, value: Any) -> str:
        return self.inner.json(value)

    def reader(self) -> Connector:
        return self.inner.reader()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("table", ["requests", "campaigns"])
def test_prefix_look_ups_are_index_range_scans(store: AnyStore, kind: str, table: str) -> None:
    recording = _Recording(store.connector)
    viewed = SqlStore(recording)
    (viewed.find_requests if table == "requests" else viewed.find_campaigns)("abc")
    ((query, params),) = recording.statements
    if kind == "sqlite":
        plan = " ".join(
            str(row["detail"])
            for row in recording.execute("EXPLAIN QUERY PLAN " + query, params).rows
        )
        assert "SEARCH" in plan and "_id>? AND" in plan, plan
    else:
        recording.execute("SET enable_seqscan = off")  # an empty table: ask what it *can* do
        rows = recording.execute("EXPLAIN " + query, params).rows
        plan = " ".join(str(row["QUERY PLAN"]) for row in rows)
        assert "Index Cond" in plan and ">=" in plan, plan


# -- readers -------------------------------------------------------------------------------------


def test_the_reader_reads_while_a_writer_holds_its_transaction(store: AnyStore) -> None:
    store.add_request(make_request("committed"), AT)
    reader = store.reader()
    with store.transaction():
        store.add_request(make_request("in-flight"), AT)
        # Same thread, writer's transaction open: a read that waited for it would never
        # return (SQLite would fail with "database is locked" after its busy timeout).
        committed = reader.get_request("committed")
        in_flight = reader.get_request("in-flight")
        prefixed = [r.request_id for r in reader.find_requests("comm")]
    assert committed is not None and in_flight is None
    assert prefixed == ["committed"]
    assert reader.get_request("in-flight") is not None  # once committed


def test_the_reader_cannot_write(store: AnyStore) -> None:
    reader = store.reader()
    assert isinstance(reader, SqlStore)
    with pytest.raises(StoreError):
        reader.add_request(make_request("sneaky"), AT)
    assert store.get_request("sneaky") is None


# -- retention -----------------------------------------------------------------------------------


def _task(n: int, group: str) -> Any:
    event = FakeTask(slug(n), group=group).pending().event()
    return observe(None, event.status, event.label).record


def _fill(store: AnyStore) -> None:
    with store.transaction():
        for n in range(5):
            store.record_rejection(Rejection("ex", "rk", f"old {n}", b"x" * 100), LONG_AGO)
        for n in range(4):
            store.record_rejection(Rejection("ex", "rk", f"new {n}", b"y"), LAST_WEEK)
        # GROUP is watched (an open request); OTHER_GROUP's request is finished.
        store.add_request(make_request("watching", group=GROUP), LONG_AGO)
        store.add_request(
            make_request("done", group=OTHER_GROUP, state=RequestState.COMPLETED), LONG_AGO
        )
        for n in range(3):
            store.save_task(_task(100 + n, GROUP), LONG_AGO)
            store.save_task(_task(200 + n, OTHER_GROUP), LONG_AGO)
        store.save_task(_task(300, OTHER_GROUP), LAST_WEEK)  # unwatched but recent


POLICY = RetentionPolicy(rejected_days=7, rejected_max_rows=3, finished_task_days=14, batch=2)


def test_prune_keeps_recent_and_watched_rows_and_deletes_the_rest(store: AnyStore) -> None:
    _fill(store)

    preview = store.prune_preview(POLICY, NOW)
    assert preview.deleted == {"rejected": 6, "tasks": 3}
    assert store.count_rejections() == 9  # a preview deletes nothing

    report = store.prune(POLICY, NOW)

    assert report.deleted == preview.deleted
    assert [r.reason for r in store.rejections()] == ["new 3", "new 2", "new 1"]
    assert set(store.get_tasks([slug(n) for n in (100, 101, 102, 200, 201, 202, 300)])) == {
        slug(100),
        slug(101),
        slug(102),
        slug(300),
    }
    assert store.prune(POLICY, NOW).total == 0


def test_one_prune_step_deletes_at_most_a_batch_per_table(store: AnyStore) -> None:
    _fill(store)
    step = store.prune_step(POLICY, NOW)
    assert step.deleted == {"rejected": 2, "tasks": 2}
    assert store.count_rejections() == 7


def test_rejected_bodies_are_cut_to_a_bounded_size(store: AnyStore, kind: str) -> None:
    store.record_rejection(Rejection("ex", "rk", "huge", b"z" * (60 * 1024)), AT)
    column = "octet_length(body)" if kind == "postgres" else "length(body)"
    row = store.connector.execute(f"SELECT {column} AS n FROM rejected").one()
    assert row is not None and row["n"] == REJECTED_BODY_LIMIT


def test_an_existing_postgres_schema_migrates_forward_keeping_its_rows(pg_dsn: str) -> None:
    import psycopg

    from mozci_monitor.store.postgres import MIGRATIONS, SCHEMA_VERSION

    released = 3  # the schema version before paging and retention
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
        )
        for number, script in enumerate(MIGRATIONS[:released], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        conn.execute(
            "INSERT INTO rejected (at, exchange, routing_key, reason, body)"
            " VALUES (%s, 'ex', 'rk', 'kept', '\\x00')",
            (LONG_AGO,),
        )
    store = PostgresStore(pg_dsn)
    try:
        assert store.schema_version() == SCHEMA_VERSION > released
        assert [r.reason for r in store.rejections()] == ["kept"]
    finally:
        store.close()
