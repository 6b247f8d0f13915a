"""The REST catch-up reaches every open request, and forgets groups nobody watches any more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from store.pulse_builder import GROUP, LABEL, OTHER_GROUP, make_request

from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.model import RemedyPolicy, RunState
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.reconciler import Reconciler
from mozci_monitor.sources.models import TaskGroupMember, TaskRun, TaskStatus
from mozci_monitor.store.sqlite import SqliteStore

T = TypeVar("T")

OLD = "2026-11-01T00:00:00.000Z"
NEWER = "2026-11-20T00:00:00.000Z"
NOW = "2026-11-22T10:00:00.000Z"
CROWD = 1_100  # more newer open requests than the old catch-up ever read (1000)


class _Queue:
    """listTaskGroup and the full task graph of a push whose decision task is done and
    where LABEL never ran."""

    def __init__(self) -> None:
        self.graphs_read: list[str] = []

    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]:
        status = TaskStatus(
            task_id=task_group_id,
            task_group_id=task_group_id,
            state="completed",
            retries_left=5,
            runs=(TaskRun(0, RunState.COMPLETED, "scheduled", "completed"),),
        )
        return [TaskGroupMember(task_group_id, "decision", status, {})]

    async def artifact_json(self, task_id: str, name: str) -> Any:
        self.graphs_read.append(task_id)
        return {LABEL: {"kind": "test", "dependencies": {}}, "decision": {"kind": "decision"}}

    async def task(self, task_id: str) -> dict[str, Any]:  # pragma: no cover - unused
        raise AssertionError("labels are known")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "state.sqlite3")
    yield opened
    opened.close()


def _reconciler(store: SqliteStore, queue: _Queue) -> Reconciler:
    async def in_store(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    async def ignore(outcome: BatchOutcome) -> None:
        return None

    engine = Engine(store)
    return Reconciler(
        engine=engine,
        store=store,
        in_store=in_store,
        taskcluster=queue,
        now=lambda: NOW,
        on_outcome=ignore,
    )


async def test_an_old_request_gets_its_remedy_behind_more_than_a_thousand_newer_ones(
    store: SqliteStore,
) -> None:
    watch = {"remedy": RemedyPolicy.WATCH, "max_actions": 3}
    with store.transaction():
        store.add_request(make_request("old", group=GROUP, **watch), OLD)
        for n in range(CROWD):
            store.add_request(make_request(f"new-{n:04d}", group=OTHER_GROUP, **watch), NEWER)
    assert "old" not in {r.request_id for r in store.list_requests(open_only=True)}

    await _reconciler(store, _Queue()).reconcile_groups([GROUP])

    kinds = [entry.action.kind for entry in store.actions_of(request_id="old")]
    assert kinds == [ActionKind.ADD_NEW_JOBS]


async def test_task_graphs_of_groups_no_longer_watched_are_forgotten(store: SqliteStore) -> None:
    queue = _Queue()
    reconciler = _reconciler(store, queue)
    with store.transaction():
        store.add_request(make_request("a", group=GROUP, remedy=RemedyPolicy.WATCH), OLD)
        store.add_request(make_request("b", group=OTHER_GROUP, remedy=RemedyPolicy.WATCH), OLD)
    await reconciler.reconcile_groups([GROUP, OTHER_GROUP])
    assert sorted(queue.graphs_read) == sorted([GROUP, OTHER_GROUP])

    reconciler.forget_unwatched({OTHER_GROUP})
    with store.transaction():  # new requests in both groups need their graph again
        store.add_request(make_request("a2", group=GROUP, remedy=RemedyPolicy.WATCH), NEWER)
        store.add_request(make_request("b2", group=OTHER_GROUP, remedy=RemedyPolicy.WATCH), NEWER)
    await reconciler.reconcile_groups([GROUP, OTHER_GROUP])

    # The watched group's graph was kept; the other one had to be read again.
    assert sorted(queue.graphs_read) == sorted([GROUP, OTHER_GROUP, GROUP])
