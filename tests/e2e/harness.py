"""What the end-to-end tests add to the shared scene (tests/support): reading timelines."""

from __future__ import annotations

from typing import Any

from mozci_monitor.ports.store import StoredEntry


def phases(entries: list[StoredEntry], task_id: str) -> list[tuple[str, Any, Any]]:
    """(phase, run, reasonCreated) of one task's phase entries, in order."""
    return [
        (e.detail["phase"], e.detail.get("run"), e.detail.get("created"))
        for e in entries
        if e.kind == "task-phase" and e.task_id == task_id
    ]


def actions_taken(entries: list[StoredEntry]) -> list[tuple[str, str]]:
    return [(e.detail["action"], e.detail["why"]) for e in entries if e.kind == "action"]


def final_state(entries: list[StoredEntry]) -> dict[str, Any]:
    states = [e.detail for e in entries if e.kind == "state"]
    assert states, "no state entry in the timeline"
    return dict(states[-1])
