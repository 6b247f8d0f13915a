"""The engine's warm index (kept between batches) never makes it act on rows the store no
longer holds: another connection's writes (a second daemon, the CLI) are seen at the next
batch, a failed commit leaves nothing of itself in memory, and a warm engine ends where a
cold one (a new engine per batch) ends. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from store.pulse_builder import GROUP, LABEL, FakeTask, events, make_request, slug

from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.model import Request, RequestState, TaskRecord
from mozci_monitor.engine import Engine
from store_contract.conftest import AnyStore, OpenStore

AT = "2026-11-22T10:00:00.000Z"


def _requests(store: AnyStore) -> dict[str, tuple[Any, ...]]:
    return {
        r.request_id: (r.state, r.task_ids, r.runs_green, r.runs_orange)
        for r in store.iter_requests()
    }


def _batches() -> list[list[Any]]:
    a, b, c = FakeTask(slug(1)), FakeTask(slug(2)), FakeTask(slug(3), label="other")
    return [
        events([a.pending(), b.pending(), c.pending()]),
        events([a.running(), b.running()]),
        events([a.resolve("completed"), b.resolve("exception", "worker-shutdown")]),
        events([b.pending("retry"), c.running()]),
        events([b.running(), b.resolve("failed"), c.resolve("completed")]),
    ]


def _register(store: AnyStore) -> None:
    engine = Engine(store)
    engine.register(make_request("req-a", wanted=2), AT)
    engine.register(make_request("req-c", label="other"), AT)


def test_it_stays_warm_while_nobody_else_writes(open_store: OpenStore) -> None:
    mine, theirs = open_store(), open_store()
    _register(mine)
    engine = Engine(mine)
    for batch in _batches():
        engine.apply(batch, AT)
        Engine(theirs).apply([], AT)  # another connection's batch that writes nothing
    assert _requests(mine)["req-a"][0] is RequestState.FAILED  # b failed after its retry
    assert _requests(mine)["req-c"][0] is RequestState.COMPLETED
    assert engine.index.reloads == 0


def test_a_request_registered_by_another_connection_is_served(open_store: OpenStore) -> None:
    mine, theirs = open_store(), open_store()
    Engine(mine).register(make_request("req-1"), AT)
    engine = Engine(mine)
    task = FakeTask(slug(7))
    engine.apply(events([task.pending()]), AT)  # the index learns who serves the task
    Engine(theirs).register(make_request("req-2"), AT)  # a second daemon's API
    engine.apply(events([task.running()]), AT)
    served = mine.get_request("req-2")
    assert served is not None and served.task_ids == (task.task_id,)
    assert served.state is RequestState.RUNNING
    assert engine.index.reloads == 1


def test_a_request_changed_by_another_connection_is_not_overwritten(
    open_store: OpenStore,
) -> None:
    mine, theirs = open_store(), open_store()
    Engine(mine).register(make_request("req-1", wanted=2), AT)
    engine = Engine(mine)
    first, second = FakeTask(slug(8)), FakeTask(slug(9))
    engine.apply(events([first.pending(), second.pending()]), AT)
    found = theirs.get_request("req-1")
    assert found is not None
    with theirs.transaction():  # e.g. the CLI cancelling the request's campaign
        theirs.save_request(replace(found, state=RequestState.CANCELED, reason="by hand"), AT)
    engine.apply(events([first.running()]), AT)
    after = mine.get_request("req-1")
    assert after is not None and (after.state, after.reason) == (RequestState.CANCELED, "by hand")


def test_a_task_written_by_another_connection_empties_the_index(
    open_store: OpenStore,
) -> None:
    mine, theirs = open_store(), open_store()
    engine = Engine(mine)
    engine.register(make_request("req-1"), AT)
    engine.apply(events([FakeTask(slug(11)).pending()]), AT)
    assert slug(11) in engine.index.tasks
    record = theirs.get_task(slug(11))
    assert record is not None
    with theirs.transaction():
        theirs.save_tasks([replace(record, label="renamed")], AT)
    engine.apply([], AT)
    assert slug(11) not in engine.index.tasks  # another writer: it started empty
    assert engine.index.reloads == 1


def _warm(open_store: OpenStore) -> tuple[AnyStore, Engine, list[list[Any]]]:
    """A store with the requests registered, and an engine warmed by the first batch."""
    store = open_store()
    _register(store)
    engine = Engine(store)
    batches = _batches()
    engine.apply(batches[0], AT)
    return store, engine, batches


class FailingFlush:
    """Make the next batch's bulk task write fail (a lost connection at the worst time)."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store
        self.original = store.save_tasks
        self.armed = True

    def __call__(self, records: Sequence[TaskRecord], at: str) -> None:
        if self.armed:
            self.armed = False
            raise StoreError("connection lost")
        self.original(records, at)


def test_a_failed_commit_leaves_nothing_in_memory(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, engine, batches = _warm(open_store)
    assert engine.index.tasks  # warm
    monkeypatch.setattr(store, "save_tasks", FailingFlush(store))
    with pytest.raises(StoreError):
        engine.apply(batches[1], AT)
    assert engine.index.generation is None and not engine.index.tasks
    assert not engine.index.requests and not engine.index.serving
    request = store.get_request("req-a")
    assert request is not None and request.state is RequestState.PENDING  # rolled back
    for batch in batches[1:]:  # the daemon retries the batch, then goes on
        engine.apply(batch, AT)
    assert _requests(store)["req-a"][0] is RequestState.FAILED


def test_a_dry_run_leaves_the_index_as_the_store(open_store: OpenStore) -> None:
    store, engine, batches = _warm(open_store)
    engine.apply(batches[1], AT, dry_run=True)  # rolled back: the store did not move
    kept = engine.index.tasks[slug(1)]
    stored = store.get_task(slug(1))
    assert stored is not None and kept.phase == stored.phase  # still pending, as stored


def test_a_warm_batch_reads_no_row_it_knows(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, engine, batches = _warm(open_store)
    reads: list[str] = []

    def counted(name: str) -> Any:
        original = getattr(store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            return original(*args, **kwargs)

        return call

    names = ("get_task", "get_tasks", "request_ids_serving", "request_ids_serving_many")
    for name in (*names, "get_requests"):
        monkeypatch.setattr(store, name, counted(name))
    engine.apply(batches[1], AT)  # the same tasks move on
    assert reads == []
    newcomers = [FakeTask(slug(n)) for n in range(20, 25)]
    engine.apply(events([task.pending() for task in newcomers]), AT)
    # New tasks: one read of the tasks and one question for all; req-a is in memory.
    assert reads == ["get_tasks", "request_ids_serving_many"]
    request: Request | None = store.get_request("req-a")
    assert request is not None and request.state is RequestState.RUNNING
    assert request.label == LABEL and request.push.task_group_id == GROUP
