"""Campaigns as text for a terminal, from the documents the API answers with.

`list` and `show` print these whether the documents came from the daemon's API or were
built from the store (`store_views`), so both ways read the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mozci_monitor.api.backend import ActionView, TimelineEntryView
from mozci_monitor.api.pages.timeline import compact


def format_campaigns(campaigns: Sequence[Mapping[str, Any]]) -> str:
    if not campaigns:
        return "no campaigns"
    lines = [f"{'ID':<13}  {'KIND':<10}  {'STATE':<9}  {'ACTIONS':>7}  {'PUSH':<24}  OUTCOME"]
    for c in campaigns:
        push = f"{c['repo']}@{c['revision'][:12]}"
        lines.append(
            f"{c['id']:<13}  {c['kind']:<10}  {c['state']:<9}  {c['actions']:>7}"
            f"  {push:<24}  {c.get('outcome') or c.get('label') or ''}"
        )
    return "\n".join(lines)


def answer_rows(answer: Any) -> list[str]:
    """Per push: a backfill's verdict, a bisect's failure rate with its 95% interval; per
    test: a confirm's answer, from how many runs that ran it."""
    if not isinstance(answer, Mapping):
        return []
    rows = []
    for push in answer.get("pushes") or ():  # backfill
        note = f" ({push['note']})" if push.get("note") else ""
        rows.append(
            f"push {push['push_id']} {push['revision'][:12]}  {push['verdict']:<7}"
            f" green {push['green']}, orange {push['orange']}{note}"
        )
    for row in answer.get("revisions") or ():  # bisect
        rate = "-" if row["rate"] is None else f"{row['rate']:.0%}"
        low, high = row["interval"]
        rows.append(
            f"push {row['push_id']} {row['revision'][:12]}  failed {row['failures']}/{row['runs']}"
            f"  rate {rate:>4} (95% {low:.0%}-{high:.0%})"
        )
    for test in answer.get("tests") or ():  # confirm
        rows.append(
            f"{test['answer']:<12} {test['test']}  failed in {test['failed']} of"
            f" {test['runs']} run(s) that ran it"
        )
    return rows


def format_campaign(detail: Mapping[str, Any]) -> str:
    lines = [f"campaign {detail['id']} ({detail['kind']}): {detail['state']}"]
    if detail.get("outcome"):
        lines.append(f"  outcome: {detail['outcome']}")
    lines.append(
        f"  push:    {detail['repo']}@{detail['revision']} group {detail['task_group_id']}"
    )
    answer = (detail.get("summary") or {}).get("answer")
    if isinstance(answer, Mapping):
        if answer.get("summary"):
            lines.append(f"  answer:  {answer['summary']}")
        lines.extend(f"    {row}" for row in answer_rows(answer))
        if answer.get("failed_task"):  # until-fail
            lines.append(f"  failing task: {answer['failed_task']}")
    cleanup = (detail.get("summary") or {}).get("cleanup")
    if cleanup:  # a range campaign's runs still open once it had its answer
        lines.append(f"  cleanup: {cleanup}")
    actions = {
        str(a.get("key")): _action_view(a)
        for a in detail.get("action_log") or []
        if isinstance(a, Mapping)
    }
    lines.append("requests:")
    for request in detail.get("requests") or []:
        state = request["state"] + (f"/{request['failure']}" if request.get("failure") else "")
        lines.append(f"  {request['id']:<24} {state:<18} {request['label']}")
        lines.extend(_timeline_lines(request.get("timeline") or [], actions))
    lines.append("actions:")
    for action in detail.get("action_log") or []:
        error = f" ({action['error']})" if action.get("error") else ""
        # A dry run's action is done without being performed: it says what it would do.
        dry = str(action.get("result") or "").startswith("dry-run")
        state = "would" if dry and action["state"] == "done" else action["state"]
        lines.append(f"  {action['kind']:<13} {state:<8} {action['why']}{error}")
    return "\n".join(lines)


def _timeline_lines(
    entries: Sequence[Mapping[str, Any]], actions: Mapping[str, ActionView]
) -> list[str]:
    """A request's history as the campaign page shows it: each change once, with its time."""
    views = [
        TimelineEntryView(
            int(entry.get("seq") or 0),
            str(entry.get("at", "")),
            str(entry.get("kind", "")),
            entry.get("task_id"),
            entry.get("detail") or {},
        )
        for entry in entries
    ]
    lines = []
    for item in compact(views, actions):
        task = f"  {item.task_id}" if item.task_id else ""
        run = f" run {item.run}" if item.task_id and item.run else ""
        note = f"  ({item.note})" if item.note and item.note != item.text else ""
        lines.append(f"      {item.at}  {item.text}{task}{run}{note}")
    return lines


def _action_view(action: Mapping[str, Any]) -> ActionView:
    return ActionView(
        key=str(action.get("key")),
        kind=str(action.get("kind")),
        state=str(action.get("state")),
        why=str(action.get("why") or ""),
        result=action.get("result"),
        error=action.get("error"),
        request_id=action.get("request_id"),
    )
