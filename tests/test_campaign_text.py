"""`show ID` as text: a dry run's actions say what they would have done."""

from __future__ import annotations

from typing import Any

from mozci_monitor.campaign_text import format_campaign


def _detail(*actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "c-0123456789",
        "kind": "fill",
        "state": "running",
        "repo": "autoland",
        "revision": "b472a5cf3fd245611116bbfbd22ce2a6298734c6",
        "task_group_id": "RqS-aYBDT_Ch0seCfBGgCA",
        "requests": [],
        "action_log": list(actions),
    }


def _action(state: str, result: str | None) -> dict[str, Any]:
    why = "16 job(s) of the full graph never ran"
    return {"kind": "add-new-jobs", "state": state, "why": why, "result": result, "error": None}


def test_a_dry_run_action_reads_would() -> None:
    text = format_campaign(_detail(_action("done", "dry-run: would add-new-jobs a, b x1")))
    assert text.splitlines()[-1] == (
        "  add-new-jobs  would    16 job(s) of the full graph never ran"
    )


def test_a_performed_action_reads_done() -> None:
    text = format_campaign(_detail(_action("done", "add-new-jobs via hook: action task X")))
    assert text.splitlines()[-1] == "  add-new-jobs  done     16 job(s) of the full graph never ran"
