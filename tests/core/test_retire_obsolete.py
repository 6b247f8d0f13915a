"""core.machine.retire_obsolete as a table: once a range campaign has its answer, each of
its requests' runs still open is cancelled (only those its own actions could have created:
the cancel names the action tasks the actuator checks against), and a request still open
ends as obsolete."""

from __future__ import annotations

import pytest

from core.builders import TASK_A, TASK_B, record, request, slug
from mozci_monitor.core.actions import ActionKind
from mozci_monitor.core.machine import OBSOLETE, retire_obsolete
from mozci_monitor.core.model import ActionTask, FailureKind, Phase, RequestState

ACTION_TASK = slug(900)
FOLLOWED = (ActionTask(ACTION_TASK, "req-1/action-1", "retrigger-multiple", times=2),)
TASK_C = slug(3)


@pytest.mark.parametrize(
    ("state", "action_tasks", "phases", "cancelled", "ends"),
    [
        # Open, with runs its action asked for still out: they go, the request ends.
        (
            RequestState.RUNNING,
            FOLLOWED,
            {TASK_A: Phase.ORANGE, TASK_B: Phase.PENDING, TASK_C: Phase.RUNNING},
            sorted([TASK_B, TASK_C]),
            True,
        ),
        # Final with one extra run still out (more runs than it wanted).
        (
            RequestState.FAILED,
            FOLLOWED,
            {TASK_A: Phase.ORANGE, TASK_B: Phase.PENDING},
            [TASK_B],
            False,
        ),
        # Every run finished: nothing to cancel, a final request is left as it is.
        (RequestState.FAILED, FOLLOWED, {TASK_A: Phase.ORANGE, TASK_B: Phase.COMPLETED}, [], False),
        # No action of ours: its open runs are CI's own, never cancelled.
        (RequestState.RUNNING, (), {TASK_A: Phase.PENDING}, [], True),
    ],
)
def test_retire_obsolete(state, action_tasks, phases, cancelled, ends) -> None:
    tasks = [record(phase, task_id=task_id) for task_id, phase in phases.items()]
    tasks.append(record(Phase.PENDING, task_id=slug(7), label="another-label"))  # not its
    failure = FailureKind.ORANGE if state is RequestState.FAILED else None
    before = request(
        wanted=2, state=state, failure=failure, task_ids=tuple(phases), action_tasks=action_tasks
    )
    decision = retire_obsolete(before, tasks)
    assert [a.task_id for a in decision.actions] == cancelled
    assert all(a.kind is ActionKind.CANCEL for a in decision.actions)
    assert all(a.details == {"created_by": ACTION_TASK} for a in decision.actions)
    assert all(a.key == f"req-1/cancel/{a.task_id}" for a in decision.actions)  # until-fail's
    if ends:
        assert (decision.request.state, decision.request.reason) == (
            RequestState.CANCELED,
            OBSOLETE,
        )
    else:
        assert decision.request.state is state
    assert decision.changed == bool(cancelled or ends)
    # Deciding again proposes the same cancels: the same keys, performed once by the outbox.
    again = retire_obsolete(decision.request, tasks)
    assert [a.key for a in again.actions] == [a.key for a in decision.actions]
