"""Until-fail through the engine and a real store, message by message.

The end-to-end tests cannot choose in which order Pulse messages arrive; here the test
does: a batch's second task is first seen only after the first one already failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from core.builders import GROUP, LABEL, PUSH, slug, status

from mozci_monitor import planner
from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.model import FailureKind, RequestState, TaskEvent, TaskEventKind
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"
ORIGINAL, FIRST, SECOND = slug(1), slug(2), slug(3)


def _event(kind: TaskEventKind, task_id: str, *runs: str) -> TaskEvent:
    return TaskEvent(
        kind=kind,
        status=status(*runs, task_id=task_id, group=GROUP),
        run_id=len(runs) - 1,
        label=LABEL,
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "state.sqlite3")


def _cancels(store: SqliteStore, request_id: str) -> list[str]:
    return sorted(
        e.action.task_id or ""
        for e in store.actions_of(request_id=request_id)
        if e.action.kind is ActionKind.CANCEL
    )


def _start(store: SqliteStore) -> str:
    engine = Engine(store)
    plan = planner.plan_until_fail(PUSH, label=LABEL, batch=2, budget=10)
    engine.start_campaign(plan.campaign, plan.requests, AT)
    (request,) = plan.requests
    engine.apply([_event(TaskEventKind.COMPLETED, ORIGINAL, "completed")], AT)
    (retrigger,) = store.actions_of(request_id=request.request_id)
    assert (retrigger.action.kind, retrigger.action.times) == (ActionKind.RETRIGGER, 2)
    return request.request_id


def test_open_runs_of_the_batch_are_cancelled_when_one_fails(store: SqliteStore) -> None:
    request_id = _start(store)
    engine = Engine(store)
    engine.apply(
        [
            _event(TaskEventKind.PENDING, FIRST, "pending"),
            _event(TaskEventKind.PENDING, SECOND, "pending"),
            _event(TaskEventKind.FAILED, FIRST, "failed"),
        ],
        AT,
    )
    request = store.get_request(request_id)
    assert request is not None
    assert (request.state, request.failure, request.first_orange) == (
        RequestState.FAILED,
        FailureKind.ORANGE,
        FIRST,
    )
    assert _cancels(store, request_id) == [SECOND]


def test_a_run_of_the_batch_seen_after_the_failure_is_cancelled_too(
    store: SqliteStore,
) -> None:
    request_id = _start(store)
    engine = Engine(store)
    engine.apply(
        [
            _event(TaskEventKind.PENDING, FIRST, "pending"),
            _event(TaskEventKind.FAILED, FIRST, "failed"),
        ],
        AT,
    )
    request = store.get_request(request_id)
    assert request is not None and request.failure is FailureKind.ORANGE
    assert _cancels(store, request_id) == []
    # the batch's other run, asked for by the monitor, shows up only now
    engine.apply([_event(TaskEventKind.PENDING, SECOND, "pending")], AT)
    assert _cancels(store, request_id) == [SECOND]
