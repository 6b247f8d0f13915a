"""The one progress display of a campaign the CLI waits for: runs done out of runs wanted.

On a terminal it is a rich progress bar, redrawn in place and sized to the terminal's
width; otherwise (a pipe, a log file, CI) one plain line each time something changed.
It reads a campaign document as the API and `show --json` give it, wherever it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Column

_FINAL_REQUEST_STATES = frozenset({"completed", "coalesced", "failed", "canceled", "blocked"})


@dataclass(frozen=True)
class CampaignProgress:
    """What the display shows of a campaign at one moment."""

    campaign_id: str
    state: str
    final: bool
    runs_done: int
    runs_wanted: int
    states: str  # "completed 2, running 1"

    @property
    def line(self) -> str:
        text = f"{self.campaign_id} {self.state}: {self.runs_done}/{self.runs_wanted} runs"
        return f"{text} ({self.states})" if self.states else text


def progress_of(detail: Mapping[str, Any]) -> CampaignProgress:
    """Runs done / wanted over the campaign's requests.

    A request counts the runs that ended (green or orange) up to the number it wants; a
    request that is final counts as done, whatever ended it (a failure, a cancel, an
    until-fail that stopped at its first orange), so the bar reaches its end with the
    campaign.
    """
    done = wanted = 0
    states: dict[str, int] = {}
    for request in _requests(detail):
        want = max(int(request.get("wanted") or 1), 1)
        ran = int(request.get("runs_green") or 0) + int(request.get("runs_orange") or 0)
        final = bool(request.get("final")) or request.get("state") in _FINAL_REQUEST_STATES
        wanted += want
        done += want if final else min(ran, want)
        key = str(request.get("state", "?"))
        if request.get("failure"):
            key += f"/{request['failure']}"
        states[key] = states.get(key, 0) + 1
    return CampaignProgress(
        campaign_id=str(detail.get("id", "?")),
        state=str(detail.get("state", "?")),
        final=bool(detail.get("final")),
        runs_done=done,
        runs_wanted=wanted,
        states=", ".join(f"{name} {count}" for name, count in sorted(states.items())),
    )


def _requests(detail: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    requests = detail.get("requests")
    return [r for r in requests if isinstance(r, Mapping)] if isinstance(requests, list) else []


class ProgressDisplay:
    """A bar on a terminal, a line per change elsewhere; `note` prints above the bar."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, width: int | None = None) -> None:
        self._out = out
        self._tty = out.isatty() if tty is None else tty
        self._last: str | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._console = Console(
            file=out,
            force_terminal=self._tty,
            width=width,
            highlight=False,
            soft_wrap=False,
        )

    def update(self, detail: Mapping[str, Any]) -> CampaignProgress:
        now = progress_of(detail)
        if not self._tty:
            if now.line != self._last:
                self._out.write(now.line + "\n")
                self._out.flush()
            self._last = now.line
            return now
        description = f"{now.campaign_id} {now.state}" + (f" ({now.states})" if now.states else "")
        if self._progress is None:
            self._progress = Progress(
                # The description gives way (ellipsis) so that the line never wraps.
                TextColumn(
                    "{task.description}",
                    table_column=Column(no_wrap=True, overflow="ellipsis", ratio=2),
                ),
                BarColumn(bar_width=None, table_column=Column(ratio=1)),
                MofNCompleteColumn(),
                TextColumn("runs"),
                console=self._console,
                auto_refresh=False,
                expand=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=max(now.runs_wanted, 1))
        assert self._task is not None
        self._progress.update(
            self._task,
            description=description,
            completed=now.runs_done,
            total=max(now.runs_wanted, 1),
        )
        self._progress.refresh()
        return now

    def note(self, text: str) -> None:
        """A line of its own (a hint, the final answer), below whatever was drawn."""
        self.close()
        self._out.write(text + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None


def dry_run_decided(detail: Mapping[str, Any]) -> bool:
    """A dry-run campaign has nothing left to show: what is left would need its actions.

    In a dry run the daemon decides and performs nothing, so the runs a retrigger would
    add never come and the campaign never ends. Waiting is over once every action it
    decided is recorded (none pending) and every request still open has one of them: the
    rest of the story is what those actions would have done.
    """
    if not detail.get("dry_run") or detail.get("final"):
        return False
    actions = [a for a in detail.get("action_log") or [] if isinstance(a, Mapping)]
    if not actions or any(a.get("state") == "pending" for a in actions):
        return False
    decided = {a.get("request_id") for a in actions if a.get("state") == "done"}
    # A campaign's own action (downstream, fill) would bring the tasks of requests that
    # have none yet.
    for_the_campaign = None in decided
    open_requests = [r for r in _requests(detail) if not r.get("final")]
    return all(
        r.get("id") in decided or (for_the_campaign and not r.get("task_ids"))
        for r in open_requests
    )


def dry_run_lines(detail: Mapping[str, Any]) -> list[str]:
    """What a dry-run campaign would have done, one line per decided action."""
    return [
        f"  would {a.get('kind')}: {a.get('why')}"
        for a in detail.get("action_log") or []
        if isinstance(a, Mapping) and a.get("state") == "done" and a.get("kind") != "notify"
    ]
