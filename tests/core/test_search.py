"""core/search.py as tables: where the search samples next, how many runs, and when it
answers (a culprit with its confidence, or "cannot tell" said honestly)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.core.by_signature import PushCounts
from mozci_monitor.core.search import (
    Outcome,
    Phase,
    SearchPolicy,
    SearchStep,
    next_step,
    obsolete_pending,
)

POLICY = SearchPolicy()


def c(hits: int = 0, passes: int = 0) -> PushCounts:
    return PushCounts(hits, passes)


def pushes(total: int, known: dict[int, PushCounts]) -> list[PushCounts]:
    return [known.get(index, c()) for index in range(total)]


@pytest.mark.parametrize(
    ("known", "phase", "push", "runs"),
    [
        # The failing push first: does it fail again, and how often.
        ({10: c(1)}, Phase.LOOKBACK, 10, 2),
        # Lookback: 1, 2, 4, 6 pushes back from the newest as the failure moves back; the
        # batch is what would rule the push out if it all passed (fewer far back, where
        # passes also count against every older push).
        ({10: c(1, 2)}, Phase.LOOKBACK, 9, 10),
        ({9: c(1), 10: c(1, 2)}, Phase.LOOKBACK, 8, 9),
        ({8: c(1), 10: c(1, 2)}, Phase.LOOKBACK, 6, 6),
        ({7: c(1), 10: c(1, 2)}, Phase.LOOKBACK, 4, 4),
        # A probed push still open is sampled again before going further back.
        ({7: c(0, 1), 8: c(1), 10: c(1, 2)}, Phase.LOOKBACK, 7, 8),
        # A push shown clean: bisect between it and the earliest failure.
        ({5: c(0, 10), 10: c(2, 2)}, Phase.BISECT, 7, 2),
        # Narrowed to one push: the suspect must fail again before the parent is verified.
        ({8: c(0, 30), 9: c(1, 0), 10: c(1, 2)}, Phase.VERIFY, 9, 2),
        ({8: c(0, 30), 9: c(2, 3), 10: c(1, 2)}, Phase.VERIFY, 8, 6),
    ],
)
def test_where_the_search_samples_next(
    known: dict[int, PushCounts], phase: Phase, push: int, runs: int
) -> None:
    assert next_step(pushes(11, known), POLICY) == SearchStep(phase, push=push, runs=runs)


def test_the_answer_names_the_suspect_its_parent_and_a_confidence() -> None:
    step = next_step(pushes(11, {8: c(0, 60), 9: c(2, 3), 10: c(1, 2)}), POLICY)
    assert step.phase is Phase.DONE and step.answer is not None
    assert (step.answer.outcome, step.answer.culprit, step.answer.last_good) == (
        Outcome.CULPRIT,
        9,
        8,
    )
    assert 0.99 <= step.answer.confidence < 1.0


def test_the_parent_passing_just_enough_is_not_yet_an_answer() -> None:
    """The answer must hold without the parent's last `verify_runs` passes."""
    counts = pushes(11, {9: c(2, 3), 10: c(1, 2)})
    needed = next(
        n
        for n in range(1, 200)
        if next_step([*counts[:8], c(0, n), *counts[9:]], POLICY).phase is Phase.DONE
    )
    short = next_step([*counts[:8], c(0, needed - 1), *counts[9:]], POLICY)
    assert short == SearchStep(Phase.VERIFY, push=8, runs=1)
    # Without the verification the same runs would already have sufficed.
    lax = SearchPolicy(verify_runs=0)
    assert next_step([*counts[:8], c(0, needed - POLICY.verify_runs), *counts[9:]], lax).phase is (
        Phase.DONE
    )


@pytest.mark.parametrize(
    ("known", "policy", "outcome", "reason"),
    [
        ({}, POLICY, Outcome.NEVER_FAILED, "never seen"),
        ({0: c(1), 10: c(1)}, POLICY, Outcome.OLDER_THAN_RANGE, "older"),
        (
            {9: c(0, 5), 10: c(2, 2)},
            SearchPolicy(push_share=5),
            Outcome.UNKNOWN,
            "push 9: cannot tell in 5 runs",
        ),
        ({9: c(0, 5), 10: c(2, 2)}, SearchPolicy(budget=9), Outcome.UNKNOWN, "budget of 9"),
    ],
)
def test_when_the_runs_cannot_tell_it_says_so(
    known: dict[int, PushCounts], policy: SearchPolicy, outcome: Outcome, reason: str
) -> None:
    step = next_step(pushes(11, known), policy)
    assert step.phase is Phase.DONE and step.answer is not None
    assert step.answer.outcome is outcome and step.answer.culprit is None
    assert reason in step.answer.reason


def test_a_batch_is_bounded_by_the_share_left_and_the_budget_left() -> None:
    counts = pushes(11, {8: c(0, 30), 9: c(2, 3), 10: c(1, 2)})
    assert next_step(counts, POLICY).runs == 6
    assert next_step(counts, SearchPolicy(push_share=33)).runs == 3
    assert next_step(counts, SearchPolicy(budget=39)).runs == 1


def test_pending_runs_are_waited_for() -> None:
    counts = pushes(11, {10: c(1, 2)})
    step = next_step(counts, POLICY, pending={9: 4, 3: 0})
    assert step == SearchStep(Phase.WAIT, push=9, runs=4)


def test_existing_runs_are_reused() -> None:
    """Runs already there count: the batch is what is still missing."""
    fresh = next_step(pushes(11, {10: c(1)}), POLICY)
    reused = next_step(pushes(11, {10: c(1, 1)}), POLICY)
    assert (fresh.runs, reused.runs) == (2, 1)


def test_obsolete_pending_runs() -> None:
    counts = pushes(6, {3: c(1, 0), 5: c(1, 2)})
    pending = {2: ["T2"], 3: ["T3"], 4: ["T4a", "T4b"], 5: ["T5"]}
    # Before the answer: only runs on pushes newer than the earliest failure.
    assert obsolete_pending(counts, pending, answered=False) == ["T4a", "T4b", "T5"]
    # Once answered: every run still pending.
    assert obsolete_pending(counts, pending, answered=True) == ["T2", "T3", "T4a", "T4b", "T5"]


def test_nothing_is_concluded_while_runs_are_out() -> None:
    """The failing push's runs not seen yet: waiting, not "never failed"."""
    step = next_step(pushes(11, {}), POLICY, pending={10: 3})
    assert step == SearchStep(Phase.WAIT, push=10, runs=3)


# Early stop: the answer with runs still out (`decided`), and where the search goes on
# without them. Counts: push 9 the suspect (2 hits), 10 the failing push, 8 the parent.
SUSPECT = {9: c(2), 10: c(1, 2)}


@pytest.mark.parametrize(
    ("known", "pending", "phase", "push"),
    [
        # The parent passed so often that even 8 more passes at the suspect (a lower rate
        # estimate) leave it ruled out: answered now, the 8 runs out are obsolete.
        ({**SUSPECT, 8: c(0, 58)}, {9: 8}, Phase.DONE, None),
        ({**SUSPECT, 8: c(0, 58)}, {9: 2, 10: 3}, Phase.DONE, None),
        # Enough for the runs finished, not if all 8 runs out pass: the parent is asked
        # for the passes that would make it enough, rather than waiting for them.
        ({**SUSPECT, 8: c(0, 56)}, {9: 8}, Phase.VERIFY, 8),
        # A run out below the earliest hit may move it: wait, whatever the rest says.
        ({**SUSPECT, 8: c(0, 58)}, {9: 8, 5: 1}, Phase.WAIT, 5),
        # Failing on the oldest push: no run out can make the culprit younger.
        ({0: c(1), 10: c(1, 2)}, {0: 4, 10: 1}, Phase.DONE, None),
        # No hit yet: "never failed" is never concluded with runs out.
        ({}, {10: 3}, Phase.WAIT, 10),
        # A probe's first hit decides it: bisect further while the rest of its batch is
        # out (the push probed next has none out).
        ({5: c(0, 10), 7: c(1), 10: c(2, 2)}, {7: 1}, Phase.BISECT, 6),
        # The suspect still needs a failure and its runs are out: wait for them rather
        # than ask for more at the same push.
        ({8: c(0, 30), 9: c(1, 0), 10: c(1, 2)}, {9: 1}, Phase.WAIT, 9),
    ],
)
def test_what_runs_still_out_hold_up(
    known: dict[int, PushCounts], pending: dict[int, int], phase: Phase, push: int | None
) -> None:
    step = next_step(pushes(11, known), POLICY, pending=pending)
    assert (step.phase, step.push) == (phase, push)


def test_an_answer_not_robust_waits_when_the_budget_leaves_no_more_parent_runs() -> None:
    counts = pushes(11, {**SUSPECT, 8: c(0, 56)})  # 61 runs finished, 8 out
    step = next_step(counts, SearchPolicy(budget=69), pending={9: 8})
    assert step == SearchStep(Phase.WAIT, push=9, runs=8)


def test_an_answer_with_runs_out_states_the_confidence_that_holds_whatever_they_return() -> None:
    counts = pushes(11, {**SUSPECT, 8: c(0, 58)})
    finished = next_step(counts, POLICY).answer
    early = next_step(counts, POLICY, pending={9: 8}).answer
    assert finished is not None and early is not None
    assert (early.outcome, early.culprit, early.last_good) == (Outcome.CULPRIT, 9, 8)
    # Every run out passing is the worst case: the confidence given is that one's.
    all_pass = next_step(pushes(11, {**SUSPECT, 8: c(0, 58), 9: c(2, 8)}), POLICY).answer
    assert all_pass is not None
    assert early.confidence == all_pass.confidence < finished.confidence


def test_runs_out_count_against_the_budget_and_the_push_share() -> None:
    counts = pushes(11, {5: c(0, 10), 7: c(1), 10: c(2, 2)})
    assert next_step(counts, POLICY, pending={7: 1}).runs == 2
    # 15 runs finished, 4 out: a budget of 20 leaves one run for the next probe.
    assert next_step(counts, SearchPolicy(budget=20), pending={7: 4}).runs == 1


@settings(max_examples=150, deadline=None)
@given(
    parent_passes=st.integers(0, 80),
    suspect=st.tuples(st.integers(1, 4), st.integers(0, 6)),
    newest_passes=st.integers(0, 4),
    out=st.tuples(st.integers(0, 5), st.integers(0, 3)),
)
def test_a_decided_answer_holds_for_every_outcome_of_the_runs_out(
    parent_passes: int,
    suspect: tuple[int, int],
    newest_passes: int,
    out: tuple[int, int],
) -> None:
    """Whatever the runs out at the suspect and the failing push return (hits, passes,
    or nothing: lost), the answer given early is the answer then, at least as sure."""
    counts = pushes(11, {8: c(0, parent_passes), 9: c(*suspect), 10: c(1, 2 + newest_passes)})
    pending = {9: out[0], 10: out[1]}
    step = next_step(counts, POLICY, pending=pending)
    if step.phase is not Phase.DONE:
        return
    assert step.answer is not None and step.answer.outcome is Outcome.CULPRIT
    for outcome_9 in _outcomes(out[0]):
        for outcome_10 in _outcomes(out[1]):
            after = list(counts)
            after[9] = c(counts[9].hits + outcome_9[0], counts[9].passes + outcome_9[1])
            after[10] = c(counts[10].hits + outcome_10[0], counts[10].passes + outcome_10[1])
            then = next_step(after, POLICY).answer
            assert then is not None and then.culprit == step.answer.culprit
            assert then.confidence >= step.answer.confidence - 1e-12


def _outcomes(runs: int) -> list[tuple[int, int]]:
    """(hits, passes) of `runs` runs out, some possibly lost."""
    return [(h, p) for h in range(runs + 1) for p in range(runs + 1 - h)]


def test_no_run_is_obsolete_before_the_failure_was_seen() -> None:
    assert obsolete_pending(pushes(6, {}), {2: ["T2"], 5: ["T5"]}, answered=False) == []
