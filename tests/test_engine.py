"""Engine.apply / register / learn_label on real-format Pulse messages over a SQLite store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store.pulse_builder import (
    GROUP,
    LABEL,
    OTHER_GROUP,
    OTHER_LABEL,
    FakeTask,
    Message,
    events,
    make_request,
    slug,
)

from mozci_monitor.core.messages import Rejection, parse_message
from mozci_monitor.core.model import (
    FailureKind,
    Phase,
    Request,
    RequestState,
    TaskEvent,
)
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T10:00:00.000Z"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(db_path)
    yield opened
    opened.close()


@pytest.fixture
def engine(store: SqliteStore) -> Engine:
    return Engine(store)


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def _kinds(store: SqliteStore, request_id: str = "req-1") -> list[tuple[str, str | None]]:
    return [(entry.kind, entry.task_id) for entry in store.timeline(request_id)]


def _apply(engine: Engine, *messages: Message, dry_run: bool = False) -> BatchOutcome:
    return engine.apply(events(list(messages)), AT, dry_run=dry_run)


def _state(store: SqliteStore, request_id: str = "req-1") -> Request:
    request = store.get_request(request_id)
    assert request is not None
    return request


def _counts(outcome: BatchOutcome) -> dict[str, int]:
    return {
        "applied": outcome.applied,
        "duplicates": outcome.duplicates,
        "stale": outcome.stale,
        "unwatched": outcome.unwatched,
        "rejected": outcome.rejected,
    }


def _counted(**counts: int) -> dict[str, int]:
    base = dict.fromkeys(("applied", "duplicates", "stale", "unwatched", "rejected"), 0)
    base.update(counts)
    return base


# -- one request, one task ---------------------------------------------------------------------


def test_request_follows_its_task_from_pending_to_completed(
    engine: Engine, store: SqliteStore
) -> None:
    registered = engine.register(make_request(), AT)
    assert registered.state is RequestState.SCHEDULED
    assert _kinds(store) == [("registered", None)]
    task = FakeTask(slug(1))

    for message, state in (
        (task.pending(), RequestState.PENDING),
        (task.running(), RequestState.RUNNING),
        (task.resolve("completed"), RequestState.COMPLETED),
    ):
        outcome = _apply(engine, message)
        assert _counts(outcome) == _counted(applied=1)
        assert outcome.changed_requests["req-1"].state is state
        assert _state(store).state is state

    t = slug(1)
    assert _kinds(store) == [
        ("registered", None),
        ("task-seen", t),
        ("task-phase", t),
        ("state", None),
        ("task-phase", t),
        ("state", None),
        ("task-phase", t),
        ("state", None),
    ]
    details = [entry.detail for entry in store.timeline("req-1")]
    assert {"label": LABEL, "wanted": 1}.items() <= details[0].items()
    assert [d.get("phase") for d in details if "phase" in d] == ["pending", "running", "completed"]
    assert [d["state"] for d in details if "state" in d] == ["pending", "running", "completed"]
    final = _state(store)
    assert final.task_ids == (t,)
    assert (final.failure, final.reason) == (None, None)
    stored = store.get_task(t)
    assert stored is not None and stored.phase is Phase.COMPLETED and stored.label == LABEL
    # Final requests stop watching their group.
    assert store.open_task_groups() == set()


def test_task_defined_message_counts_as_scheduled(engine: Engine, store: SqliteStore) -> None:
    engine.register(make_request(), AT)
    task = FakeTask(slug(1))
    outcome = _apply(engine, task.defined())
    assert _counts(outcome) == _counted(applied=1)
    assert _state(store).state is RequestState.SCHEDULED
    assert _state(store).task_ids == (slug(1),)
    assert _kinds(store) == [("registered", None), ("task-seen", slug(1)), ("task-phase", slug(1))]


# -- at-least-once and out-of-order delivery ----------------------------------------------------


def test_a_batch_applied_twice_changes_nothing_the_second_time(
    engine: Engine, store: SqliteStore, db_path: Path
) -> None:
    engine.register(make_request(wanted=3), AT)
    a, b, c = FakeTask(slug(1)), FakeTask(slug(2)), FakeTask(slug(3))
    a.pending()
    c.pending()
    c.running()
    batch = events([a.running(), b.pending(), c.resolve("completed")])

    first = engine.apply(batch, AT)
    assert _counts(first) == _counted(applied=3)
    assert _state(store).state is RequestState.RUNNING
    before = _dump(db_path)

    second = engine.apply(batch, "2026-11-22T12:00:00.000Z")
    assert _counts(second) == _counted(duplicates=3)
    assert second.changed_requests == {}
    assert second.unlabelled == []
    assert _dump(db_path) == before


def test_redelivery_of_a_whole_history_is_all_duplicate_or_stale(
    engine: Engine, store: SqliteStore, db_path: Path
) -> None:
    engine.register(make_request(), AT)
    history = events(FakeTask(slug(1)).lifecycle("failed"))
    engine.apply(history, AT)
    timeline = _kinds(store)
    before = _dump(db_path)

    again = engine.apply(history, AT)
    assert _counts(again) == _counted(duplicates=1, stale=2)
    assert _kinds(store) == timeline
    assert _dump(db_path) == before


def test_completed_before_running_ends_completed_and_counts_stale(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(), AT)
    task = FakeTask(slug(1))
    pending, running, completed = task.lifecycle("completed")

    assert _counts(_apply(engine, completed)) == _counted(applied=1)
    assert _state(store).state is RequestState.COMPLETED
    timeline = _kinds(store)

    late = _apply(engine, running, pending)
    assert _counts(late) == _counted(stale=2)
    assert late.changed_requests == {}
    assert _state(store).state is RequestState.COMPLETED
    stored = store.get_task(slug(1))
    assert stored is not None and stored.phase is Phase.COMPLETED
    assert _kinds(store) == timeline


def test_out_of_order_inside_one_batch(engine: Engine, store: SqliteStore) -> None:
    engine.register(make_request(), AT)
    pending, running, completed = FakeTask(slug(1)).lifecycle("completed")
    outcome = _apply(engine, running, completed, pending, running)
    assert _counts(outcome) == _counted(applied=2, stale=2)
    assert _state(store).state is RequestState.COMPLETED
    phases = [e.detail["phase"] for e in store.timeline("req-1") if e.kind == "task-phase"]
    assert phases == ["running", "completed"]


# -- what is watched -----------------------------------------------------------------------------


def test_tasks_of_unwatched_groups_are_ignored_and_not_stored(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(group=GROUP), AT)
    stranger = FakeTask(slug(9), group=OTHER_GROUP)
    outcome = _apply(engine, *stranger.lifecycle())
    assert _counts(outcome) == _counted(unwatched=3)
    assert store.get_task(slug(9)) is None
    assert store.tasks_in_group(OTHER_GROUP) == []
    assert store.count_rejections() == 0
    assert _kinds(store) == [("registered", None)]


def test_nothing_is_watched_without_requests(engine: Engine, store: SqliteStore) -> None:
    outcome = _apply(engine, *FakeTask(slug(1)).lifecycle())
    assert _counts(outcome) == _counted(unwatched=3)
    assert store.get_task(slug(1)) is None


def test_other_labels_of_a_watched_group_are_stored_but_change_no_request(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(), AT)
    outcome = _apply(engine, FakeTask(slug(2), label=OTHER_LABEL).pending())
    assert _counts(outcome) == _counted(applied=1)
    assert outcome.changed_requests == {}
    stored = store.get_task(slug(2))
    assert stored is not None and stored.label == OTHER_LABEL
    assert _state(store).task_ids == ()


def test_register_adopts_tasks_seen_before_the_request(engine: Engine, store: SqliteStore) -> None:
    # Another request keeps the group watched, so the task is stored before ours exists.
    engine.register(make_request("other", label=OTHER_LABEL), AT)
    task = FakeTask(slug(1))
    _apply(engine, task.pending(), task.running())

    request = engine.register(make_request(), AT)
    assert request.state is RequestState.RUNNING
    assert request.task_ids == (slug(1),)
    assert _state(store) == request
    assert _kinds(store) == [
        ("registered", None),
        ("task-seen", slug(1)),
        ("task-phase", slug(1)),
        ("state", None),
    ]
    assert _state(store, "other").task_ids == ()

    # Later messages are not counted twice.
    _apply(engine, task.resolve("completed"))
    assert _state(store).state is RequestState.COMPLETED
    assert [k for k, _ in _kinds(store)].count("task-seen") == 1


def test_register_adopts_a_known_task_id_even_without_a_label(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request("other", label=OTHER_LABEL), AT)
    task = FakeTask(slug(1), label=None)
    _apply(engine, task.pending())

    request = engine.register(make_request(task_ids=(slug(1),)), AT)
    assert request.state is RequestState.PENDING
    assert request.task_ids == (slug(1),)


def test_register_adopts_nothing_when_the_group_was_unwatched_until_then(
    engine: Engine, store: SqliteStore
) -> None:
    task = FakeTask(slug(1))
    early = [task.pending(), task.running()]
    assert _counts(_apply(engine, *early)) == _counted(unwatched=2)

    request = engine.register(make_request(), AT)
    assert request.task_ids == ()
    # A redelivery after registration is new to us, and now applies.
    assert _counts(_apply(engine, early[1])) == _counted(applied=1)
    assert _state(store).state is RequestState.RUNNING


# -- labels learnt late -------------------------------------------------------------------------


def test_unlabelled_task_is_stored_reported_and_joins_after_learn_label(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(), AT)
    task = FakeTask(slug(1), label=None)
    outcome = _apply(engine, task.pending(), task.running())
    assert _counts(outcome) == _counted(applied=2)
    assert slug(1) in outcome.unlabelled
    assert outcome.changed_requests == {}
    stored = store.get_task(slug(1))
    assert stored is not None and stored.label is None and stored.phase is Phase.RUNNING
    assert _state(store).task_ids == ()

    learnt = engine.learn_label(slug(1), LABEL, AT)
    joined = learnt.changed_requests["req-1"]
    assert joined.state is RequestState.RUNNING
    assert joined.task_ids == (slug(1),)
    assert _state(store) == joined
    stored = store.get_task(slug(1))
    assert stored is not None and stored.label == LABEL and stored.phase is Phase.RUNNING
    kinds = _kinds(store)
    assert kinds[:2] == [("registered", None), ("task-seen", slug(1))]
    assert kinds[-1] == ("state", None)

    # Later messages still carry no label; the learnt one sticks.
    later = _apply(engine, task.resolve("completed"))
    assert later.unlabelled == []
    assert _state(store).state is RequestState.COMPLETED


def test_learn_label_records_the_task_phase_like_register_does(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(), AT)
    task = FakeTask(slug(1), label=None)
    _apply(engine, task.pending(), task.running())
    engine.learn_label(slug(1), LABEL, AT)
    assert _kinds(store) == [
        ("registered", None),
        ("task-seen", slug(1)),
        ("task-phase", slug(1)),
        ("state", None),
    ]


def test_a_labelled_redelivery_teaches_the_label(engine: Engine, store: SqliteStore) -> None:
    engine.register(make_request(), AT)
    bare = FakeTask(slug(1), label=None)
    pending = bare.pending()
    _apply(engine, pending)
    labelled = Message(
        pending.exchange,
        pending.routing_key,
        {**pending.payload, "task": {"tags": {"label": LABEL}}},
    )
    outcome = _apply(engine, labelled)
    assert _counts(outcome) == _counted(duplicates=1)
    assert outcome.changed_requests["req-1"].task_ids == (slug(1),)
    assert _state(store).state is RequestState.PENDING


def test_learn_label_of_unknown_or_already_labelled_task_does_nothing(
    engine: Engine, store: SqliteStore, db_path: Path
) -> None:
    engine.register(make_request(), AT)
    _apply(engine, FakeTask(slug(1)).pending())
    before = _dump(db_path)
    assert engine.learn_label(slug(1), LABEL, AT).changed_requests == {}
    assert engine.learn_label(slug(77), LABEL, AT).changed_requests == {}
    assert _dump(db_path) == before


# -- dry runs, rejections, atomicity ------------------------------------------------------------


def test_dry_run_reports_but_leaves_the_store_untouched(
    engine: Engine, store: SqliteStore, db_path: Path
) -> None:
    engine.register(make_request(), AT)
    before = _dump(db_path)
    batch: list[TaskEvent | Rejection] = [
        *events(FakeTask(slug(1)).lifecycle()),
        Rejection("exchange/x", "primary.x", "not a task exchange", b"{}"),
    ]
    outcome = engine.apply(batch, AT, dry_run=True)
    assert _counts(outcome) == _counted(applied=3, rejected=1)
    assert outcome.changed_requests["req-1"].state is RequestState.COMPLETED
    assert _dump(db_path) == before
    assert _state(store).state is RequestState.SCHEDULED

    # The same batch for real gives the same report.
    real = engine.apply(batch, AT)
    assert _counts(real) == _counts(outcome)
    assert _state(store).state is RequestState.COMPLETED


def test_rejections_are_recorded_beside_good_messages(engine: Engine, store: SqliteStore) -> None:
    engine.register(make_request(), AT)
    body = b'{"version": 1, "status": {"taskId": "nope"}}'
    batch: list[TaskEvent | Rejection] = [
        Rejection(
            "exchange/taskcluster-queue/v1/task-pending", "primary.nope", "status.taskId", body
        ),
        FakeTask(slug(1)).pending().event(),
    ]
    outcome = engine.apply(batch, AT)
    assert _counts(outcome) == _counted(applied=1, rejected=1)
    assert outcome.parsed == 1
    assert store.count_rejections() == 1
    (rejection,) = store.rejections()
    assert rejection[1:] == (
        "exchange/taskcluster-queue/v1/task-pending",
        "primary.nope",
        "status.taskId",
    )


class _FailingStore(SqliteStore):
    """Fails the n-th request save, to check that a batch is all or nothing.

    A batch writes its changed requests once, together, at its end, after its tasks:
    failing the first save fails the batch after it wrote them.
    """

    fail_on = 1

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.saves = 0

    def _count_save(self) -> None:
        self.saves += 1
        if self.saves == self.fail_on:
            raise sqlite3.OperationalError("disk I/O error")

    def save_request(self, request: Request, at: str) -> None:
        self._count_save()
        super().save_request(request, at)

    def save_requests(self, requests: Sequence[Request], at: str, **linked: Any) -> None:
        for _ in requests:
            self._count_save()
        super().save_requests(requests, at, **linked)


def test_a_failing_batch_commits_nothing(db_path: Path) -> None:
    store = _FailingStore(db_path)
    try:
        engine = Engine(store)
        engine.register(make_request(), AT)
        before = _dump(db_path)
        with pytest.raises(sqlite3.OperationalError):
            _apply(engine, *FakeTask(slug(1)).lifecycle())
        assert _dump(db_path) == before
        assert store.get_task(slug(1)) is None
    finally:
        store.close()


# -- several runs wanted --------------------------------------------------------------------------

_MIXED: list[tuple[list[tuple[str, str | None]], RequestState, FailureKind | None, str | None]] = [
    ([("completed", None)] * 3, RequestState.COMPLETED, None, None),
    (
        [("completed", None), ("completed", None), ("failed", None)],
        RequestState.FAILED,
        FailureKind.ORANGE,
        "1 of 3 runs failed",
    ),
    (
        [("failed", None), ("completed", None), ("failed", None)],
        RequestState.FAILED,
        FailureKind.ORANGE,
        "2 of 3 runs failed",
    ),
    (
        [("completed", None), ("exception", "deadline-exceeded"), ("completed", None)],
        RequestState.FAILED,
        FailureKind.EXCEPTION,
        "deadline-exceeded",
    ),
    (
        [("completed", None), ("exception", "superseded"), ("completed", None)],
        RequestState.COALESCED,
        None,
        "superseded",
    ),
    (
        [("exception", "canceled"), ("completed", None), ("completed", None)],
        RequestState.CANCELED,
        None,
        "canceled",
    ),
]


@pytest.mark.parametrize(("finals", "state", "failure", "reason"), _MIXED)
def test_wanted_three_with_mixed_outcomes(
    engine: Engine,
    store: SqliteStore,
    finals: list[tuple[str, str | None]],
    state: RequestState,
    failure: FailureKind | None,
    reason: str | None,
) -> None:
    engine.register(make_request(wanted=3), AT)
    tasks = [FakeTask(slug(n)) for n in (1, 2, 3)]
    for task in tasks:
        _apply(engine, task.pending(), task.running())
    assert _state(store).state is RequestState.RUNNING

    for index, (task, (final, why)) in enumerate(zip(tasks, finals, strict=True)):
        _apply(engine, task.resolve(final, why))
        if index < 2:
            assert not _state(store).is_final, "two of three finished: not final yet"
    request = _state(store)
    assert (request.state, request.failure, request.reason) == (state, failure, reason)
    assert request.task_ids == tuple(task.task_id for task in tasks)
    assert [k for k, _ in _kinds(store)].count("task-seen") == 3


def test_a_retried_run_keeps_the_request_open_until_it_completes(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(wanted=3), AT)
    a, b, c = FakeTask(slug(1)), FakeTask(slug(2)), FakeTask(slug(3))
    _apply(engine, *b.lifecycle(), *c.lifecycle())
    _apply(engine, a.pending(), a.running(), a.resolve("exception", "claim-expired"))
    retrying = store.get_task(a.task_id)
    assert retrying is not None and retrying.phase is Phase.RETRYING
    assert _state(store).state is RequestState.PENDING

    _apply(engine, a.pending("retry"))
    assert _state(store).state is RequestState.PENDING
    _apply(engine, a.running())
    assert _state(store).state is RequestState.RUNNING
    _apply(engine, a.resolve("completed"))
    assert _state(store).state is RequestState.COMPLETED


def _phase_log(store: SqliteStore, task_id: str) -> list[tuple[object, object]]:
    return [
        (e.detail["phase"], e.detail["run"])
        for e in store.timeline("req-1")
        if e.kind == "task-phase" and e.task_id == task_id
    ]


def test_every_phase_of_a_retried_task_is_logged(engine: Engine, store: SqliteStore) -> None:
    engine.register(make_request(), AT)
    a = FakeTask(slug(1))
    _apply(engine, a.pending(), a.running(), a.resolve("exception", "claim-expired"))
    _apply(engine, a.pending("retry"), a.running(), a.resolve("completed"))
    assert _phase_log(store, a.task_id) == [
        ("pending", 0),
        ("running", 0),
        ("retrying", 0),
        ("pending", 1),
        ("running", 1),
        ("completed", 1),
    ]


def test_phases_of_a_second_task_are_logged_while_the_request_state_holds(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request(wanted=2), AT)
    a, b = FakeTask(slug(1)), FakeTask(slug(2))
    _apply(engine, a.pending(), a.running(), b.pending())
    assert _state(store).state is RequestState.RUNNING
    _apply(engine, b.running())
    assert _phase_log(store, b.task_id) == [("pending", 0), ("running", 0)]


def test_one_task_serves_every_request_on_its_group_and_label(
    engine: Engine, store: SqliteStore
) -> None:
    engine.register(make_request("once"), AT)
    engine.register(make_request("thrice", wanted=3), AT)
    outcome = _apply(engine, *FakeTask(slug(1)).lifecycle())
    assert outcome.changed_requests["once"].state is RequestState.COMPLETED
    # One green run of three, nothing else seen yet: waiting for more tasks.
    assert outcome.changed_requests["thrice"].state is RequestState.SCHEDULED
    assert _state(store, "thrice").task_ids == (slug(1),)


# -- restart ------------------------------------------------------------------------------------


def test_a_restart_with_redelivered_messages_applies_nothing_twice(db_path: Path) -> None:
    a, b = FakeTask(slug(1)), FakeTask(slug(2))
    first_batch = events([a.pending(), a.running(), b.pending()])
    second_batch = events([b.running(), a.resolve("completed"), b.resolve("completed")])

    store = SqliteStore(db_path)
    engine = Engine(store)
    engine.register(make_request(wanted=2), AT)
    assert _counts(engine.apply(first_batch, AT)) == _counted(applied=3)
    timeline = _kinds(store)
    store.close()

    # The process died before acking: the broker redelivers the first batch.
    store = SqliteStore(db_path)
    try:
        engine = Engine(store)
        redelivered = engine.apply(first_batch, AT)
        assert _counts(redelivered) == _counted(duplicates=2, stale=1)
        assert redelivered.changed_requests == {}
        assert _kinds(store) == timeline

        assert _counts(engine.apply(second_batch, AT)) == _counted(applied=3)
        request = _state(store)
        assert request.state is RequestState.COMPLETED
        kinds = [k for k, _ in _kinds(store)]
        assert kinds.count("task-seen") == 2
        assert kinds.count("registered") == 1
        phases = [
            (e.task_id, e.detail["phase"]) for e in store.timeline("req-1") if e.detail.get("phase")
        ]
        assert len(phases) == len(set(phases)), "every phase of every task logged once"
    finally:
        store.close()


# -- reference messages ---------------------------------------------------------------------------


def test_real_reference_messages_drive_a_request(reference_dir: Path) -> None:
    messages: dict[str, dict[str, Any]] = json.loads(
        (reference_dir / "treeherder" / "taskcluster_pulse_messages.json").read_text()
    )
    parsed = [parse_message(m["exchange"], m["routes"], m["payload"]) for m in messages.values()]
    store = SqliteStore(":memory:")
    engine = Engine(store)
    group = "XrWNyFwpT2in-wLY9frb-w"
    task_id = "A35mWTRuQmyj88yMnIF0fA"  # a task-pending message of that group
    engine.register(make_request(group=group, task_ids=(task_id,)), AT)
    outcome = engine.apply(parsed, AT)
    in_group = sum(1 for e in parsed if e.task_group_id == group)
    assert (outcome.applied, outcome.unwatched, outcome.rejected) == (
        in_group,
        len(parsed) - in_group,
        0,
    )
    assert _state(store).state is RequestState.PENDING
    # Reference messages carry no task definition: every stored task is unlabelled.
    assert len(outcome.unlabelled) == in_group
    store.close()


# -- any delivery order, any redelivery -----------------------------------------------------------

_SCRIPTS: dict[str, list[tuple[str, ...]]] = {
    "green": [("pending",), ("running",), ("completed",)],
    "orange": [("pending",), ("running",), ("failed",)],
    "deadline": [("pending",), ("exception", "deadline-exceeded")],
    "superseded": [("pending",), ("exception", "superseded")],
    "retried": [
        ("pending",),
        ("running",),
        ("exception", "claim-expired"),
        ("retry",),
        ("running",),
        ("completed",),
    ],
}
_RANK = {"scheduled": 0, "pending": 1, "running": 2}


def _script_messages(task: FakeTask, script: str) -> list[Message]:
    messages = []
    for step in _SCRIPTS[script]:
        if step[0] == "pending":
            messages.append(task.pending())
        elif step[0] == "retry":
            messages.append(task.pending("retry"))
        elif step[0] == "running":
            messages.append(task.running())
        else:
            messages.append(task.resolve(step[0], step[1] if len(step) > 1 else None))
    return messages


@st.composite
def _deliveries(draw: st.DrawFn) -> tuple[list[str], list[int], list[int]]:
    scripts = draw(st.lists(st.sampled_from(sorted(_SCRIPTS)), min_size=1, max_size=3))
    total = sum(len(_SCRIPTS[s]) for s in scripts)
    order = draw(st.permutations(range(total)))
    extra = draw(st.lists(st.integers(0, total - 1), max_size=total))
    inserts = draw(st.lists(st.integers(0, total), min_size=len(extra), max_size=len(extra)))
    delivery = list(order)
    for item, position in zip(extra, inserts, strict=True):
        delivery.insert(position, item)
    cuts = draw(st.lists(st.integers(1, max(1, len(delivery) - 1)), max_size=3))
    return scripts, delivery, sorted(set(cuts))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_deliveries())
def test_any_order_and_redelivery_converges_and_logs_each_step_once(
    case: tuple[list[str], list[int], list[int]],
) -> None:
    scripts, delivery, cuts = case
    store = SqliteStore(":memory:")
    try:
        engine = Engine(store)
        engine.register(make_request(wanted=len(scripts)), AT)
        tasks = [FakeTask(slug(n + 1)) for n in range(len(scripts))]
        per_task = [_script_messages(t, s) for t, s in zip(tasks, scripts, strict=True)]
        messages = [m for ms in per_task for m in ms]
        delivered = [messages[i].event() for i in delivery]
        for start, end in zip([0, *cuts], [*cuts, len(delivered)], strict=True):
            engine.apply(delivered[start:end], AT)

        # Every task ends at its furthest snapshot, whatever the order.
        for task, own in zip(tasks, per_task, strict=True):
            stored = store.get_task(task.task_id)
            assert stored is not None
            assert stored.status == own[-1].event().status
        request = _state(store)
        assert sorted(request.task_ids) == sorted(t.task_id for t in tasks)

        # The timeline has each task seen once and its phases only moving forward.
        timeline = store.timeline("req-1")
        for task in tasks:
            seen = [e for e in timeline if e.kind == "task-seen" and e.task_id == task.task_id]
            assert len(seen) == 1
            steps = [
                (int(e.detail.get("run") or 0), _RANK.get(str(e.detail["phase"]), 3))
                for e in timeline
                if e.kind == "task-phase" and e.task_id == task.task_id
            ]
            assert steps == sorted(set(steps)), steps

        # With one task the outcome cannot depend on the order.
        if len(scripts) == 1:
            in_order = SqliteStore(":memory:")
            try:
                reference_engine = Engine(in_order)
                reference_engine.register(make_request(wanted=1), AT)
                reference_engine.apply([m.event() for m in messages], AT)
                expected = _state(in_order)
            finally:
                in_order.close()
            assert (request.state, request.failure, request.reason) == (
                expected.state,
                expected.failure,
                expected.reason,
            )

        # Redelivering everything once more changes nothing.
        again = engine.apply([m.event() for m in messages], AT)
        assert again.applied == 0
        assert again.changed_requests == {}
        assert store.timeline("req-1") == timeline
    finally:
        store.close()
