"""The SQLite store: schema, round trips, queries the engine relies on, atomicity, durability."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import phase_of
from mozci_monitor.core.messages import Rejection, parse_status
from mozci_monitor.core.model import (
    FailureKind,
    RemedyPolicy,
    RequestState,
    Run,
    RunState,
    TaskRecord,
    TaskStatus,
    TimelineEntry,
)
from mozci_monitor.store.sql import REJECTED_BODY_LIMIT
from mozci_monitor.store.sqlite import MIGRATIONS as _MIGRATIONS
from mozci_monitor.store.sqlite import SqliteStore

from .pulse_builder import GROUP, LABEL, OTHER_GROUP, OTHER_LABEL, FakeTask, make_request, slug

AT = "2026-11-22T10:00:00.000Z"
LATER = "2026-11-22T11:00:00.000Z"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(db_path)
    yield opened
    opened.close()


def _raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection: what another process would see."""
    return sqlite3.connect(path)


def _dump(path: Path) -> list[str]:
    with _raw(path) as connection:
        return list(connection.iterdump())


def _record(message_status: dict[str, object], label: str | None = LABEL) -> TaskRecord:
    status = parse_status(message_status)
    phase, reason = phase_of(status)
    return TaskRecord(status.task_id, status.task_group_id, label, status, phase, reason)


def _task_record(n: int, *steps: str, group: str = GROUP, label: str | None = LABEL) -> TaskRecord:
    """A record for task `slug(n)` after walking the given steps (pending/running/completed...)."""
    task = FakeTask(slug(n), group=group, label=label)
    message = task.defined()
    for step in steps:
        if step == "pending":
            message = task.pending()
        elif step == "retry":
            message = task.pending("retry")
        elif step == "running":
            message = task.running()
        else:
            state, _, reason = step.partition(":")
            message = task.resolve(state, reason or None)
    return _record(message.payload["status"], label)


# -- schema ------------------------------------------------------------------------------------


def test_schema_is_created_and_reopening_migrates_nothing(db_path: Path) -> None:
    first = SqliteStore(db_path)
    first.add_request(make_request(), AT)
    first.close()
    before = _dump(db_path)

    second = SqliteStore(db_path)
    second.close()
    third = SqliteStore(db_path)
    third.close()

    assert _dump(db_path) == before
    with _raw(db_path) as connection:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert version == len(_MIGRATIONS)
    assert {"requests", "request_tasks", "tasks", "timeline", "rejected", "outbox"} <= tables


def test_a_first_version_database_is_migrated_keeping_its_rows(db_path: Path) -> None:
    """A store written by the first schema opens with today's code and keeps its data."""
    with _raw(db_path) as old:
        old.executescript(_MIGRATIONS[0])
        old.execute(
            "INSERT INTO requests (request_id, repo, revision, task_group_id, label, wanted,"
            " state, task_ids, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ("old-1", "autoland", "a" * 40, GROUP, LABEL, 2, "running", f'["{slug(1)}"]', AT, AT),
        )
        old.execute("PRAGMA user_version=1")
    upgraded = SqliteStore(db_path)
    try:
        request = upgraded.get_request("old-1")
        assert request is not None
        assert (request.state, request.wanted, request.task_ids) == (
            RequestState.RUNNING,
            2,
            (slug(1),),
        )
        assert upgraded.open_task_groups() == {GROUP}
    finally:
        upgraded.close()
    with _raw(db_path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS)


def test_a_database_at_the_last_released_version_migrates_forward(db_path: Path) -> None:
    """Version 4 (claims and leases) was the schema before paging and retention."""
    released = 4
    with _raw(db_path) as old:
        for script in _MIGRATIONS[:released]:
            old.executescript(script)
        old.execute(
            "INSERT INTO rejected (at, exchange, routing_key, reason, body) VALUES (?,?,?,?,?)",
            (AT, "exchange/x", "rk", "kept", b"{"),
        )
        old.execute(f"PRAGMA user_version={released}")
    upgraded = SqliteStore(db_path)
    try:
        assert [r.reason for r in upgraded.rejections()] == ["kept"]
    finally:
        upgraded.close()
    with _raw(db_path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS)
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"requests_open_created", "tasks_updated", "rejected_at"} <= indexes


def test_file_store_is_in_wal_mode(store: SqliteStore, db_path: Path) -> None:
    with _raw(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_store_works_without_wal() -> None:
    memory = SqliteStore(":memory:")
    memory.add_request(make_request(), AT)
    assert memory.get_request("req-1") == make_request()
    memory.close()


def test_unopenable_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        SqliteStore(tmp_path / "no-such-dir" / "state.sqlite3")


def test_a_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not an SQLite database, just some text\n" * 50)
    with pytest.raises(StoreError):
        SqliteStore(path)


# -- requests ----------------------------------------------------------------------------------


def test_request_round_trip_keeps_every_field(store: SqliteStore) -> None:
    request = make_request(
        "req-full",
        wanted=3,
        state=RequestState.FAILED,
        failure=FailureKind.EXCEPTION,
        reason="deadline-exceeded",
        campaign_id="campaign-7",
        task_ids=(slug(1), slug(2), slug(3)),
        label="test-linux1804-64/opt-mochitest-plain-ünïcode-5",
    )
    store.add_request(request, AT)
    assert store.get_request("req-full") == request


def test_request_round_trip_keeps_the_remedy_policy_fields(store: SqliteStore) -> None:
    request = make_request(
        "req-policy",
        wanted=2,
        state=RequestState.PENDING,
        task_ids=(slug(1), slug(2)),
        remedy=RemedyPolicy.WATCH,
        require_green=True,
        max_actions=4,
        actions=2,
        expected_new=1,
        awaiting_rerun=(slug(1),),
        replaced=(slug(2),),
    )
    store.add_request(request, AT)
    assert store.get_request("req-policy") == request
    progressed = replace(request, actions=3, expected_new=0, awaiting_rerun=(), replaced=())
    store.save_request(progressed, LATER)
    assert store.get_request("req-policy") == progressed


def test_request_round_trip_of_defaults(store: SqliteStore) -> None:
    request = make_request("req-plain")
    store.add_request(request, AT)
    loaded = store.get_request("req-plain")
    assert loaded == request
    assert loaded is not None
    assert (loaded.failure, loaded.reason, loaded.campaign_id, loaded.task_ids) == (
        None,
        None,
        None,
        (),
    )


def test_save_request_updates_state_failure_reason_and_tasks(store: SqliteStore) -> None:
    store.add_request(make_request(campaign_id="c1"), AT)
    updated = make_request(
        campaign_id="c1",
        state=RequestState.FAILED,
        failure=FailureKind.ORANGE,
        reason="1 of 1 runs failed",
        task_ids=(slug(5),),
    )
    store.save_request(updated, LATER)
    assert store.get_request("req-1") == updated
    assert store.requests_serving(slug(5), GROUP, None) == [updated]

    back_to_open = make_request(campaign_id="c1", state=RequestState.RUNNING, task_ids=(slug(5),))
    store.save_request(back_to_open, LATER)
    assert store.get_request("req-1") == back_to_open


def test_save_request_of_unknown_id_raises_store_error(store: SqliteStore) -> None:
    with pytest.raises(StoreError, match="no request req-missing"):
        store.save_request(make_request("req-missing"), AT)


def test_get_request_of_unknown_id_is_none(store: SqliteStore) -> None:
    assert store.get_request("nope") is None


def test_list_requests_newest_first_and_open_only(store: SqliteStore) -> None:
    store.add_request(make_request("a-old"), "2026-11-22T08:00:00.000Z")
    store.add_request(make_request("b-new"), "2026-11-22T09:00:00.000Z")
    store.add_request(
        make_request("c-done", state=RequestState.COMPLETED), "2026-11-22T07:00:00.000Z"
    )
    assert [r.request_id for r in store.list_requests()] == ["b-new", "a-old", "c-done"]
    assert [r.request_id for r in store.list_requests(open_only=True)] == ["b-new", "a-old"]
    assert [r.request_id for r in store.list_requests(limit=1)] == ["b-new"]


def test_find_requests_by_prefix(store: SqliteStore) -> None:
    for request_id in ("abc123", "abc456", "abd000", "xyz999", "ab%cde", "ab_cde"):
        store.add_request(make_request(request_id), AT)

    def ids(prefix: str) -> list[str]:
        return [r.request_id for r in store.find_requests(prefix)]

    assert ids("abc") == ["abc123", "abc456"]
    assert ids("abc4") == ["abc456"]
    assert ids("abc456") == ["abc456"]
    assert ids("abc4567") == []
    assert ids("q") == []
    assert ids("x") == ["xyz999"]
    # Prefixes are literal: no LIKE wildcards.
    assert ids("ab%") == ["ab%cde"]
    assert ids("ab_") == ["ab_cde"]
    assert len(ids("")) == 6


def test_open_task_groups_lists_only_groups_of_open_requests(store: SqliteStore) -> None:
    third_group = slug(3_000)
    store.add_request(make_request("open", group=GROUP), AT)
    store.add_request(make_request("done", group=OTHER_GROUP, state=RequestState.COMPLETED), AT)
    store.add_request(make_request("closing", group=third_group), AT)
    store.add_request(make_request("open-too", group=GROUP, label=OTHER_LABEL), AT)
    assert store.open_task_groups() == {GROUP, third_group}

    store.save_request(
        make_request("closing", group=third_group, state=RequestState.CANCELED), LATER
    )
    assert store.open_task_groups() == {GROUP}


def test_requests_serving_by_task_id_and_by_open_group_and_label(store: SqliteStore) -> None:
    task = slug(10)
    owner_final = make_request(
        "owner-final", state=RequestState.COMPLETED, task_ids=(task,), label=OTHER_LABEL
    )
    owner_open = make_request("owner-open", task_ids=(task,))  # also matches by group+label
    by_label = make_request("by-label")
    final_same_label = make_request("final-same", state=RequestState.COALESCED)
    other_label = make_request("other-label", label=OTHER_LABEL)
    other_group = make_request("other-group", group=OTHER_GROUP)
    for request in (owner_final, owner_open, by_label, final_same_label, other_label, other_group):
        store.add_request(request, AT)

    serving = store.requests_serving(task, GROUP, LABEL)
    ids = [r.request_id for r in serving]
    assert sorted(ids) == ["by-label", "owner-final", "owner-open"]
    assert len(ids) == len(set(ids)), "a request owning the task and matching it is listed once"
    assert {r.request_id: r for r in serving}["owner-final"] == owner_final

    unlabelled = store.requests_serving(task, GROUP, None)
    assert sorted(r.request_id for r in unlabelled) == ["owner-final", "owner-open"]

    stranger = store.requests_serving(slug(11), GROUP, None)
    assert stranger == []


# -- tasks -------------------------------------------------------------------------------------


def test_task_round_trip_status_equals_original(store: SqliteStore) -> None:
    status = TaskStatus(
        task_id=slug(20),
        task_group_id=GROUP,
        state="running",
        retries_left=3,
        runs=(
            Run(
                0,
                RunState.EXCEPTION,
                "scheduled",
                "claim-expired",
                scheduled="2026-11-22T10:00:00.000Z",
                started="2026-11-22T10:01:00.000Z",
                resolved="2026-11-22T10:21:00.000Z",
                worker_group="us-east-1",
                worker_id="i-0abc",
            ),
            Run(1, RunState.RUNNING, "retry", scheduled="2026-11-22T10:21:00.000Z"),
        ),
        provisioner_id="proj-autophone",
        worker_type="gecko-t-linux-large",
        scheduler_id="gecko-level-3",
        deadline="2026-11-23T10:00:00.000Z",
    )
    phase, reason = phase_of(status)
    record = TaskRecord(status.task_id, GROUP, LABEL, status, phase, reason)
    store.save_task(record, AT)
    loaded = store.get_task(status.task_id)
    assert loaded == record
    assert loaded is not None and loaded.status == status


def test_task_round_trip_of_unscheduled_unlabelled_task(store: SqliteStore) -> None:
    record = _task_record(21, label=None)
    assert record.status.runs == ()
    store.save_task(record, AT)
    assert store.get_task(slug(21)) == record


def test_save_task_replaces_the_previous_snapshot(store: SqliteStore) -> None:
    store.save_task(_task_record(22, "pending"), AT)
    newer = _task_record(22, "pending", "running", "failed")
    store.save_task(newer, LATER)
    assert store.get_task(slug(22)) == newer
    with _raw(Path(store.path)) as connection:
        assert connection.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1


def test_get_tasks_returns_the_known_ones_across_chunks(store: SqliteStore) -> None:
    records = {slug(n): _task_record(n, "pending") for n in range(1, 1206)}
    with store.transaction():
        for record in records.values():
            store.save_task(record, AT)
    wanted = [*records, slug(9_999)]
    found = store.get_tasks(wanted)
    assert found == records
    assert store.get_tasks([]) == {}


def test_tasks_in_group_only_that_group_sorted(store: SqliteStore) -> None:
    mine = [_task_record(n, "pending") for n in (33, 31, 32)]
    theirs = _task_record(34, "pending", group=OTHER_GROUP)
    for record in (*mine, theirs):
        store.save_task(record, AT)
    listed = store.tasks_in_group(GROUP)
    assert [r.task_id for r in listed] == sorted(r.task_id for r in mine)
    assert store.tasks_in_group(slug(4_000)) == []


def test_get_task_of_unknown_id_is_none(store: SqliteStore) -> None:
    assert store.get_task(slug(99)) is None


# -- timeline and rejections ------------------------------------------------------------------


def test_timeline_keeps_append_order_per_request(store: SqliteStore) -> None:
    store.add_request(make_request("one"), AT)
    store.add_request(make_request("two"), AT)
    first = [
        TimelineEntry("registered", None, {"label": LABEL, "wanted": 1}),
        TimelineEntry("task-seen", slug(1), {"label": LABEL}),
        TimelineEntry("task-phase", slug(1), {"phase": "pending", "run": 0, "reason": None}),
    ]
    store.append_timeline("one", first, AT)
    store.append_timeline("two", [TimelineEntry("registered", None, {"wanted": 2})], AT)
    second = [
        TimelineEntry("task-phase", slug(1), {"phase": "running", "run": 0}),
        TimelineEntry("state", None, {"state": "running"}),
    ]
    store.append_timeline("one", second, LATER)
    store.append_timeline("one", [], LATER)

    entries = store.timeline("one")
    assert [(e.kind, e.task_id, e.detail) for e in entries] == [
        (e.kind, e.task_id, e.detail) for e in (*first, *second)
    ]
    assert [e.at for e in entries] == [AT, AT, AT, LATER, LATER]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e.detail for e in store.timeline("two")] == [{"wanted": 2}]
    assert store.timeline("nobody") == []


def test_rejections_are_stored_newest_first_with_truncated_body(
    store: SqliteStore, db_path: Path
) -> None:
    huge = b"x" * (REJECTED_BODY_LIMIT + 1000)
    store.record_rejection(Rejection("exchange/a", "primary.a", "body is not JSON", b"{"), AT)
    store.record_rejection(Rejection("e" * 600, "r" * 2000, "body too large: ...", huge), LATER)
    assert store.count_rejections() == 2
    newest, oldest = store.rejections()
    assert oldest == (AT, "exchange/a", "primary.a", "body is not JSON")
    assert newest == (LATER, "e" * 512, "r" * 1024, "body too large: ...")
    assert store.rejections(limit=1) == [newest]
    with _raw(db_path) as connection:
        bodies = [row[0] for row in connection.execute("SELECT body FROM rejected ORDER BY seq")]
    assert bodies == [b"{", b"x" * REJECTED_BODY_LIMIT]


# -- transactions and durability ---------------------------------------------------------------


def test_transaction_commits_and_is_visible_to_another_connection(
    store: SqliteStore, db_path: Path
) -> None:
    with store.transaction():
        store.add_request(make_request(), AT)
        with _raw(db_path) as outsider:
            assert outsider.execute("SELECT count(*) FROM requests").fetchone()[0] == 0
    with _raw(db_path) as outsider:
        assert outsider.execute("SELECT count(*) FROM requests").fetchone()[0] == 1


def test_transaction_rolls_back_on_exception(store: SqliteStore, db_path: Path) -> None:
    store.add_request(make_request("kept"), AT)
    before = _dump(db_path)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.add_request(make_request("lost"), AT)
        store.save_task(_task_record(40, "pending"), AT)
        store.append_timeline("kept", [TimelineEntry("state", None, {"state": "x"})], AT)
        store.record_rejection(Rejection("e", "k", "r", b""), AT)
        raise RuntimeError("boom")
    assert _dump(db_path) == before
    assert store.get_request("lost") is None
    # The connection is usable again: no transaction was left open.
    with store.transaction():
        store.add_request(make_request("after"), AT)
    assert store.get_request("after") is not None


def test_transaction_with_rollback_true_discards_the_writes(
    store: SqliteStore, db_path: Path
) -> None:
    before = _dump(db_path)
    with store.transaction(rollback=True):
        store.add_request(make_request("dry"), AT)
        assert store.get_request("dry") is not None  # visible inside the transaction
    assert store.get_request("dry") is None
    assert _dump(db_path) == before


def test_probe_writable_passes_on_a_writable_store_and_changes_nothing(
    store: SqliteStore, db_path: Path
) -> None:
    before = _dump(db_path)
    store.probe_writable()
    assert _dump(db_path) == before


def _make_read_only(path: Path) -> None:
    """Make `path` unwritable even for root (tests run as root, where chmod stops nothing)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: no cheap way to make a file read-only")
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {done.stderr.strip()}")


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o644)


def test_probe_writable_raises_store_error_on_a_read_only_database(db_path: Path) -> None:
    SqliteStore(db_path).close()  # create the schema; closing removes -wal and -shm
    _make_read_only(db_path)
    try:
        read_only = SqliteStore(db_path)  # reading still works
        try:
            assert read_only.list_requests() == []
            with pytest.raises(StoreError, match="not writable"):
                read_only.probe_writable()
        finally:
            read_only.close()
    finally:
        _make_writable(db_path)


def test_state_and_timeline_survive_close_and_reopen(db_path: Path) -> None:
    request = make_request(
        wanted=2, state=RequestState.RUNNING, task_ids=(slug(50),), campaign_id="c"
    )
    task = _task_record(50, "pending", "running")
    entries = [
        TimelineEntry("registered", None, {"label": LABEL, "wanted": 2}),
        TimelineEntry("state", None, {"state": "running"}),
    ]
    first = SqliteStore(db_path)
    with first.transaction():
        first.add_request(request, AT)
        first.save_task(task, AT)
        first.append_timeline(request.request_id, entries, AT)
        first.record_rejection(Rejection("e", "k", "bad", b"{}"), AT)
    first.close()

    again = SqliteStore(db_path)
    try:
        assert again.get_request(request.request_id) == request
        assert again.get_task(slug(50)) == task
        assert [(e.kind, e.task_id, e.detail) for e in again.timeline(request.request_id)] == [
            (e.kind, e.task_id, e.detail) for e in entries
        ]
        assert again.count_rejections() == 1
        assert again.open_task_groups() == {GROUP}
        assert again.requests_serving(slug(50), GROUP, None) == [request]
    finally:
        again.close()


def test_two_stores_on_one_file_see_each_others_commits(db_path: Path) -> None:
    """The CLI registers requests while the daemon holds its own store open."""
    daemon = SqliteStore(db_path)
    cli = SqliteStore(db_path)
    try:
        assert daemon.open_task_groups() == set()
        with cli.transaction():
            cli.add_request(make_request("from-cli"), AT)
        assert daemon.open_task_groups() == {GROUP}
        with daemon.transaction():
            daemon.save_task(_task_record(60, "pending"), AT)
        assert cli.get_task(slug(60)) == _task_record(60, "pending")
    finally:
        cli.close()
        daemon.close()
