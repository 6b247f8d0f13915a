"""A batch's write-back: the bulk writes leave what the one-row writes leave, on both stores."""

from __future__ import annotations

from dataclasses import replace

import pytest
from store.pulse_builder import FakeTask, make_request, slug

from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import observe
from mozci_monitor.core.model import RequestState, TaskRecord, TimelineEntry
from store_contract.conftest import AnyStore

AT = "2026-11-22T12:00:00.000Z"
LATER = "2026-11-22T12:05:00.000Z"


def _running(n: int) -> TaskRecord:
    task = FakeTask(slug(n))
    task.pending()
    event = task.running().event()
    return observe(None, event.status, event.label).record


def test_save_tasks_inserts_and_updates_in_one_go(store: AnyStore) -> None:
    first, second = _running(1), _running(2)
    with store.transaction():
        store.save_tasks([first], AT)
        store.save_tasks([replace(first, label="new"), second], LATER)
    assert store.get_tasks([slug(1), slug(2)]) == {
        slug(1): replace(first, label="new"),
        slug(2): second,
    }


def test_save_requests_updates_each_request_and_links_its_tasks(store: AnyStore) -> None:
    with store.transaction():
        store.add_request(make_request("req-1"), AT)
        store.add_request(make_request("req-2", wanted=2), AT)
        store.save_requests(
            [
                replace(make_request("req-1"), task_ids=(slug(1),), state=RequestState.RUNNING),
                replace(make_request("req-2", wanted=2), task_ids=(slug(2), slug(3))),
            ],
            LATER,
        )
    one, two = store.get_request("req-1"), store.get_request("req-2")
    assert one is not None and two is not None
    assert (one.task_ids, one.state) == ((slug(1),), RequestState.RUNNING)
    assert two.task_ids == (slug(2), slug(3))
    task = _running(3)
    assert [r.request_id for r in store.requests_serving(slug(3), task.task_group_id, None)] == [
        "req-2"
    ]


def test_save_requests_links_only_the_tasks_not_already_linked(store: AnyStore) -> None:
    with store.transaction():
        store.add_request(replace(make_request("req-1", wanted=3), task_ids=(slug(1),)), AT)
        gained = replace(make_request("req-1", wanted=3), task_ids=(slug(1), slug(2), slug(3)))
        # The caller vouches for slug(1) (stored with the request) and, wrongly, for slug(3).
        store.save_requests([gained], LATER, already_linked={"req-1": (slug(1), slug(3))})
    group = _running(1).task_group_id
    serving = {n: store.request_ids_serving(slug(n), group, None) for n in (1, 2, 3)}
    assert serving == {1: ["req-1"], 2: ["req-1"], 3: []}


def test_save_requests_refuses_a_request_that_does_not_exist(store: AnyStore) -> None:
    with pytest.raises(StoreError), store.transaction():
        store.add_request(make_request("req-1"), AT)
        store.save_requests([make_request("req-1"), make_request("nope")], LATER)
    assert store.get_request("req-1") is None  # the whole transaction rolled back


def test_append_timelines_keeps_each_requests_order(store: AnyStore) -> None:
    entries = [
        ("req-1", TimelineEntry("task-seen", slug(1), {})),
        ("req-2", TimelineEntry("state", None, {"state": "pending"})),
        ("req-1", TimelineEntry("state", None, {"state": "running"})),
    ]
    with store.transaction():
        store.add_request(make_request("req-1"), AT)
        store.add_request(make_request("req-2"), AT)
        store.append_timelines(entries, LATER)
    assert [(e.kind, e.task_id) for e in store.timeline("req-1")] == [
        ("task-seen", slug(1)),
        ("state", None),
    ]
    assert [e.detail for e in store.timeline("req-2")] == [{"state": "pending"}]
