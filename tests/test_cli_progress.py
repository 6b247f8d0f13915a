"""The campaign progress display: runs done / wanted, a bar that fits the terminal."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from mozci_monitor.cli_progress import (
    ProgressDisplay,
    dry_run_decided,
    dry_run_lines,
    progress_of,
)

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _request(state: str, wanted: int, green: int = 0, orange: int = 0, **extra: Any) -> Any:
    final = state in {"completed", "coalesced", "failed", "canceled"}
    return {
        "state": state,
        "wanted": wanted,
        "runs_green": green,
        "runs_orange": orange,
        "final": final,
        **extra,
    }


# (requests, runs done, runs wanted)
CASES = [
    ([], 0, 0),
    # An until-fail of 50 runs: its one request counts each run as it ends.
    ([_request("running", 50, green=12)], 12, 50),
    ([_request("running", 50, green=12, orange=1)], 13, 50),
    # Ended early (the first orange): done, so the bar ends with the campaign.
    ([_request("failed", 50, green=12, orange=1, failure="orange")], 50, 50),
    # Runs beyond those wanted (a retrigger raced a late run) do not overfill.
    ([_request("running", 3, green=5)], 3, 3),
    # A backfill: one request per push, three runs each.
    ([_request("completed", 3, 3), _request("running", 3, 1), _request("pending", 3)], 4, 9),
]


@pytest.mark.parametrize(("requests", "done", "wanted"), CASES)
def test_runs_done_out_of_wanted(requests: list[Any], done: int, wanted: int) -> None:
    progress = progress_of({"id": "c-1", "state": "running", "requests": requests})
    assert (progress.runs_done, progress.runs_wanted) == (done, wanted)


def test_states_are_counted_with_their_failure() -> None:
    progress = progress_of(
        {
            "id": "c-1",
            "state": "running",
            "requests": [
                _request("failed", 1, orange=1, failure="orange"),
                _request("running", 1),
                _request("running", 1),
            ],
        }
    )
    assert progress.line == "c-1 running: 1/3 runs (failed/orange 1, running 2)"


def test_plain_output_is_a_line_per_change() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=False)
    detail = {"id": "c-1", "state": "running", "requests": [_request("running", 2)]}
    display.update(detail)
    display.update(detail)
    display.update({**detail, "requests": [_request("running", 2, green=1)]})
    display.close()
    assert out.getvalue().splitlines() == [
        "c-1 running: 0/2 runs (running 1)",
        "c-1 running: 1/2 runs (running 1)",
    ]


@pytest.mark.parametrize("width", [40, 80, 120])
def test_the_bar_fits_the_terminal_width(width: int) -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True, width=width)
    # Many requests in many states: a description much longer than the terminal.
    states = ["running", "pending", "completed", "failed", "coalesced", "scheduled"]
    requests = [_request(state, 5, green=2) for state in states for _ in range(30)]
    display.update({"id": "c-0123456789", "state": "running", "requests": requests})
    display.update({"id": "c-0123456789", "state": "running", "requests": requests[:60]})
    display.close()
    drawn = [_CONTROL.sub("", part) for part in re.split(r"[\r\n]", out.getvalue())]
    drawn = [line for line in drawn if line.strip()]
    assert drawn, out.getvalue()
    assert all(len(line) <= width for line in drawn), [len(line) for line in drawn]
    assert any("runs" in line for line in drawn)
    # Redrawn in place: no line feed until the display closes.
    assert out.getvalue().count("\n") == 1


def test_note_ends_the_bar_first() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True, width=60)
    display.update({"id": "c-1", "state": "running", "requests": [_request("running", 1)]})
    display.note("c-1 finished: done")
    assert _CONTROL.sub("", out.getvalue()).endswith("\nc-1 finished: done\n")


def _action(request_id: str | None, state: str = "done", kind: str = "retrigger") -> Any:
    return {"request_id": request_id, "state": state, "kind": kind, "why": "2 more wanted"}


# (dry run, final, requests (id, final), actions, decided)
DRY_RUN_CASES = [
    (False, False, [("r1", False)], [_action("r1")], False),  # not a dry run: wait for the end
    (True, True, [("r1", True)], [_action("r1")], False),  # ended: the usual final line
    (True, False, [("r1", False)], [], False),  # nothing decided yet
    (True, False, [("r1", False)], [_action("r1", "pending")], False),  # still deciding
    (True, False, [("r1", False)], [_action("r1")], True),
    (True, False, [("r1", False), ("r2", False)], [_action("r1")], False),  # r2 still runs
    (True, False, [("r1", False), ("r2", True)], [_action("r1")], True),
    # A campaign-level action (downstream, fill) decides for the requests it would bring,
    # those with no task yet.
    (True, False, [], [_action(None, kind="add-new-jobs")], True),
    (True, False, [("r1", False)], [_action(None, kind="add-new-jobs")], True),
    (True, False, [("r1", False, ["T1"])], [_action(None, kind="add-new-jobs")], False),
]


@pytest.mark.parametrize(("dry", "final", "requests", "actions", "decided"), DRY_RUN_CASES)
def test_a_dry_run_is_over_once_every_open_request_has_its_decision(
    dry: bool, final: bool, requests: list[Any], actions: list[Any], decided: bool
) -> None:
    detail = {
        "id": "c-1",
        "dry_run": dry,
        "final": final,
        "requests": [
            {"id": r[0], "final": r[1], "wanted": 1, "task_ids": r[2] if len(r) > 2 else []}
            for r in requests
        ],
        "action_log": actions,
    }
    assert dry_run_decided(detail) is decided
    if decided:
        assert dry_run_lines(detail)[0].startswith("  would ")
