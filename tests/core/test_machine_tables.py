"""The state machine as tables: task phases, snapshot folding, request states, timelines.

Expectations are written out by hand (which snapshot is further along, which phase a run
means) rather than derived from the machine's own ranking, so the tables are a spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.core.machine import (
    Change,
    Decision,
    TaskUpdate,
    cancel,
    decide,
    matches,
    observe,
    phase_of,
    settle,
)
from mozci_monitor.core.model import (
    AUTO_RETRIED_REASONS,
    FINAL_REQUEST_STATES,
    OPEN_PHASES,
    REASONS_RESOLVED,
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TaskStatus,
    TimelineEntry,
)

from .builders import GROUP, LABEL, OTHER_GROUP, TASK_A, TASK_B, record, request, slug, status

NOT_RETRIED_EXCEPTIONS = (
    "deadline-exceeded",
    "malformed-payload",
    "resource-unavailable",
    "internal-error",
)
OPEN_REQUEST_STATES = tuple(s for s in RequestState if s not in FINAL_REQUEST_STATES)

# --------------------------------------------------------------------------- phase_of


def _phase_cases() -> Iterable[object]:
    def case(
        case_id: str, runs: tuple[str, ...], retries: int, phase: Phase, reason: str | None
    ) -> object:
        return pytest.param(runs, retries, phase, reason, id=case_id)

    yield case("unscheduled", (), 5, Phase.SCHEDULED, None)
    yield case("pending", ("pending",), 5, Phase.PENDING, None)
    yield case("running", ("running",), 5, Phase.RUNNING, None)
    yield case("completed", ("completed",), 5, Phase.COMPLETED, "completed")
    yield case("completed-no-retries", ("completed",), 0, Phase.COMPLETED, "completed")
    yield case("failed", ("failed",), 5, Phase.ORANGE, "failed")
    yield case("failed-no-retries", ("failed",), 0, Phase.ORANGE, "failed")
    yield case("superseded", ("exception:superseded",), 5, Phase.COALESCED, "superseded")
    yield case("superseded-no-retries", ("exception:superseded",), 0, Phase.COALESCED, "superseded")
    yield case("canceled", ("exception:canceled",), 5, Phase.CANCELED, "canceled")
    yield case("canceled-no-retries", ("exception:canceled",), 0, Phase.CANCELED, "canceled")
    # cancelTask / deadline on a task that never ran creates run 0 with reasonCreated exception
    yield case(
        "canceled-while-unscheduled",
        ("exception>exception:canceled",),
        5,
        Phase.CANCELED,
        "canceled",
    )
    yield case(
        "deadline-while-unscheduled",
        ("exception>exception:deadline-exceeded",),
        5,
        Phase.EXCEPTION,
        "deadline-exceeded",
    )
    for reason in sorted(AUTO_RETRIED_REASONS):
        yield case(f"{reason}-retries-left", (f"exception:{reason}",), 5, Phase.RETRYING, reason)
        yield case(f"{reason}-last-retry", (f"exception:{reason}",), 1, Phase.RETRYING, reason)
        yield case(f"{reason}-no-retries", (f"exception:{reason}",), 0, Phase.EXCEPTION, reason)
    for reason in NOT_RETRIED_EXCEPTIONS:
        yield case(f"{reason}", (f"exception:{reason}",), 5, Phase.EXCEPTION, reason)
        yield case(f"{reason}-no-retries", (f"exception:{reason}",), 0, Phase.EXCEPTION, reason)
    # With several runs, the last one decides.
    retried = "exception:claim-expired"
    yield case("retry-pending", (retried, "retry>pending"), 4, Phase.PENDING, None)
    yield case("retry-running", (retried, "retry>running"), 4, Phase.RUNNING, None)
    yield case("retry-completed", (retried, "retry>completed"), 4, Phase.COMPLETED, "completed")
    yield case("rerun-after-green", ("completed", "rerun>pending"), 5, Phase.PENDING, None)
    yield case("rerun-turns-orange", ("completed", "rerun>failed"), 5, Phase.ORANGE, "failed")
    yield case("rerun-turns-green", ("failed", "rerun>completed"), 5, Phase.COMPLETED, "completed")
    yield case(
        "retries-exhausted",
        ("exception:worker-shutdown", "task-retry>exception:worker-shutdown"),
        0,
        Phase.EXCEPTION,
        "worker-shutdown",
    )


@pytest.mark.parametrize(("runs", "retries", "phase", "reason"), list(_phase_cases()))
def test_phase_of(runs: tuple[str, ...], retries: int, phase: Phase, reason: str | None) -> None:
    assert phase_of(status(*runs, retries_left=retries)) == (phase, reason)


def test_phase_table_covers_every_reason_resolved_and_phase() -> None:
    params = list(_phase_cases())
    reasons = {p.values[3] for p in params}  # type: ignore[attr-defined]
    phases = {p.values[2] for p in params}  # type: ignore[attr-defined]
    assert reasons >= REASONS_RESOLVED
    assert set(Phase) == phases


def test_exception_reasons_stay_distinct() -> None:
    reasons = {phase_of(status(f"exception:{r}"))[1] for r in NOT_RETRIED_EXCEPTIONS}
    assert reasons == set(NOT_RETRIED_EXCEPTIONS)


# --------------------------------------------------------------------------- observe

# name -> (runs, retriesLeft, hand-assigned stage, phase). A higher stage is further along;
# snapshots at the same stage are the same progress (a run resolves only once).
LIFE: dict[str, tuple[tuple[str, ...], int, int, Phase]] = {
    "defined": ((), 5, 0, Phase.SCHEDULED),
    "pending": (("pending",), 5, 1, Phase.PENDING),
    "running": (("running",), 5, 2, Phase.RUNNING),
    "completed": (("completed",), 5, 3, Phase.COMPLETED),
    "failed": (("failed",), 5, 3, Phase.ORANGE),
    "deadline-exceeded": (("exception:deadline-exceeded",), 5, 3, Phase.EXCEPTION),
    "claim-expired": (("exception:claim-expired",), 5, 3, Phase.RETRYING),
    "claim-expired-final": (("exception:claim-expired",), 0, 3, Phase.EXCEPTION),
    "superseded": (("exception:superseded",), 5, 3, Phase.COALESCED),
    "canceled": (("exception:canceled",), 5, 3, Phase.CANCELED),
    "retry-pending": (("exception:claim-expired", "retry>pending"), 4, 4, Phase.PENDING),
    "retry-running": (("exception:claim-expired", "retry>running"), 4, 5, Phase.RUNNING),
    "retry-completed": (("exception:claim-expired", "retry>completed"), 4, 6, Phase.COMPLETED),
    "rerun-pending": (("completed", "rerun>pending"), 5, 4, Phase.PENDING),
    "rerun-running": (("completed", "rerun>running"), 5, 5, Phase.RUNNING),
    "rerun-failed": (("completed", "rerun>failed"), 5, 6, Phase.ORANGE),
}


def _snapshot(name: str, task_id: str = TASK_A) -> TaskStatus:
    runs, retries, _, _ = LIFE[name]
    return status(*runs, retries_left=retries, task_id=task_id)


def _known(name: str, label: str | None = LABEL) -> TaskRecord:
    return observe(None, _snapshot(name), label).record


def test_life_table_covers_every_phase() -> None:
    assert {phase for *_, phase in LIFE.values()} == set(Phase)


@pytest.mark.parametrize("incoming", list(LIFE))
def test_observe_first_snapshot_is_new(incoming: str) -> None:
    snapshot = _snapshot(incoming)
    update = observe(None, snapshot, LABEL)
    assert update.change is Change.NEW
    assert update.moved
    assert update.previous is None
    assert update.record.status == snapshot
    assert update.record.phase is LIFE[incoming][3]
    assert (update.record.task_id, update.record.task_group_id) == (TASK_A, GROUP)
    assert update.record.label == LABEL


@pytest.mark.parametrize(
    ("before", "incoming"),
    [pytest.param(b, i, id=f"{b}->{i}") for b in LIFE for i in LIFE],
)
def test_observe_matrix(before: str, incoming: str) -> None:
    previous = _known(before)
    update = observe(previous, _snapshot(incoming), LABEL)
    stage_before, stage_incoming = LIFE[before][2], LIFE[incoming][2]
    assert update.previous == previous
    if stage_incoming > stage_before:
        assert update.change is Change.ADVANCED
        assert update.moved
        assert update.record.status == _snapshot(incoming)
        assert update.record.phase is LIFE[incoming][3]
    else:
        expected = Change.DUPLICATE if stage_incoming == stage_before else Change.STALE
        assert update.change is expected
        assert not update.moved
        assert update.record is previous  # the engine writes nothing for the very record


def test_exact_duplicate_is_a_no_op() -> None:
    previous = _known("running")
    update = observe(previous, _snapshot("running"), LABEL)
    assert update.change is Change.DUPLICATE
    assert update.record is previous


def test_late_running_after_completed_changes_nothing() -> None:
    previous = _known("completed")
    update = observe(previous, _snapshot("running"), LABEL)
    assert update.change is Change.STALE
    assert update.record.phase is Phase.COMPLETED
    assert update.record.status == _snapshot("completed")


def test_run_zero_message_after_run_one_is_stale() -> None:
    previous = _known("retry-pending")
    for late in ("pending", "running", "claim-expired"):
        update = observe(previous, _snapshot(late), LABEL)
        assert update.change is Change.STALE, late
        assert update.record == previous


def test_rerun_after_completed_advances() -> None:
    update = observe(_known("completed"), _snapshot("rerun-pending"), LABEL)
    assert update.change is Change.ADVANCED
    assert update.record.phase is Phase.PENDING
    assert update.record.reason is None
    last = update.record.status.last_run
    assert last is not None and (last.run_id, last.reason_created) == (1, "rerun")


def test_auto_retry_advances_from_retrying_to_pending() -> None:
    retrying = _known("claim-expired")
    assert (retrying.phase, retrying.reason) == (Phase.RETRYING, "claim-expired")
    update = observe(retrying, _snapshot("retry-pending"), LABEL)
    assert update.change is Change.ADVANCED
    assert update.record.phase is Phase.PENDING
    last = update.record.status.last_run
    assert last is not None and (last.run_id, last.reason_created) == (1, "retry")


def test_label_learned_from_a_late_message_without_moving() -> None:
    previous = _known("running", label=None)
    update = observe(previous, _snapshot("pending"), LABEL)
    assert update.change is Change.STALE
    assert update.record.label == LABEL
    assert update.record.status == previous.status


def test_label_kept_when_a_later_message_has_none() -> None:
    update = observe(_known("pending"), _snapshot("running"), None)
    assert update.change is Change.ADVANCED
    assert update.record.label == LABEL


def test_unlabelled_first_snapshot_stays_unlabelled() -> None:
    assert observe(None, _snapshot("pending"), None).record.label is None


# --------------------------------------------------------------------------- settle


def _records(phases: Sequence[Phase | tuple[Phase, str]]) -> list[TaskRecord]:
    built = []
    for index, item in enumerate(phases):
        phase, reason = item if isinstance(item, tuple) else (item, None)
        retries = 0 if phase is Phase.EXCEPTION else 5  # an exhausted auto-retry is final
        built.append(record(phase, task_id=slug(index + 1), reason=reason, retries_left=retries))
    return built


def _outcome(
    case_id: str,
    wanted: int,
    phases: Sequence[Phase | tuple[Phase, str]],
    state: RequestState,
    failure: FailureKind | None = None,
    reason: str | None = None,
) -> object:
    return pytest.param(wanted, phases, state, failure, reason, id=case_id)


P = Phase
S = RequestState
SETTLE_CASES = [
    _outcome("no-tasks-yet", 1, [], S.SCHEDULED),
    _outcome("scheduled", 1, [P.SCHEDULED], S.SCHEDULED),
    _outcome("pending", 1, [P.PENDING], S.PENDING),
    _outcome("retrying-counts-as-pending", 1, [P.RETRYING], S.PENDING),
    _outcome("running", 1, [P.RUNNING], S.RUNNING),
    _outcome("running-beats-pending", 2, [P.PENDING, P.RUNNING], S.RUNNING),
    _outcome("completed", 1, [P.COMPLETED], S.COMPLETED),
    _outcome("orange", 1, [P.ORANGE], S.FAILED, FailureKind.ORANGE, "1 of 1 runs failed"),
    _outcome("coalesced", 1, [P.COALESCED], S.COALESCED, None, "superseded"),
    _outcome("canceled", 1, [P.CANCELED], S.CANCELED, None, "canceled"),
    *(
        _outcome(f"exception-{r}", 1, [(P.EXCEPTION, r)], S.FAILED, FailureKind.EXCEPTION, r)
        for r in NOT_RETRIED_EXCEPTIONS
    ),
    *(
        _outcome(
            f"{r}-retries-exhausted", 1, [(P.EXCEPTION, r)], S.FAILED, FailureKind.EXCEPTION, r
        )
        for r in sorted(AUTO_RETRIED_REASONS)
    ),
    # wanted=N: only green runs count towards N; the request is decided once all finished.
    _outcome("2-green-of-3-third-running", 3, [P.COMPLETED, P.COMPLETED, P.RUNNING], S.RUNNING),
    _outcome("2-green-of-3-third-pending", 3, [P.COMPLETED, P.COMPLETED, P.PENDING], S.PENDING),
    _outcome("2-green-of-3-third-retrying", 3, [P.COMPLETED, P.COMPLETED, P.RETRYING], S.PENDING),
    _outcome("3-green-of-3", 3, [P.COMPLETED] * 3, S.COMPLETED),
    _outcome("more-green-than-wanted", 2, [P.COMPLETED] * 3, S.COMPLETED),
    _outcome("enough-green-others-open", 1, [P.COMPLETED, P.RUNNING], S.COMPLETED),
    _outcome("enough-green-despite-orange", 1, [P.ORANGE, P.COMPLETED], S.COMPLETED),
    _outcome("orange-while-retrigger-runs", 1, [P.ORANGE, P.RUNNING], S.RUNNING),
    _outcome(
        "1-orange-of-3",
        3,
        [P.COMPLETED, P.COMPLETED, P.ORANGE],
        S.FAILED,
        FailureKind.ORANGE,
        "1 of 3 runs failed",
    ),
    _outcome(
        "2-orange-of-3",
        3,
        [P.ORANGE, P.COMPLETED, P.ORANGE],
        S.FAILED,
        FailureKind.ORANGE,
        "2 of 3 runs failed",
    ),
    _outcome(
        "orange-beats-exception",
        2,
        [(P.EXCEPTION, "internal-error"), P.ORANGE],
        S.FAILED,
        FailureKind.ORANGE,
        "1 of 2 runs failed",
    ),
    _outcome(
        "orange-beats-coalesced",
        2,
        [P.COALESCED, P.ORANGE],
        S.FAILED,
        FailureKind.ORANGE,
        "1 of 2 runs failed",
    ),
    _outcome(
        "exception-beats-coalesced",
        2,
        [P.COALESCED, (P.EXCEPTION, "malformed-payload")],
        S.FAILED,
        FailureKind.EXCEPTION,
        "malformed-payload",
    ),
    _outcome(
        "exception-with-one-green",
        2,
        [P.COMPLETED, (P.EXCEPTION, "resource-unavailable")],
        S.FAILED,
        FailureKind.EXCEPTION,
        "resource-unavailable",
    ),
    _outcome(
        "coalesced-beats-canceled", 2, [P.CANCELED, P.COALESCED], S.COALESCED, None, "superseded"
    ),
    _outcome("all-canceled", 2, [P.CANCELED, P.CANCELED], S.CANCELED, None, "canceled"),
]


@pytest.mark.parametrize(("wanted", "phases", "state", "failure", "reason"), SETTLE_CASES)
def test_settle(
    wanted: int,
    phases: Sequence[Phase | tuple[Phase, str]],
    state: RequestState,
    failure: FailureKind | None,
    reason: str | None,
) -> None:
    settled = settle(request(wanted=wanted), _records(phases))
    assert (settled.state, settled.failure, settled.reason) == (state, failure, reason)
    assert settled.is_final == (state in FINAL_REQUEST_STATES)


@pytest.mark.parametrize("final", sorted(FINAL_REQUEST_STATES))
@pytest.mark.parametrize("phase", list(Phase))
def test_settle_never_moves_a_final_request(final: RequestState, phase: Phase) -> None:
    closed = request(state=final, reason="earlier", task_ids=(slug(1),))
    assert settle(closed, _records([phase])) is closed


# --------------------------------------------------------------------------- decide


class Desk:
    """Feeds snapshots through observe → matches → decide like the daemon will."""

    def __init__(self, req: Request) -> None:
        self.request = req
        self.tasks: dict[str, TaskRecord] = {}
        self.timeline: list[TimelineEntry] = []

    def feed(self, snapshot: TaskStatus, label: str | None = LABEL) -> Decision | None:
        update = observe(self.tasks.get(snapshot.task_id), snapshot, label)
        decision = None
        if matches(self.request, update.record):
            decision = decide(self.request, self.tasks, update)
            self.request = decision.request
            self.timeline.extend(decision.timeline)
        self.tasks[snapshot.task_id] = update.record
        return decision

    def feed_named(self, name: str, task_id: str = TASK_A) -> Decision:
        decision = self.feed(_snapshot(name, task_id))
        assert decision is not None, "the task should match the request"
        return decision


def _kinds(decision: Decision) -> list[str]:
    return [entry.kind for entry in decision.timeline]


def _state_of(req: Request) -> tuple[RequestState, FailureKind | None, str | None]:
    return (req.state, req.failure, req.reason)


LIFECYCLE = [
    # snapshot, request state after it, timeline kinds it adds
    ("defined", S.SCHEDULED, ["task-seen", "task-phase"]),
    ("pending", S.PENDING, ["task-phase", "state"]),
    ("running", S.RUNNING, ["task-phase", "state"]),
    ("completed", S.COMPLETED, ["task-phase", "state"]),
]


def test_decide_walks_a_request_through_its_life() -> None:
    desk = Desk(request())
    for name, state, kinds in LIFECYCLE:
        decision = desk.feed_named(name)
        assert decision.request.state is state, name
        assert _kinds(decision) == kinds, name
        assert decision.changed
    assert desk.request.task_ids == (TASK_A,)
    assert desk.timeline == [
        TimelineEntry("task-seen", TASK_A, {"label": LABEL}),
        TimelineEntry("task-phase", TASK_A, {"phase": "scheduled"}),
        TimelineEntry("task-phase", TASK_A, {"phase": "pending", "run": 0, "created": "scheduled"}),
        TimelineEntry("state", None, {"state": "pending"}),
        TimelineEntry("task-phase", TASK_A, {"phase": "running", "run": 0, "created": "scheduled"}),
        TimelineEntry("state", None, {"state": "running"}),
        TimelineEntry(
            "task-phase",
            TASK_A,
            {"phase": "completed", "run": 0, "created": "scheduled", "reason": "completed"},
        ),
        TimelineEntry("state", None, {"state": "completed"}),
    ]


def test_first_sight_of_a_running_task_jumps_straight_to_running() -> None:
    decision = Desk(request()).feed_named("running")
    assert decision.request.state is S.RUNNING
    assert _kinds(decision) == ["task-seen", "task-phase", "state"]


@pytest.mark.parametrize("name", list(LIFE))
def test_duplicate_delivery_emits_nothing(name: str) -> None:
    desk = Desk(request(wanted=2))
    desk.feed_named(name)
    before = desk.request
    decision = desk.feed_named(name)
    assert decision.request is before
    assert decision.timeline == ()
    assert not decision.changed


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        pytest.param(n, o, id=f"{o}-after-{n}")
        for n in LIFE
        for o in LIFE
        if LIFE[o][2] < LIFE[n][2]
    ],
)
def test_stale_delivery_emits_nothing(newer: str, older: str) -> None:
    desk = Desk(request(wanted=2))
    desk.feed_named(newer)
    before = desk.request
    decision = desk.feed_named(older)
    assert decision.request is before
    assert decision.timeline == ()


def test_orange_fails_the_request_with_a_reason() -> None:
    desk = Desk(request())
    desk.feed_named("running")
    decision = desk.feed_named("failed")
    assert _state_of(decision.request) == (S.FAILED, FailureKind.ORANGE, "1 of 1 runs failed")
    assert decision.timeline[-1] == TimelineEntry(
        "state", None, {"state": "failed", "failure": "orange", "reason": "1 of 1 runs failed"}
    )


def test_exception_fails_the_request_with_its_reason() -> None:
    desk = Desk(request())
    desk.feed_named("pending")
    decision = desk.feed_named("deadline-exceeded")
    assert _state_of(decision.request) == (S.FAILED, FailureKind.EXCEPTION, "deadline-exceeded")
    assert decision.timeline[-1] == TimelineEntry(
        "state", None, {"state": "failed", "failure": "exception", "reason": "deadline-exceeded"}
    )


@pytest.mark.parametrize(
    ("name", "state", "reason"),
    [("superseded", S.COALESCED, "superseded"), ("canceled", S.CANCELED, "canceled")],
)
def test_coalesced_and_canceled_tasks_close_the_request(
    name: str, state: RequestState, reason: str
) -> None:
    desk = Desk(request())
    desk.feed_named("pending")
    decision = desk.feed_named(name)
    assert _state_of(decision.request) == (state, None, reason)
    assert decision.request.is_final


def test_auto_retry_goes_back_to_pending_then_on() -> None:
    desk = Desk(request())
    desk.feed_named("running")
    retrying = desk.feed_named("claim-expired")
    assert retrying.request.state is S.PENDING
    assert retrying.timeline == (
        TimelineEntry(
            "task-phase",
            TASK_A,
            {"phase": "retrying", "run": 0, "created": "scheduled", "reason": "claim-expired"},
        ),
        TimelineEntry("state", None, {"state": "pending"}),
    )
    retry = desk.feed_named("retry-pending")
    assert retry.request.state is S.PENDING
    assert retry.timeline == (
        TimelineEntry("task-phase", TASK_A, {"phase": "pending", "run": 1, "created": "retry"}),
    )
    assert desk.feed_named("retry-running").request.state is S.RUNNING
    assert desk.feed_named("retry-completed").request.state is S.COMPLETED
    assert desk.feed_named("claim-expired").timeline == ()  # a late message changes nothing


def test_a_new_run_in_the_same_phase_still_gets_a_phase_entry() -> None:
    desk = Desk(request())
    desk.feed_named("claim-expired")
    again = status(
        "exception:claim-expired", "retry>exception:claim-expired", retries_left=4, task_id=TASK_A
    )
    decision = desk.feed(again)
    assert decision is not None
    assert decision.request.state is S.PENDING
    assert decision.timeline == (
        TimelineEntry(
            "task-phase",
            TASK_A,
            {"phase": "retrying", "run": 1, "created": "retry", "reason": "claim-expired"},
        ),
    )


def test_wanted_three_counts_green_runs() -> None:
    desk = Desk(request(wanted=3))
    for task in (TASK_A, TASK_B, slug(7)):
        desk.feed_named("running", task)
    assert desk.request.state is S.RUNNING
    assert _kinds(desk.feed_named("completed", TASK_A)) == ["task-phase"]
    assert _kinds(desk.feed_named("completed", TASK_B)) == ["task-phase"]
    assert desk.request.state is S.RUNNING
    last = desk.feed_named("completed", slug(7))
    assert last.request.state is S.COMPLETED
    assert _kinds(last) == ["task-phase", "state"]
    assert desk.request.task_ids == (TASK_A, TASK_B, slug(7))


def test_wanted_three_fails_when_all_finished_with_an_orange() -> None:
    desk = Desk(request(wanted=3))
    desk.feed_named("completed", TASK_A)
    desk.feed_named("failed", TASK_B)
    assert desk.request.state is not S.FAILED  # not everything has finished
    decision = desk.feed_named("completed", slug(7))
    assert _state_of(decision.request) == (S.FAILED, FailureKind.ORANGE, "1 of 3 runs failed")


def test_completed_request_is_not_reopened_by_a_rerun_of_its_task() -> None:
    desk = Desk(request())
    desk.feed_named("completed")
    decision = desk.feed_named("rerun-pending")
    assert decision.request.state is S.COMPLETED
    # The task's progress is recorded (so the decision is a change), the state is not touched.
    assert _kinds(decision) == ["task-phase"]
    assert decision.changed
    assert desk.feed_named("rerun-failed").request.state is S.COMPLETED


def test_completed_request_ignores_a_late_new_task() -> None:
    desk = Desk(request())
    desk.feed_named("completed")
    before = desk.request
    assert desk.feed(_snapshot("failed", TASK_B)) is None
    assert desk.request is before
    assert desk.request.task_ids == (TASK_A,)


def test_failed_request_is_not_reopened_by_a_green_retrigger() -> None:
    desk = Desk(request())
    desk.feed_named("failed")
    assert desk.request.state is S.FAILED
    assert desk.feed(_snapshot("completed", TASK_B)) is None
    decision = desk.feed_named("rerun-pending")  # known task: recorded, state untouched
    assert _state_of(decision.request) == (S.FAILED, FailureKind.ORANGE, "1 of 1 runs failed")


def test_a_task_seen_before_the_request_is_adopted_on_its_next_message() -> None:
    desk = Desk(request())
    early = observe(None, _snapshot("running"), LABEL)
    desk.tasks[TASK_A] = early.record  # observed while the request did not exist yet
    decision = desk.feed_named("running")  # a duplicate of what we know
    assert decision.request.task_ids == (TASK_A,)
    assert decision.request.state is S.RUNNING
    # News for the request even if not for the task: seen, where it stands, what that means.
    assert _kinds(decision) == ["task-seen", "task-phase", "state"]
    assert decision.changed


def test_decide_ignores_non_moving_updates_of_known_tasks() -> None:
    known = _known("running")
    req = request(state=S.RUNNING, task_ids=(TASK_A,))
    stale = TaskUpdate(known, Change.STALE, known)
    assert decide(req, {TASK_A: known}, stale) == Decision(req)


# --------------------------------------------------------------------------- matches


@pytest.mark.parametrize(
    ("req", "rec", "expected"),
    [
        pytest.param(request(), record(P.PENDING), True, id="same-group-same-label"),
        pytest.param(request(), record(P.PENDING, label="other"), False, id="other-label"),
        pytest.param(request(), record(P.PENDING, label=None), False, id="unlabelled"),
        pytest.param(
            request(), record(P.PENDING, group=OTHER_GROUP), False, id="same-label-other-group"
        ),
        pytest.param(
            request(task_ids=(TASK_A,)),
            record(P.PENDING, label=None, group=OTHER_GROUP),
            True,
            id="known-task-id-always",
        ),
        *(
            pytest.param(
                request(state=final, task_ids=(TASK_A,)),
                record(P.COMPLETED, label=None),
                True,
                id=f"known-task-id-{final}",
            )
            for final in sorted(FINAL_REQUEST_STATES)
        ),
        *(
            pytest.param(
                request(state=final, task_ids=(TASK_B,)),
                record(P.PENDING),
                False,
                id=f"label-match-closed-by-{final}",
            )
            for final in sorted(FINAL_REQUEST_STATES)
        ),
        *(
            pytest.param(
                request(state=open_state, task_ids=(TASK_B,)),
                record(P.PENDING),
                True,
                id=f"label-match-while-{open_state}",
            )
            for open_state in OPEN_REQUEST_STATES
        ),
    ],
)
def test_matches(req: Request, rec: TaskRecord, expected: bool) -> None:
    assert matches(req, rec) is expected


# --------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("state", OPEN_REQUEST_STATES)
def test_cancel_an_open_request(state: RequestState) -> None:
    decision = cancel(request(state=state), "user withdrew")
    assert _state_of(decision.request) == (S.CANCELED, None, "user withdrew")
    assert decision.timeline == (
        TimelineEntry("state", None, {"state": "canceled", "reason": "user withdrew"}),
    )


@pytest.mark.parametrize("state", sorted(FINAL_REQUEST_STATES))
def test_cancel_a_final_request_is_a_no_op(state: RequestState) -> None:
    closed = request(state=state, reason="earlier")
    decision = cancel(closed, "too late")
    assert decision.request is closed
    assert not decision.changed


def test_canceled_request_stays_canceled_when_its_task_goes_green() -> None:
    desk = Desk(request())
    desk.feed_named("running")
    desk.request = cancel(desk.request, "user withdrew").request
    decision = desk.feed_named("completed")
    assert _state_of(decision.request) == (S.CANCELED, None, "user withdrew")
    assert "state" not in _kinds(decision)


# --------------------------------------------------------------------------- properties

_AUTO_ENDINGS = tuple(f"exception:{r}" for r in sorted(AUTO_RETRIED_REASONS))
_RERUN_ENDINGS = ("completed", "failed", "exception:deadline-exceeded")
_LAST_ENDINGS = (
    *_AUTO_ENDINGS,
    *_RERUN_ENDINGS,
    *(f"exception:{r}" for r in NOT_RETRIED_EXCEPTIONS),
    "exception:superseded",
    "exception:canceled",
)


@st.composite
def task_lives(draw: st.DrawFn, *, reruns: bool) -> list[TaskStatus]:
    """Every snapshot of one task's life, in the order the queue produced them.

    Earlier runs end in an exception the queue retries; with `reruns`, also in a result
    someone reran. The last run stops anywhere.
    """
    endings = (*_AUTO_ENDINGS, *_RERUN_ENDINGS) if reruns else _AUTO_ENDINGS
    run_count = draw(st.integers(1, 4))
    retries = 5
    done: list[str] = []
    snapshots = [status(retries_left=retries)]
    for index in range(run_count):
        created = ""
        if index:
            previous = done[-1]
            auto = previous in _AUTO_ENDINGS
            created = (
                ("task-retry>" if "intermittent" in previous else "retry>") if auto else "rerun>"
            )
            retries -= 1 if auto else 0
        last = index == run_count - 1
        ending = draw(st.sampled_from(_LAST_ENDINGS if last else endings))
        stop = draw(st.sampled_from(("pending", "running", "resolved"))) if last else "resolved"
        snapshots.append(status(*done, f"{created}pending", retries_left=retries))
        if stop == "pending":
            break
        snapshots.append(status(*done, f"{created}running", retries_left=retries))
        if stop == "running":
            break
        done.append(f"{created}{ending}")
        snapshots.append(status(*done, retries_left=retries))
    return snapshots


def _fold(snapshots: Iterable[TaskStatus], wanted: int = 1) -> tuple[TaskRecord, Request]:
    desk = Desk(request(wanted=wanted))
    for snapshot in snapshots:
        desk.feed(snapshot)
    return desk.tasks[TASK_A], desk.request


def _fold_watched(snapshots: Iterable[TaskStatus]) -> tuple[Request, list[tuple[str, str]]]:
    desk = Desk(request(remedy=RemedyPolicy.WATCH, max_actions=5, require_green=True))
    actions = []
    for snapshot in snapshots:
        decision = desk.feed(snapshot)
        if decision is not None:
            actions += [(action.key, action.kind.value) for action in decision.actions]
    return desk.request, actions


def _deliveries(life: list[TaskStatus]) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(life) - 1), min_size=1, max_size=3 * len(life))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_shuffled_duplicated_delivery_lands_on_the_furthest_snapshot(data: st.DataObject) -> None:
    life = data.draw(task_lives(reruns=True), label="life")
    delivered = data.draw(_deliveries(life), label="delivered")
    shuffled_record, _ = _fold(life[i] for i in delivered)
    in_order_record, _ = _fold(life[i] for i in sorted(set(delivered)))
    assert shuffled_record == in_order_record
    assert shuffled_record.status == life[max(delivered)]
    assert settle(request(), [shuffled_record]) == settle(request(), [in_order_record])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_shuffled_delivery_gives_the_same_request_state(data: st.DataObject) -> None:
    # Only auto-retried runs before the last: no earlier snapshot closes the request, so the
    # order cannot matter (with reruns, a request closed by run 0 rightly stays closed).
    life = data.draw(task_lives(reruns=False), label="life")
    delivered = data.draw(_deliveries(life), label="delivered")
    wanted = data.draw(st.integers(1, 2), label="wanted")
    assert all(phase_of(s)[0] in OPEN_PHASES for s in life[:-1])
    _, shuffled = _fold((life[i] for i in delivered), wanted)
    _, in_order = _fold((life[i] for i in sorted(set(delivered))), wanted)
    assert _state_of(shuffled) == _state_of(in_order)
    assert shuffled.task_ids == in_order.task_ids == (TASK_A,)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_shuffled_delivery_asks_for_the_same_remedies(data: st.DataObject) -> None:
    """Under WATCH, redelivery and reordering neither repeat nor lose an action."""
    life = data.draw(task_lives(reruns=False), label="life")
    delivered = data.draw(_deliveries(life), label="delivered")
    shuffled, shuffled_actions = _fold_watched(life[i] for i in delivered)
    in_order, in_order_actions = _fold_watched(life[i] for i in sorted(set(delivered)))
    assert shuffled_actions == in_order_actions
    assert len(shuffled_actions) <= 1
    assert shuffled == in_order


@settings(max_examples=100, deadline=None)
@given(life=task_lives(reruns=True))
def test_in_order_delivery_applies_every_snapshot(life: list[TaskStatus]) -> None:
    previous: TaskRecord | None = None
    for snapshot in life:
        update = observe(previous, snapshot, LABEL)
        assert update.moved
        assert update.record.status == snapshot
        previous = update.record


def test_request_with_failure_fields_is_rebuilt_cleanly_while_open() -> None:
    # settle derives failure/reason from scratch for open requests; nothing leaks across.
    stale = replace(request(), failure=FailureKind.ORANGE, reason="old")
    settled = settle(stale, _records([P.RUNNING]))
    assert _state_of(settled) == (S.RUNNING, None, None)
