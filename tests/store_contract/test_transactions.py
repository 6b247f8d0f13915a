"""Transactions on both stores: atomic, rolled back on error, serialised across connections."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from store.pulse_builder import make_request

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.errors import StoreError
from mozci_monitor.store.postgres import SCHEMA_VERSION, PostgresStore
from store_contract.conftest import AnyStore, OpenStore

AT = "2026-11-22T12:00:00.000Z"


class _Boom(Exception):
    pass


def test_a_transaction_rolls_back_on_error(store: AnyStore, open_store: OpenStore) -> None:
    with pytest.raises(_Boom), store.transaction():
        store.add_request(make_request("req-1"), AT)
        store.add_action(Action("k", ActionKind.NOTIFY, None), AT)
        raise _Boom
    assert store.get_request("req-1") is None
    assert store.pending_actions() == []
    with store.transaction():  # and the connection is usable afterwards
        store.add_request(make_request("req-2"), AT)
    assert open_store().get_request("req-2") is not None


def test_rollback_true_discards_the_writes(store: AnyStore) -> None:
    with store.transaction(rollback=True):
        store.add_request(make_request("req-1"), AT)
        assert store.get_request("req-1") is not None  # visible inside
    assert store.get_request("req-1") is None


def test_uncommitted_writes_are_invisible_to_another_connection(
    store: AnyStore, open_store: OpenStore
) -> None:
    other = open_store()
    with store.transaction():
        store.add_request(make_request("req-1"), AT)
        assert other.get_request("req-1") is None
    assert other.get_request("req-1") is not None


def test_probe_writable_passes_and_changes_nothing(store: AnyStore) -> None:
    store.add_action(Action("k", ActionKind.NOTIFY, None), AT)
    before = store.pending_actions()
    store.probe_writable()
    assert store.pending_actions() == before


def _wait_until_blocked(store: AnyStore, seconds: float = 0.3) -> None:
    """Let a second transaction reach the lock the first one holds.

    On PostgreSQL we can see it waiting; SQLite offers no such view, so give it time.
    Either way the assertion that follows holds only if the writes were serialised.
    """
    if not isinstance(store, PostgresStore):
        time.sleep(seconds)
        return
    with psycopg.connect(store.dsn, autocommit=True) as conn:
        for _ in range(400):
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.025)
    raise AssertionError("the second transaction never waited for the first")


def test_two_transactions_updating_one_request_serialise(
    store: AnyStore, open_store: OpenStore
) -> None:
    """Read-modify-write from two connections: neither increment is lost."""
    store.add_request(make_request("req-1"), AT)
    second = open_store()
    first_has_read = threading.Event()
    errors: list[BaseException] = []

    def increment(mine: AnyStore, after_read: threading.Event | None) -> None:
        try:
            with mine.transaction():
                request = mine.get_request("req-1")
                assert request is not None
                if after_read is not None:
                    after_read.set()
                    _wait_until_blocked(mine)
                mine.save_request(replace(request, actions=request.actions + 1), AT)
        except BaseException as error:
            errors.append(error)

    one = threading.Thread(target=increment, args=(store, first_has_read))
    one.start()
    assert first_has_read.wait(10)
    two = threading.Thread(target=increment, args=(second, None))
    two.start()
    one.join()
    two.join()
    assert errors == []
    final = store.get_request("req-1")
    assert final is not None and final.actions == 2


def test_two_connections_queueing_one_key_queue_it_once(
    store: AnyStore, open_store: OpenStore
) -> None:
    stores = [store, open_store(), open_store()]
    start = threading.Barrier(len(stores))
    results: list[bool] = []

    def queue(mine: AnyStore) -> None:
        start.wait()
        with mine.transaction():
            results.append(mine.add_action(Action("same-intent", ActionKind.NOTIFY, None), AT))

    threads = [threading.Thread(target=queue, args=(mine,)) for mine in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True]
    assert len(store.pending_actions()) == 1


# -- PostgreSQL only (SQLite's own are in tests/store) ----------------------------------------


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_dsn)
    yield store
    store.close()


def test_schema_is_versioned_and_reopening_migrates_nothing(pg: PostgresStore) -> None:
    assert pg.schema_version() == SCHEMA_VERSION
    assert pg.migrate() == SCHEMA_VERSION
    with psycopg.connect(pg.dsn) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_instances_starting_together_migrate_once(pg_dsn: str) -> None:
    stores: list[PostgresStore] = []
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(pg_dsn))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
    finally:
        for s in stores:
            s.close()


def test_an_unmigrated_or_newer_schema_is_refused(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match="run `mozci-monitor migrate`"):
        PostgresStore(pg_dsn, migrate=False)
    PostgresStore(pg_dsn).close()
    PostgresStore(pg_dsn, migrate=False).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="this code needs"):
        PostgresStore(pg_dsn)


def test_an_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError) as raised:
        PostgresStore("host=127.0.0.1 port=1 user=u password=hunter2 connect_timeout=2")
    assert "hunter2" not in str(raised.value)


def test_a_lost_connection_fails_the_batch_and_the_next_one_reconnects(
    pg: PostgresStore,
) -> None:
    pg.add_request(make_request("req-1"), AT)
    backend = pg._db.info.backend_pid
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with pytest.raises(StoreError) as lost, pg.transaction():
        pg.add_request(make_request("req-2"), AT)
    assert isinstance(lost.value.__cause__, psycopg.OperationalError)
    with pg.transaction():  # what the daemon's retry does
        pg.add_request(make_request("req-2"), AT)
    assert pg._db.info.backend_pid != backend
    assert {r.request_id for r in pg.list_requests()} == {"req-1", "req-2"}


def test_a_waiter_gives_up_after_lock_timeout(pg_dsn: str) -> None:
    holder = PostgresStore(pg_dsn)
    waiter = PostgresStore(pg_dsn, lock_timeout=0.2)
    try:
        with holder.transaction():
            with pytest.raises(StoreError) as timed_out, waiter.transaction():
                pytest.fail("the write lock is held: this must not run")
            assert isinstance(timed_out.value.__cause__, psycopg.errors.LockNotAvailable)
            holder.add_request(make_request("req-1"), AT)
        with waiter.transaction():  # the daemon's retry, once the holder is done
            waiter.add_request(make_request("req-2"), AT)
        assert {r.request_id for r in waiter.list_requests()} == {"req-1", "req-2"}
    finally:
        holder.close()
        waiter.close()


def test_a_frozen_instance_holding_the_write_lock_is_cut_off(pg_dsn: str) -> None:
    """Its connection lives but it does nothing: the server ends its session."""
    frozen = PostgresStore(pg_dsn, idle_in_transaction_timeout=0.3)
    other = PostgresStore(pg_dsn)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(frozen.transaction())
        frozen.add_request(make_request("lost"), AT)  # then it freezes, lock held
        with other.transaction():  # waits until the frozen session is ended
            other.add_request(make_request("req-1"), AT)
        assert [r.request_id for r in other.list_requests()] == ["req-1"]
        with pytest.raises(StoreError, match="idle-in-transaction") as cut_off:
            frozen.add_request(make_request("late"), AT)
        assert isinstance(cut_off.value.__cause__, psycopg.Error)
        with contextlib.suppress(StoreError):
            stack.close()
        assert frozen.get_request("req-1") is not None  # thawed: it reconnects
        assert frozen.get_request("lost") is None  # what it wrote frozen was rolled back
    finally:
        with contextlib.suppress(StoreError):
            stack.close()
        frozen.close()
        other.close()
