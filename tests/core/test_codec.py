"""Plain-data encodings round-trip: what a store writes, `parse_status` / the codec read back."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.codec import action_from_json, action_to_json, status_to_json
from mozci_monitor.core.messages import parse_status
from mozci_monitor.core.model import REASONS_CREATED, Push, Run, RunState, TaskStatus

from .builders import PUSH, slug

_timestamps = st.none() | st.sampled_from(["2019-06-26T19:36:10.316Z", "2026-11-22T14:00:00Z"])
_names = st.none() | st.text(st.sampled_from("abc-_019"), min_size=1, max_size=12)
_RESOLVED = {
    RunState.COMPLETED: st.just("completed"),
    RunState.FAILED: st.just("failed"),
    RunState.EXCEPTION: st.sampled_from(
        ["superseded", "canceled", "claim-expired", "deadline-exceeded", "internal-error"]
    ),
}


@st.composite
def _runs(draw: st.DrawFn) -> tuple[Run, ...]:
    count = draw(st.integers(0, 4))
    runs = []
    for run_id in range(count):
        last = run_id == count - 1
        state = draw(st.sampled_from(list(RunState) if last else list(_RESOLVED)))
        resolved = draw(_RESOLVED[state]) if state in _RESOLVED else None
        runs.append(
            Run(
                run_id=run_id,
                state=state,
                reason_created=draw(st.sampled_from(sorted(REASONS_CREATED))),
                reason_resolved=resolved,
                scheduled=draw(_timestamps),
                started=draw(_timestamps),
                resolved=draw(_timestamps) if resolved else None,
                worker_group=draw(_names),
                worker_id=draw(_names),
            )
        )
    return tuple(runs)


@st.composite
def statuses(draw: st.DrawFn) -> TaskStatus:
    runs = draw(_runs())
    return TaskStatus(
        task_id=slug(draw(st.integers(0, 2**64))),
        task_group_id=slug(draw(st.integers(0, 2**64))),
        state=runs[-1].state.value if runs else "unscheduled",
        retries_left=draw(st.integers(0, 999)),
        runs=runs,
        provisioner_id=draw(st.sampled_from(["", "proj-autophone", "aws-provisioner-v1"])),
        worker_type=draw(st.sampled_from(["", "gecko-t-linux-large"])),
        scheduler_id=draw(st.sampled_from(["", "gecko-level-3"])),
        deadline=draw(st.sampled_from(["", "2019-06-27T19:13:51.402Z"])),
    )


@settings(max_examples=200, deadline=None)
@given(status=statuses())
def test_status_round_trips_through_json(status: TaskStatus) -> None:
    encoded = status_to_json(status)
    assert parse_status(json.loads(json.dumps(encoded))) == status


def test_real_statuses_round_trip(reference_dir: Path) -> None:
    for path in sorted((reference_dir / "task-groups").glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["tasks"]:
            status = parse_status(entry["status"])
            assert parse_status(status_to_json(status)) == status


_actions = st.builds(
    Action,
    key=st.text(min_size=1, max_size=30),
    kind=st.sampled_from(list(ActionKind)),
    push=st.none() | st.just(PUSH) | st.just(Push("try", "f" * 40, slug(5))),
    request_id=st.none() | st.text(max_size=10),
    campaign_id=st.none() | st.text(max_size=10),
    task_id=st.none() | st.just(slug(9)),
    labels=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    times=st.integers(1, 50),
    why=st.text(max_size=40),
    details=st.dictionaries(
        st.text(max_size=8), st.none() | st.integers(-5, 5) | st.text(max_size=8), max_size=3
    ),
)


@settings(max_examples=200, deadline=None)
@given(action=_actions)
def test_action_round_trips_through_json(action: Action) -> None:
    assert action_from_json(json.loads(json.dumps(action_to_json(action)))) == action


def test_action_defaults_when_optional_fields_are_absent() -> None:
    decoded = action_from_json({"key": "r/action-1", "kind": "rerun", "push": None})
    assert decoded == Action(key="r/action-1", kind=ActionKind.RERUN, push=None)
