"""A batch applied through the working set ends as it would one message at a time, and
writes each changed task and request once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from store.pulse_builder import FakeTask, Message, events, make_request, slug

from mozci_monitor.core.model import Request, TaskRecord
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"


class CountingStore(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.request_saves: list[str] = []
        self.task_saves: list[str] = []

    def save_request(self, request: Request, at: str) -> None:
        self.request_saves.append(request.request_id)
        super().save_request(request, at)

    def save_requests(self, requests: Sequence[Request], at: str, **linked: Any) -> None:
        self.request_saves += [request.request_id for request in requests]
        super().save_requests(requests, at, **linked)

    def save_tasks(self, records: Sequence[TaskRecord], at: str) -> None:
        self.task_saves += [record.task_id for record in records]
        super().save_tasks(records, at)


def _state(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Requests, tasks and each request's timeline (its own order; seq aside)."""
    with sqlite3.connect(path) as db:
        return {
            "requests": db.execute(
                "SELECT request_id, state, failure, reason, task_ids, is_open FROM requests"
                " ORDER BY request_id"
            ).fetchall(),
            "tasks": db.execute(
                "SELECT task_id, label, phase, reason, status FROM tasks ORDER BY task_id"
            ).fetchall(),
            "timeline": db.execute(
                "SELECT request_id, kind, task_id, detail FROM timeline ORDER BY request_id, seq"
            ).fetchall(),
            "links": db.execute(
                "SELECT request_id, task_id FROM request_tasks ORDER BY request_id, task_id"
            ).fetchall(),
        }


def _unlinked(path: Path) -> list[tuple[str, str]]:
    """A request's tasks its "who serves this task" link is missing for."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT r.request_id, j.value FROM requests r, json_each(r.task_ids) j"
            " WHERE NOT EXISTS (SELECT 1 FROM request_tasks l"
            "  WHERE l.request_id = r.request_id AND l.task_id = j.value)"
        ).fetchall()
    return [(str(request_id), str(task_id)) for request_id, task_id in rows]


def _workload() -> list[Message]:
    first, second, retried = FakeTask(slug(1)), FakeTask(slug(2)), FakeTask(slug(3), label="b")
    messages = [
        first.pending(),
        second.pending(),
        first.running(),
        retried.pending(),
        second.running(),
        retried.running(),
        first.resolve("completed"),
        retried.resolve("exception", "worker-shutdown"),
        second.resolve("failed"),
        retried.pending("retry"),
    ]
    return [*messages, messages[0], messages[4]]  # redelivered late: they change nothing


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[CountingStore, CountingStore]]:
    one_by_one = CountingStore(tmp_path / "a.sqlite3")
    batched = CountingStore(tmp_path / "b.sqlite3")
    for store in (one_by_one, batched):
        engine = Engine(store)
        engine.register(make_request("req-a", wanted=2), AT)
        engine.register(make_request("req-b", label="b"), AT)
        store.request_saves.clear()
    yield one_by_one, batched
    one_by_one.close()
    batched.close()


def test_one_batch_ends_as_one_message_at_a_time(
    stores: tuple[CountingStore, CountingStore], tmp_path: Path
) -> None:
    one_by_one, batched = stores
    for event in events(_workload()):
        Engine(one_by_one).apply([event], AT)
    outcome = Engine(batched).apply(events(_workload()), AT)
    assert _state(tmp_path / "b.sqlite3") == _state(tmp_path / "a.sqlite3")
    assert (outcome.applied, outcome.stale) == (10, 2)  # the redeliveries arrive late
    assert set(outcome.changed_requests) == {"req-a", "req-b"}


def test_a_batch_writes_each_changed_task_and_request_once(
    stores: tuple[CountingStore, CountingStore],
) -> None:
    one_by_one, batched = stores
    for event in events(_workload()):
        Engine(one_by_one).apply([event], AT)
    Engine(batched).apply(events(_workload()), AT)
    assert sorted(batched.request_saves) == ["req-a", "req-b"]
    assert sorted(batched.task_saves) == [slug(1), slug(2), slug(3)]
    assert len(one_by_one.request_saves) > len(batched.request_saves)


def test_a_dry_run_batch_writes_nothing(
    stores: tuple[CountingStore, CountingStore], tmp_path: Path
) -> None:
    _, batched = stores
    before = _state(tmp_path / "b.sqlite3")
    Engine(batched).apply(events(_workload()), AT, dry_run=True)
    assert _state(tmp_path / "b.sqlite3") == before


def test_a_warm_engine_ends_as_a_new_engine_per_batch(
    stores: tuple[CountingStore, CountingStore], tmp_path: Path
) -> None:
    cold, warm = stores
    engine = Engine(warm)
    messages = events(_workload())
    for start in range(0, len(messages), 3):  # a task's messages spread over batches
        Engine(cold).apply(messages[start : start + 3], AT)
        engine.apply(messages[start : start + 3], AT)
    assert _state(tmp_path / "b.sqlite3") == _state(tmp_path / "a.sqlite3")
    assert engine.index.tasks and engine.index.reloads == 0
    # Each batch links only the tasks a request gained: none is left unlinked.
    assert _state(tmp_path / "b.sqlite3")["links"]
    assert _unlinked(tmp_path / "a.sqlite3") == _unlinked(tmp_path / "b.sqlite3") == []
