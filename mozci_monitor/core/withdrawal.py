"""Whether an action of the outbox still serves a live intent when it is about to run.

An action that schedules tasks is decided for a request (or, campaign-level, for the
requests it lists) and waits in the outbox until the actuator performs it. If what it was
for has ended meanwhile — the user cancelled the campaign, a search retired the request as
obsolete, an until-fail batch failed, the campaign has its answer — its runs would serve
nobody: it is *withdrawn*, closed without being performed, with the reason. Notifications,
cancels and reads are never withdrawn: they are how an ended request is told and cleaned
up. The actuator asks this at the moment it claims an entry for performing, in the same
store transaction as the claim, so an end committed before the claim always wins and an
end committed after it finds the action in flight (its runs are cancelled as they appear:
`core.machine`'s late-run rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mozci_monitor.core.actions import SCHEDULING_KINDS, Action, ActionKind, served_requests
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.machine import Decision
from mozci_monitor.core.model import Request, TimelineEntry

# What may be withdrawn: the actions that put tasks on Firefox CI's machines.
WITHDRAWABLE_KINDS = SCHEDULING_KINDS
WITHDRAWN = "withdrawn"  # the outbox state of a withdrawn entry


def withdrawal(
    action: Action, requests: Sequence[Request], campaign: Campaign | None
) -> str | None:
    """Why `action` no longer serves a live intent (its outbox result), or None when it
    still does. `requests`: those of `served_requests(action)` the store has; `campaign`:
    the action's campaign, if it has one and the store has it."""
    if action.kind not in WITHDRAWABLE_KINDS:
        return None
    served = set(served_requests(action))
    known = [request for request in requests if request.request_id in served]
    if served and len(known) == len(served) and all(r.is_final for r in known):
        first = min(known, key=lambda request: request.request_id)
        return f"withdrawn: request ended ({first.reason or first.state.value})"
    if campaign is not None and campaign.is_final:
        ended = campaign.state.value + (f": {campaign.outcome}" if campaign.outcome else "")
        return f"withdrawn: campaign ended ({ended})"
    return None  # a request still open (or not known: never guess) wants its runs


def expected_runs(action: Action) -> int:
    """The new runs each request the action serves awaits from it (`expected_new`): a
    campaign-level action's `expect`; a request's retrigger or add-new-jobs its `times`
    (of its one label); a rerun none (the request awaits the task's new run instead)."""
    if action.request_id is None:
        return int(action.details.get("expect") or 0)
    if action.kind in (ActionKind.RETRIGGER, ActionKind.ADD_NEW_JOBS):
        return action.times
    return 0


def withdrawn(request: Request, action: Action, why: str) -> Decision:
    """The request's timeline says its action was withdrawn, and the runs it would have
    made are no longer awaited (a withdrawn rerun: the task's new run)."""
    entry = TimelineEntry(
        "withdrawn", action.task_id, {"key": action.key, "action": action.kind.value, "note": why}
    )
    awaiting = request.awaiting_rerun
    if action.kind is ActionKind.RERUN:
        awaiting = tuple(t for t in awaiting if t != action.task_id)
    after = replace(
        request,
        expected_new=max(0, request.expected_new - expected_runs(action)),
        awaiting_rerun=awaiting,
    )
    return Decision(after, (entry,), (), True)
