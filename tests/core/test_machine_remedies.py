"""The WATCH remedy policy inside the state machine: which task outcome asks for which action,
budgets, the bookkeeping that keeps a request open while a remedy is under way, and
`check_missing` for labels that never got a task.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mozci_monitor.core.actions import (
    RERUNNABLE_REASONS,
    RETRIGGER_REASONS,
    UNLIMITED,
    ActionKind,
    Allowance,
)
from mozci_monitor.core.machine import (
    Change,
    Decision,
    TaskUpdate,
    check_missing,
    decide,
    observe,
    settle,
)
from mozci_monitor.core.model import (
    AUTO_RETRIED_REASONS,
    FINAL_REQUEST_STATES,
    FailureKind,
    Phase,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TaskStatus,
    TimelineEntry,
)
from mozci_monitor.core.upstream import Upstream, judge_upstreams

from .builders import LABEL, PUSH, TASK_A, TASK_B, record, request, slug, status

S = RequestState
WATCH = RemedyPolicy.WATCH


def watched(**fields: object) -> Request:
    fields.setdefault("max_actions", 5)
    return request(remedy=WATCH, **fields)


def _decide(
    req: Request,
    snapshot: TaskStatus,
    tasks: dict[str, TaskRecord] | None = None,
    allowance: Allowance = UNLIMITED,
) -> Decision:
    tasks = tasks or {}
    update = observe(tasks.get(snapshot.task_id), snapshot, LABEL)
    return decide(req, tasks, update, allowance)


def _kinds(decision: Decision) -> list[str]:
    return [entry.kind for entry in decision.timeline]


# --------------------------------------------------------------------------- which remedy

# (id, final run of the task, require_green, action kind or None, replaced, awaiting rerun)
REMEDY_CASES = [
    *(
        pytest.param(f"exception:{r}", False, ActionKind.RERUN, False, True, id=f"rerun-{r}")
        for r in sorted(RERUNNABLE_REASONS - AUTO_RETRIED_REASONS)
    ),
    # deadline-exceeded waits for its dependencies' judgement (core.upstream): no action yet
    *(
        pytest.param(f"exception:{r}", False, None, False, False, id=f"judged-later-{r}")
        for r in sorted(RETRIGGER_REASONS)
    ),
    pytest.param(
        "exception:superseded", False, ActionKind.ADD_NEW_JOBS, True, False, id="coalesced"
    ),
    pytest.param("failed", True, ActionKind.RETRIGGER, False, False, id="orange-green-required"),
    pytest.param("failed", False, None, False, False, id="orange-accepted"),
    pytest.param("completed", True, None, False, False, id="green"),
    pytest.param("exception:canceled", False, None, False, False, id="canceled"),
    pytest.param("exception:malformed-payload", False, None, False, False, id="malformed-payload"),
]


@pytest.mark.parametrize(
    ("final_run", "require_green", "kind", "replaced", "awaiting"), REMEDY_CASES
)
def test_which_remedy(
    final_run: str,
    require_green: bool,
    kind: ActionKind | None,
    replaced: bool,
    awaiting: bool,
) -> None:
    running = observe(None, status("running"), LABEL).record
    req = watched(state=S.RUNNING, task_ids=(TASK_A,), require_green=require_green)
    decision = _decide(req, status(final_run), {TASK_A: running})
    if kind is None:
        assert decision.actions == ()
        assert "action" not in _kinds(decision)
        assert decision.request.actions == 0
        return
    (action,) = decision.actions
    assert action.kind is kind
    assert (action.key, action.request_id, action.push) == ("req-1/action-1", "req-1", PUSH)
    assert action.task_id == TASK_A
    # Retriggers name their label too: the route chosen at the edge may go by label.
    assert action.labels == (
        (LABEL,) if kind in (ActionKind.ADD_NEW_JOBS, ActionKind.RETRIGGER) else ()
    )
    assert action.why
    assert decision.request.actions == 1
    assert (TASK_A in decision.request.replaced) is replaced
    assert (TASK_A in decision.request.awaiting_rerun) is awaiting
    assert decision.request.expected_new == (0 if awaiting else 1)
    assert not decision.request.is_final  # a remedy is under way
    assert decision.changed
    entry = next(e for e in decision.timeline if e.kind == "action")
    assert entry == TimelineEntry(
        "action", TASK_A, {"action": kind.value, "key": action.key, "why": action.why}
    )


@pytest.mark.parametrize("reason", sorted(AUTO_RETRIED_REASONS))
def test_auto_retried_exceptions_wait_for_the_queue_then_get_a_rerun(reason: str) -> None:
    req = watched()
    retrying = _decide(req, status(f"exception:{reason}", retries_left=3))
    assert retrying.actions == ()  # the queue retries it itself
    assert retrying.request.state is S.PENDING
    exhausted = _decide(req, status(f"exception:{reason}", retries_left=0))
    assert [a.kind for a in exhausted.actions] == [ActionKind.RERUN]


def test_a_broken_task_adopted_late_still_gets_its_remedy() -> None:
    broken = observe(None, status("exception:internal-error"), LABEL).record
    duplicate = observe(broken, status("exception:internal-error"), LABEL)
    assert duplicate.change is Change.DUPLICATE
    decision = decide(watched(), {TASK_A: broken}, duplicate)
    assert [a.kind for a in decision.actions] == [ActionKind.RERUN]
    assert decision.request.awaiting_rerun == (TASK_A,)
    redelivered = decide(decision.request, {TASK_A: broken}, duplicate)
    assert redelivered == Decision(decision.request)  # known now: no second action


def test_record_policy_never_acts() -> None:
    for final_run in ("exception:internal-error", "exception:superseded", "failed"):
        decision = _decide(request(require_green=True, max_actions=5), status(final_run))
        assert decision.actions == ()
        assert decision.request.is_final


@pytest.mark.parametrize("final", sorted(FINAL_REQUEST_STATES))
def test_final_requests_never_act(final: RequestState) -> None:
    running = observe(None, status("running"), LABEL).record
    req = watched(state=final, task_ids=(TASK_A,), reason="earlier")
    decision = _decide(req, status("exception:internal-error"), {TASK_A: running})
    assert decision.actions == ()
    assert decision.request.state is final


# --------------------------------------------------------------------------- budgets


@pytest.mark.parametrize(
    ("req", "allowance", "why"),
    [
        pytest.param(
            watched(max_actions=0),
            Allowance(),
            "per-request budget of 0 tasks spent",
            id="request-budget-zero",
        ),
        pytest.param(
            watched(max_actions=2, actions=1, tasks=2),
            Allowance(),
            "per-request budget of 2 tasks spent",
            id="request-budget-spent",
        ),
        pytest.param(watched(), Allowance(campaign=0), "campaign task budget spent", id="campaign"),
        pytest.param(
            watched(),
            Allowance(repo_day=0),
            "daily task budget for mozilla-central spent",
            id="repo-day",
        ),
    ],
)
def test_budget_exhausted_gives_up(req: Request, allowance: Allowance, why: str) -> None:
    decision = _decide(req, status("exception:internal-error"), allowance=allowance)
    assert decision.actions == ()
    assert (decision.request.state, decision.request.failure, decision.request.reason) == (
        S.FAILED,
        FailureKind.BUDGET,
        why,
    )
    assert _kinds(decision) == ["task-seen", "task-phase", "gave-up", "state"]
    assert decision.timeline[2] == TimelineEntry("gave-up", TASK_A, {"wanted": "rerun", "why": why})
    assert decision.timeline[3] == TimelineEntry(
        "state", None, {"state": "failed", "failure": "budget", "reason": why}
    )


def test_budget_left_allows_exactly_that_many_actions() -> None:
    req = watched(max_actions=2)
    tasks: dict[str, TaskRecord] = {}
    kinds = []
    runs: tuple[str, ...] = ()
    for attempt in range(3):
        created = "rerun>" if attempt else ""
        runs = (*runs, f"{created}exception:internal-error")
        update = observe(tasks.get(TASK_A), status(*runs), LABEL)
        decision = decide(req, tasks, update)
        kinds.append([a.key for a in decision.actions])
        req, tasks[TASK_A] = decision.request, update.record
    assert kinds == [["req-1/action-1"], ["req-1/action-2"], []]
    assert (req.state, req.failure) == (S.FAILED, FailureKind.BUDGET)


# --------------------------------------------------------------------------- remedy lifecycles


class Desk:
    def __init__(self, req: Request) -> None:
        self.request = req
        self.tasks: dict[str, TaskRecord] = {}
        self.actions: list[str] = []

    def feed(self, *runs: str, task_id: str = TASK_A, retries_left: int = 5) -> Decision:
        snapshot = status(*runs, task_id=task_id, retries_left=retries_left)
        update = observe(self.tasks.get(task_id), snapshot, LABEL)
        decision = decide(self.request, self.tasks, update)
        self.request, self.tasks[task_id] = decision.request, update.record
        self.actions += [f"{a.kind.value}:{a.key}" for a in decision.actions]
        return decision


def test_rerun_keeps_the_request_open_until_the_new_run_reports() -> None:
    desk = Desk(watched())
    desk.feed("running")
    broken = desk.feed("exception:internal-error")
    assert desk.actions == ["rerun:req-1/action-1"]
    assert broken.request.state is S.PENDING
    assert broken.request.awaiting_rerun == (TASK_A,)
    again = desk.feed("exception:internal-error")  # redelivered: nothing new
    assert again.actions == () and again.timeline == ()
    rerun = desk.feed("exception:internal-error", "rerun>pending")
    assert rerun.request.awaiting_rerun == ()
    assert rerun.request.state is S.PENDING
    assert desk.feed("exception:internal-error", "rerun>completed").request.state is S.COMPLETED
    assert desk.actions == ["rerun:req-1/action-1"]


def test_retrigger_replaces_the_dead_task_with_the_next_one_seen() -> None:
    desk = Desk(watched())
    dead = desk.feed("exception:deadline-exceeded")
    assert desk.actions == []  # its dependencies decide (core.upstream)
    assert not dead.request.is_final
    every_dependency_done = [Upstream("build", "build-linux64/opt", "completed")]
    judged = judge_upstreams(dead.request, desk.tasks[TASK_A], every_dependency_done)
    assert [(a.kind, a.task_id) for a in judged.actions] == [(ActionKind.RETRIGGER, TASK_A)]
    desk.request = judged.request
    assert (judged.request.replaced, judged.request.expected_new) == ((TASK_A,), 1)
    assert not judged.request.is_final
    seen = desk.feed("pending", task_id=TASK_B)
    assert seen.request.expected_new == 0
    assert seen.request.task_ids == (TASK_A, TASK_B)
    assert seen.request.state is S.PENDING
    assert desk.feed("completed", task_id=TASK_B).request.state is S.COMPLETED


def test_replacement_that_fails_too_is_judged_alone() -> None:
    desk = Desk(watched(max_actions=1))
    desk.feed("exception:superseded")
    assert desk.actions == ["add-new-jobs:req-1/action-1"]
    desk.feed("running", task_id=TASK_B)
    failed = desk.feed("failed", task_id=TASK_B)
    # The coalesced task was replaced, so the outcome is 1 of 1 (not 1 of 2).
    assert (failed.request.state, failed.request.reason) == (S.FAILED, "1 of 1 runs failed")


def test_green_required_retriggers_oranges_until_green() -> None:
    desk = Desk(watched(require_green=True))
    first = desk.feed("failed")
    assert desk.actions == ["retrigger:req-1/action-1"]
    assert first.request.expected_new == 1
    assert first.request.state is S.SCHEDULED  # waiting for the retriggered task
    desk.feed("failed", task_id=TASK_B)
    assert desk.actions == ["retrigger:req-1/action-1", "retrigger:req-1/action-2"]
    done = desk.feed("completed", task_id=slug(3))
    assert done.request.state is S.COMPLETED


def test_the_same_decision_twice_gives_the_same_action_key() -> None:
    req = watched()
    one = _decide(req, status("exception:worker-shutdown", retries_left=0))
    two = _decide(req, status("exception:worker-shutdown", retries_left=0))
    assert one == two
    assert [a.key for a in one.actions] == ["req-1/action-1"]


# --------------------------------------------------------------------------- settle knobs


@pytest.mark.parametrize(
    ("fields", "phases", "state"),
    [
        pytest.param({"awaiting_rerun": (slug(1),)}, [Phase.EXCEPTION], S.PENDING, id="awaiting"),
        pytest.param({"expected_new": 1}, [Phase.ORANGE], S.SCHEDULED, id="expecting-a-task"),
        pytest.param({"replaced": (slug(1),)}, [Phase.COALESCED], S.SCHEDULED, id="all-replaced"),
        pytest.param(
            {"replaced": (slug(1),)},
            [Phase.COALESCED, Phase.RUNNING],
            S.RUNNING,
            id="replaced-and-running",
        ),
        pytest.param(
            {"replaced": (slug(1),)},
            [Phase.ORANGE, Phase.COMPLETED],
            S.COMPLETED,
            id="replaced-orange-ignored",
        ),
        pytest.param({"expected_new": 1}, [Phase.COMPLETED], S.COMPLETED, id="green-wins"),
    ],
)
def test_settle_waits_for_remedies(
    fields: dict[str, object], phases: list[Phase], state: RequestState
) -> None:
    records = [record(p, task_id=slug(i + 1), retries_left=0) for i, p in enumerate(phases)]
    settled = settle(replace(watched(), **fields), records)  # type: ignore[arg-type]
    assert settled.state is state


# --------------------------------------------------------------------------- check_missing

GRAPH = frozenset({LABEL, "build-linux64/opt"})


@pytest.mark.parametrize(
    "req",
    [
        pytest.param(request(max_actions=5), id="record-policy"),
        pytest.param(watched(task_ids=(TASK_A,)), id="has-a-task"),
        pytest.param(watched(expected_new=1), id="already-asked"),
        *(
            pytest.param(watched(state=final), id=f"final-{final}")
            for final in sorted(FINAL_REQUEST_STATES)
        ),
    ],
)
def test_check_missing_leaves_alone(req: Request) -> None:
    decision = check_missing(req, frozenset(), GRAPH)
    assert decision == Decision(req)


def test_check_missing_when_the_label_was_scheduled() -> None:
    req = watched()
    assert check_missing(req, frozenset({LABEL}), GRAPH) == Decision(req)


def test_check_missing_schedules_the_label_wanted_times() -> None:
    req = watched(wanted=3)
    decision = check_missing(req, frozenset({"build-linux64/opt"}), GRAPH)
    (action,) = decision.actions
    assert (action.kind, action.labels, action.times, action.task_id) == (
        ActionKind.ADD_NEW_JOBS,
        (LABEL,),
        3,
        None,
    )
    assert action.key == "req-1/action-1"
    assert (decision.request.expected_new, decision.request.actions) == (3, 1)
    assert decision.request.state is S.SCHEDULED
    assert _kinds(decision) == ["action"]
    assert decision.changed
    # Asked once: asking again (a replayed decision-task message) does nothing.
    assert check_missing(decision.request, frozenset(), GRAPH) == Decision(decision.request)


def test_check_missing_fails_a_label_outside_the_graph() -> None:
    decision = check_missing(watched(label="no-such-label"), frozenset(), GRAPH)
    assert decision.actions == ()
    assert (decision.request.state, decision.request.failure, decision.request.reason) == (
        S.FAILED,
        FailureKind.EXCEPTION,
        "label is not in the push's task graph",
    )
    assert _kinds(decision) == ["state"]


def test_check_missing_out_of_budget_gives_up() -> None:
    decision = check_missing(watched(), frozenset(), GRAPH, Allowance(repo_day=0))
    assert decision.actions == ()
    assert (decision.request.state, decision.request.failure) == (S.FAILED, FailureKind.BUDGET)
    assert _kinds(decision) == ["gave-up", "state"]


# --------------------------------------------------------------------------- Decision contract


def test_a_decision_with_timeline_entries_is_changed() -> None:
    running = {
        t: observe(None, status("running", task_id=t), LABEL).record for t in (TASK_A, TASK_B)
    }
    req = request(wanted=2, state=S.RUNNING, task_ids=(TASK_A, TASK_B))
    update = observe(running[TASK_A], status("completed"), LABEL)
    assert update.change is Change.ADVANCED
    decision = decide(req, running, update)
    assert decision.request.state is S.RUNNING
    assert [e.kind for e in decision.timeline] == ["task-phase"]
    assert decision.changed


def test_a_decision_without_entries_is_unchanged() -> None:
    known = observe(None, status("running"), LABEL).record
    req = request(state=S.RUNNING, task_ids=(TASK_A,))
    decision = decide(req, {TASK_A: known}, TaskUpdate(known, Change.DUPLICATE, known))
    assert decision == Decision(req)
    assert not decision.changed
