"""The store's generation: one more per committed transaction that changed tasks or
requests, whichever connection wrote; what engines' warm indexes are checked against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from store.pulse_builder import FakeTask, make_request, slug

from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import observe
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import TaskRecord
from mozci_monitor.ports.store import RetentionPolicy
from store_contract.conftest import AnyStore, OpenStore

AT = "2026-11-22T10:00:00.000Z"


def _task(n: int) -> TaskRecord:
    return observe(None, FakeTask(slug(n)).pending().event().status, "label").record


def test_a_write_of_tasks_or_requests_is_one_generation(open_store: OpenStore) -> None:
    store, other = open_store(), open_store()
    start = store.generation()
    with store.transaction():
        store.add_request(make_request("req-1"), AT)
        store.save_tasks([_task(1), _task(2)], AT)
    assert store.written_generation == start + 1
    assert other.generation() == start + 1  # seen from another connection
    with other.transaction():
        other.save_tasks([_task(3)], AT)
    assert other.written_generation == start + 2 == store.generation()


def test_other_writes_and_failures_keep_the_generation(store: AnyStore) -> None:
    start = store.generation()
    with store.transaction():
        store.record_rejection(Rejection("exchange/x", "rk", "not json", b"{"), AT)
        store.save_tasks([], AT)
    assert store.written_generation is None
    with store.transaction(rollback=True):
        store.save_tasks([_task(1)], AT)
    assert store.written_generation is None
    with pytest.raises(StoreError), store.transaction():
        store.save_tasks([_task(1)], AT)
        raise StoreError("the batch fails")
    assert store.written_generation is None
    assert store.generation() == start


def test_a_write_outside_a_transaction_is_its_own_generation(store: AnyStore) -> None:
    start = store.generation()
    store.save_tasks([_task(1)], AT)
    assert store.generation() == start + 1


def test_pruning_tasks_is_a_generation(store: AnyStore) -> None:
    old = "2020-01-01T00:00:00.000Z"
    store.save_tasks([_task(1)], old)  # of a group nothing watches, long untouched
    start = store.generation()
    now = datetime(2026, 11, 22, tzinfo=UTC)
    report = store.prune_step(RetentionPolicy(), now)
    assert report.deleted.get("tasks") == 1
    assert store.generation() == start + 1
    store.prune_step(RetentionPolicy(), now + timedelta(seconds=1))  # nothing left
    assert store.generation() == start + 1


def test_request_ids_serving_and_get_requests(store: AnyStore) -> None:
    task = _task(5)
    with store.transaction():
        store.add_request(make_request("req-own", label="x", task_ids=(task.task_id,)), AT)
        store.add_request(make_request("req-label", label="label"), AT)
        store.add_request(make_request("req-else", label="y"), AT)
    group = task.task_group_id
    assert store.request_ids_serving(task.task_id, group, "label") == ["req-label", "req-own"]
    assert store.request_ids_serving(task.task_id, group, None) == ["req-own"]
    found = store.get_requests(["req-own", "missing", "req-else"])
    assert [r.request_id for r in found] == ["req-own", "req-else"]
    assert store.requests_serving(task.task_id, group, "label") == store.get_requests(
        ["req-label", "req-own"]
    )


def test_request_ids_serving_many_answers_as_one_at_a_time(store: AnyStore) -> None:
    task, other = _task(5), _task(6)
    with store.transaction():
        store.add_request(make_request("req-own", label="x", task_ids=(task.task_id,)), AT)
        store.add_request(make_request("req-label", label="label"), AT)
        store.add_request(make_request("req-else", label="y"), AT)
    group = task.task_group_id
    keys = [
        (task.task_id, group, "label"),
        (task.task_id, group, None),
        (other.task_id, group, "label"),
        (other.task_id, group, "nothing"),
        (other.task_id, "another-group", "label"),
    ]
    assert store.request_ids_serving_many(keys) == {
        key: store.request_ids_serving(*key) for key in keys
    }
    assert store.request_ids_serving_many(keys)[keys[0]] == ["req-label", "req-own"]
