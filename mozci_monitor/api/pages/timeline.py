"""A request's stored history as a sheriff reads it: each change once, with its time.

The store records a task's phase and, in the same transaction, the request state it
leads to: shown raw, every state appears twice (`pending pending running running`). A
state line is kept only when it says something the task's phase did not (the request
failed for the budget, or ended after several tasks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mozci_monitor.api.backend import ActionView, TimelineEntryView

_OPEN_PHASES = frozenset({"scheduled", "pending", "running", "retrying"})
# The task phase that already says what a request state says.
_STATE_OF_PHASE = {
    "pending": "pending",
    "running": "running",
    "completed": "completed",
    "orange": "failed/orange",
    "exception": "failed/exception",
    "coalesced": "coalesced",
    "canceled": "canceled",
}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: str
    text: str
    colour: str  # a name of status_page.COLOURS, or "neutral"
    task_id: str | None = None
    run: int | None = None
    note: str = ""


def phase_colour(phase: str) -> str:
    if phase in _OPEN_PHASES:
        return "blue"
    return {
        "completed": "green",
        "orange": "orange",
        "exception": "purple",
        "coalesced": "grey",
        "canceled": "pink",
    }.get(phase, "grey")


def request_colour(state: str, failure: str | None) -> str:
    if state == "completed":
        return "green"
    if state == "coalesced":
        return "grey"
    if state == "canceled":
        return "pink"
    if state == "blocked":
        return "purple"  # a task it depends on failed: it could not run
    if state == "failed":
        return {"orange": "orange", "exception": "purple"}.get(failure or "", "red")
    return "blue"


def is_dry_run(action: ActionView) -> bool:
    return action.state == "done" and (action.result or "").startswith("dry-run")


def action_text(kind: str, action: ActionView | None) -> str:
    """`retrigger`, `would retrigger` (dry run), `retrigger failed`, `retrigger pending`."""
    if action is None:
        return kind
    if is_dry_run(action):
        return f"would {kind}"
    if action.state == "done":
        return f"{kind} done"
    return f"{kind} {action.state}"


def compact(
    entries: Sequence[TimelineEntryView], actions: Mapping[str, ActionView]
) -> list[TimelineItem]:
    """The entries worth a line, in order; `actions` maps outbox keys to their outcome."""
    items: list[TimelineItem] = []
    last_phase: dict[str, tuple[str, object]] = {}  # task id -> (phase, run)
    latest_phase: str | None = None
    last_state: str | None = None
    phased = {e.task_id for e in entries if e.kind == "task-phase" and e.task_id}
    for entry in entries:
        detail = entry.detail
        if entry.kind == "task-phase" and entry.task_id:
            phase = str(detail.get("phase", ""))
            run = detail.get("run")
            if last_phase.get(entry.task_id) == (phase, run):
                continue
            last_phase[entry.task_id] = (phase, run)
            latest_phase = phase
            items.append(
                TimelineItem(
                    entry.at,
                    phase,
                    phase_colour(phase),
                    entry.task_id,
                    run if isinstance(run, int) else None,
                    str(detail.get("reason") or ""),
                )
            )
        elif entry.kind == "state":
            state = str(detail.get("state", ""))
            failure = detail.get("failure")
            said = state + (f"/{failure}" if failure else "")
            if said == last_state or (
                latest_phase is not None and _STATE_OF_PHASE.get(latest_phase) == said
            ):
                last_state = said
                continue
            last_state = said
            text = state + (f" ({failure})" if failure else "")
            colour = request_colour(state, str(failure) if failure else None)
            items.append(TimelineItem(entry.at, text, colour, note=str(detail.get("reason") or "")))
        elif entry.kind == "task-seen" and entry.task_id in phased:
            continue  # its first phase line shows the task
        elif entry.kind == "action":
            kind = str(detail.get("action") or "action")
            action = actions.get(str(detail.get("key") or ""))
            items.append(
                TimelineItem(
                    entry.at,
                    action_text(kind, action),
                    "red" if action is not None and action.state == "failed" else "neutral",
                    entry.task_id,
                    note=str(detail.get("why") or ""),
                )
            )
        elif entry.kind in ("gave-up", "action-failed"):
            note = str(detail.get("why") or detail.get("error") or "")
            items.append(TimelineItem(entry.at, entry.kind, "red", entry.task_id, note=note))
        elif entry.kind == "action-task":
            # The in-tree action's own task: followed from running to its end.
            state = str(detail.get("state") or "")
            route = str(detail.get("route") or "")
            text = f"action task {state}".rstrip()
            colour = {"running": "blue", "completed": "green"}.get(state, "neutral")
            items.append(TimelineItem(entry.at, text, colour, entry.task_id, note=route))
        elif entry.kind in ("deferred", "cleanup"):
            # An action waiting for capacity; runs cancelled once the campaign answered.
            text = str(detail.get("note") or entry.kind)
            items.append(TimelineItem(entry.at, text, "neutral", entry.task_id))
        elif entry.kind == "registered":
            wanted = detail.get("wanted")
            text = f"registered, {wanted} wanted" if wanted else "registered"
            items.append(TimelineItem(entry.at, text, "neutral"))
        else:
            items.append(TimelineItem(entry.at, entry.kind, "neutral", entry.task_id))
    return items
