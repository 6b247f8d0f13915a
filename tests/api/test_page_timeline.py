"""The timeline as the pages show it: each change once (a table of stored histories)."""

from __future__ import annotations

from typing import Any

import pytest

from mozci_monitor.api.backend import ActionView, TimelineEntryView
from mozci_monitor.api.pages.timeline import compact


def _entries(*rows: tuple[str, str | None, dict[str, Any]]) -> list[TimelineEntryView]:
    return [
        TimelineEntryView(n, f"2026-11-22T10:{n:02d}:00Z", kind, task, detail)
        for n, (kind, task, detail) in enumerate(rows, start=1)
    ]


def _phase(task: str, phase: str, run: int = 0) -> tuple[str, str | None, dict[str, Any]]:
    return ("task-phase", task, {"phase": phase, "run": run})


def _state(state: str, failure: str | None = None) -> tuple[str, str | None, dict[str, Any]]:
    return ("state", None, {"state": state, **({"failure": failure} if failure else {})})


DONE = ActionView("k1", "retrigger", "done", "orange", "retrigger via hook: action task X")
DRY = ActionView("k1", "retrigger", "done", "orange", "dry-run: would retrigger T x1")
FAILED = ActionView("k1", "retrigger", "failed", "orange", None, "403")
ACTION = ("action", "A", {"action": "retrigger", "key": "k1", "why": "orange"})


@pytest.mark.parametrize(
    ("rows", "actions", "expected"),
    [
        # One task: each of its phases once, the request states that repeat them left out.
        (
            [
                _phase("A", "pending"),
                _state("pending"),
                _phase("A", "running"),
                _state("running"),
                _phase("A", "completed"),
                _state("completed"),
            ],
            {},
            ["pending", "running", "completed"],
        ),
        # A redelivered phase (same task, phase and run) is not a change.
        ([_phase("A", "running"), _phase("A", "running")], {}, ["running"]),
        # A new run of the same task is.
        ([_phase("A", "exception", 0), _phase("A", "pending", 1)], {}, ["exception", "pending"]),
        # A state the phase does not say: the budget ran out.
        (
            [
                _phase("A", "orange"),
                _state("failed", "orange"),
                ("gave-up", None, {"why": "budget"}),
                _state("failed", "budget"),
            ],
            {},
            ["orange", "gave-up", "failed (budget)"],
        ),
        # Two tasks: the request is running until the second completes.
        (
            [
                _phase("A", "completed"),
                _state("running"),
                _phase("B", "completed"),
                _state("completed"),
            ],
            {},
            ["completed", "running", "completed"],
        ),
        # Actions read as what happened to them.
        ([ACTION], {"k1": DONE}, ["retrigger done"]),
        ([ACTION], {"k1": DRY}, ["would retrigger"]),
        ([ACTION], {"k1": FAILED}, ["retrigger failed"]),
        ([ACTION], {}, ["retrigger"]),
        # A task seen, then phased: the phase line shows it.
        ([("task-seen", "A", {"label": "L"}), _phase("A", "pending")], {}, ["pending"]),
        ([("registered", None, {"wanted": 3})], {}, ["registered, 3 wanted"]),
        # The action's task, followed from running to its end: each state said.
        (
            [
                ("action-task", "X", {"key": "k1", "route": "retrigger-multiple", "state": s})
                for s in ("running", "completed")
            ],
            {},
            ["action task running", "action task completed"],
        ),
        # Capacity held an action back; the answered campaign cancelled its last runs.
        (
            [
                (
                    "deferred",
                    None,
                    {"key": "k1", "note": "deferred: worker pool p/w has 9 pending"},
                ),
                ("cleanup", None, {"note": "cancelled 2 obsolete runs"}),
            ],
            {},
            ["deferred: worker pool p/w has 9 pending", "cancelled 2 obsolete runs"],
        ),
    ],
)
def test_compact(
    rows: list[tuple[str, str | None, dict[str, Any]]],
    actions: dict[str, ActionView],
    expected: list[str],
) -> None:
    assert [item.text for item in compact(_entries(*rows), actions)] == expected


def test_items_keep_time_task_run_and_colour() -> None:
    items = compact(_entries(_phase("A", "pending"), _phase("A", "orange", 2)), {})
    assert [(i.at, i.task_id, i.run, i.colour) for i in items] == [
        ("2026-11-22T10:01:00Z", "A", 0, "blue"),
        ("2026-11-22T10:02:00Z", "A", 2, "orange"),
    ]
