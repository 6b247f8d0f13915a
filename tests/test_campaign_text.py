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


def test_the_timeline_says_each_change_once_with_its_time() -> None:
    detail = _detail()
    at = "2026-12-06T07:34:20.165Z"
    detail["requests"] = [
        {
            "id": "c-0123456789-r1",
            "state": "pending",
            "failure": None,
            "label": "test-linux1804-64/opt-xpcshell-1",
            "timeline": [
                {"seq": 1, "at": at, "kind": "task-seen", "task_id": "T", "detail": {}},
                {
                    "seq": 2,
                    "at": at,
                    "kind": "task-phase",
                    "task_id": "T",
                    "detail": {"phase": "pending", "run": 0},
                },
                {
                    "seq": 3,
                    "at": at,
                    "kind": "state",
                    "task_id": None,
                    "detail": {"state": "pending"},
                },
            ],
        }
    ]
    lines = format_campaign(detail).splitlines()
    timeline = lines[lines.index("requests:") + 2 : lines.index("actions:")]
    assert timeline == [f"      {at}  pending  T"]
