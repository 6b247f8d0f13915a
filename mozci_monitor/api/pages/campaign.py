"""One campaign's page: its answer, the pushes and tasks linked, each request's timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from mozci_monitor.api.backend import ActionView, TimelineEntryView
from mozci_monitor.api.pages.layout import (
    badge,
    campaign_colour,
    link,
    page,
    short_time,
)
from mozci_monitor.api.pages.timeline import (
    TimelineItem,
    action_text,
    compact,
    phase_colour,
    request_colour,
)
from mozci_monitor.api.svg import RatePoint, rate_chart
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.links import Links
from mozci_monitor.core.model import Request
from mozci_monitor.core.sheriff import wilson_interval

REFRESH_SECONDS = 10  # an open campaign's page reloads itself


@dataclass(frozen=True, slots=True)
class PushRow:
    """One push of a backfill or bisect range, with its runs as they stand now."""

    push_id: int
    revision: str
    task_group_id: str | None
    verdict: str
    green: int
    orange: int
    note: str = ""


def campaign_page(
    campaign: Campaign,
    requests: Sequence[tuple[Request, Sequence[TimelineEntryView]]],
    actions: Sequence[ActionView],
    links: Links,
) -> str:
    by_key = {action.key: action for action in actions}
    parts = [_heading(campaign, links)]
    if campaign.kind is CampaignKind.BISECT:
        parts.append(_bisect(campaign, [r for r, _ in requests], links))
    elif campaign.kind is CampaignKind.BACKFILL:
        parts.append(_backfill(campaign, [r for r, _ in requests], links))
    elif campaign.kind is CampaignKind.UNTIL_FAIL and requests:
        parts.append(_until_fail(campaign, *requests[0], links))
    elif campaign.kind is CampaignKind.CONFIRM:
        parts.append(_confirm(campaign, links))
    parts.append(_requests(campaign, requests, by_key, links))
    parts.append(_action_log(actions))
    title = f"{campaign.kind.value} {campaign.campaign_id}"
    refresh = None if campaign.is_final else REFRESH_SECONDS
    return page(title, "".join(parts), refresh_seconds=refresh)


def _heading(campaign: Campaign, links: Links) -> str:
    push = campaign.push
    colour = campaign_colour(campaign.state.value)
    meta = [
        f"{escape(push.repo)} "
        + link(links.push(push.repo, push.revision), push.revision[:12], cls="mono push")
        + " (Treeherder)",
        "task group " + link(links.task_group(push.task_group_id), push.task_group_id, cls="mono")
        if push.task_group_id
        else "no task group yet",
        f"monitor actions {campaign.actions}, tasks {campaign.tasks}"
        + ("" if campaign.max_actions is None else f" of {campaign.max_actions}"),
    ]
    if campaign.dry_run:
        meta.append("<strong>dry run</strong>: actions are decided, not performed")
    answer = campaign.outcome or ("running" if not campaign.is_final else campaign.state.value)
    return (
        f'<section class="campaign c-{colour}" data-campaign-id="{escape(campaign.campaign_id)}"'
        f' data-state="{escape(campaign.state.value)}">'
        f"<h2>{badge(campaign.state.value, colour)}"
        f'<span class="mono">{escape(campaign.campaign_id)}</span>'
        f"<span>{escape(campaign.kind.value)}</span>"
        f'<span class="mono">{escape(campaign.label or "")}</span></h2>'
        f'<p class="answer">{escape(answer)}</p>'
        + "".join(f'<p class="meta">{line}</p>' for line in meta)
        + "</section>"
    )


def push_rows(campaign: Campaign, requests: Sequence[Request]) -> list[PushRow]:
    """The range's pushes, oldest first, counting the runs each request has seen so far."""
    by_id = {request.request_id: request for request in requests}
    final: dict[int, Mapping[str, Any]] = {}
    answer = campaign.summary.get("answer")
    if isinstance(answer, Mapping):
        for entry in answer.get("pushes") or ():
            final[int(entry["push_id"])] = entry
    rows = []
    for entry in campaign.params.get("pushes") or ():
        push_id = int(entry["push_id"])
        request = by_id.get(str(entry.get("request_id") or ""))
        if request is not None:
            green, orange = request.runs_green, request.runs_orange
            verdict = "running" if not request.is_final else _verdict(green, orange)
        else:
            green, orange = int(entry.get("green", 0)), int(entry.get("orange", 0))
            verdict = str(entry.get("verdict", "unknown"))
        if push_id in final:  # the answer's verdict, once the campaign ended
            verdict = str(final[push_id].get("verdict", verdict))
        rows.append(
            PushRow(
                push_id,
                str(entry["revision"]),
                entry.get("task_group_id"),
                verdict,
                green,
                orange,
                str(entry.get("note", "")),
            )
        )
    return sorted(rows, key=lambda row: row.push_id)


def _verdict(green: int, orange: int) -> str:
    if green:
        return "passed"
    return "failed" if orange else "unknown"


_VERDICT_COLOURS = {
    "passed": "green",
    "failed": "orange",
    "running": "blue",
    "not-run": "grey",
    "skipped": "grey",
    "unknown": "grey",
}


def _push_cells(campaign: Campaign, row: PushRow, links: Links) -> str:
    repo = campaign.push.repo
    group = (
        link(links.task_group(row.task_group_id), "task group")
        if row.task_group_id
        else '<span class="note">no decision task</span>'
    )
    return (
        f"<td>{row.push_id}</td>"
        f"<td>{link(links.push(repo, row.revision), row.revision[:12], cls='mono push')}</td>"
        f"<td>{group}</td>"
    )


def _answer_push(campaign: Campaign, name: str) -> int | None:
    answer = campaign.summary.get("answer")
    if not isinstance(answer, Mapping) or not isinstance(answer.get(name), Mapping):
        return None
    return int(answer[name]["push_id"])


def _backfill(campaign: Campaign, requests: Sequence[Request], links: Links) -> str:
    rows = push_rows(campaign, requests)
    last_good, first_bad = _answer_push(campaign, "last_good"), _answer_push(campaign, "first_bad")
    body = []
    for row in rows:
        mark = {last_good: "last good", first_bad: "first bad"}.get(row.push_id, "")
        highlight = ' class="highlight"' if mark else ""
        colour = _VERDICT_COLOURS.get(row.verdict, "grey")
        body.append(
            f'<tr{highlight} data-push="{row.push_id}">{_push_cells(campaign, row, links)}'
            f"<td>{badge(row.verdict, colour)} {escape(mark)}</td>"
            f"<td>{row.green}</td><td>{row.orange}</td>"
            f'<td class="note">{escape(row.note)}</td></tr>'
        )
    return (
        '<section class="pushes"><h3>Verdict per push (oldest first)</h3><table>'
        "<tr><th>push</th><th>revision</th><th>Taskcluster</th><th>verdict</th>"
        "<th>green</th><th>orange</th><th>note</th></tr>" + "".join(body) + "</table></section>"
    )


def _bisect(campaign: Campaign, requests: Sequence[Request], links: Links) -> str:
    rows = push_rows(campaign, requests)
    change = _answer_push(campaign, "first_worse")
    points, body = [], []
    for row in rows:
        runs = row.green + row.orange
        low, high = wilson_interval(row.orange, runs)
        href = links.push(campaign.push.repo, row.revision)
        points.append(
            RatePoint(row.revision, runs, row.orange, low, high, row.push_id == change, href)
        )
        rate = f"{row.orange / runs:.0%}" if runs else "-"
        interval = f"{low:.0%} to {high:.0%}" if runs else "-"
        highlight = ' class="highlight"' if row.push_id == change else ""
        body.append(
            f'<tr{highlight} data-push="{row.push_id}">{_push_cells(campaign, row, links)}'
            f"<td>{runs}</td><td>{row.orange}</td><td>{rate}</td><td>{interval}</td>"
            f"<td>{'rate rises here' if row.push_id == change else ''}</td></tr>"
        )
    return (
        '<section class="pushes"><h3>Failure rate per push, with its 95 % interval</h3>'
        + rate_chart(points)
        + "<table><tr><th>push</th><th>revision</th><th>Taskcluster</th><th>runs</th>"
        "<th>failed</th><th>rate</th><th>95 % interval</th><th></th></tr>"
        + "".join(body)
        + "</table></section>"
    )


def _task_runs(timeline: Sequence[TimelineEntryView]) -> dict[str, tuple[str, int, str]]:
    """Each task's latest phase, run and time, from its phase entries."""
    runs: dict[str, tuple[str, int, str]] = {}
    for entry in timeline:
        if entry.kind == "task-phase" and entry.task_id:
            run = entry.detail.get("run")
            runs[entry.task_id] = (
                str(entry.detail.get("phase", "")),
                run if isinstance(run, int) else 0,
                entry.at,
            )
    return runs


def _until_fail(
    campaign: Campaign,
    request: Request,
    timeline: Sequence[TimelineEntryView],
    links: Links,
) -> str:
    answer = campaign.summary.get("answer")
    hit = answer.get("failed_task") if isinstance(answer, Mapping) else None
    hit = hit or request.first_orange
    runs = _task_runs(timeline)
    body = []
    for number, task_id in enumerate(request.task_ids, start=1):
        phase, run, at = runs.get(task_id, ("scheduled", 0, ""))
        is_hit = task_id == hit
        highlight = ' class="highlight"' if is_hit else ""
        body.append(
            f'<tr{highlight} data-task="{escape(task_id)}">'
            f"<td>{number}</td>"
            f"<td>{_task_links(request.push.repo, request.push.revision, task_id, run, links)}</td>"
            f'<td><span class="chip c-{phase_colour(phase)}">{escape(phase)}</span>'
            f"{' <strong>the hit</strong>' if is_hit else ''}</td>"
            f"<td><time>{escape(short_time(at))}</time></td></tr>"
        )
    wanted = campaign.params.get("budget", request.wanted)
    return (
        '<section class="runs"><h3>'
        f"Runs: {request.runs_green} green, {request.runs_orange} orange,"
        f" budget {escape(str(wanted))}"
        "</h3><table><tr><th>#</th><th>task</th><th>phase</th><th>last change</th></tr>"
        + "".join(body)
        + "</table></section>"
    )


# A confirm's answer per test, as a chip colour.
_ANSWER_COLOURS = {"regression": "red", "intermittent": "green", "unknown": "grey"}


def _confirm(campaign: Campaign, links: Links) -> str:
    """The failing task, then per test its answer and the run that decided it."""
    confirm = campaign.params.get("confirm")
    if not isinstance(confirm, Mapping):
        return ""
    push = campaign.push
    failing = str(confirm.get("task_id"))
    run = int(confirm.get("run") or 0)
    answer = campaign.summary.get("answer")
    by_test = {
        str(t.get("test")): t
        for t in (answer.get("tests") or () if isinstance(answer, Mapping) else ())
    }
    how = (
        "one -cf task per test (gecko's confirm-failures)"
        if confirm.get("via") == "confirm-failures"
        else f"{confirm.get('times')} retriggers (the suite has no -cf variant)"
    )
    body = []
    for target in confirm.get("tests") or ():
        test = str(target.get("test"))
        found = by_test.get(test, {})
        verdict = str(found.get("answer") or "waiting")
        decided = found.get("decided_by")
        where = "-"
        if isinstance(decided, Mapping):
            where = _task_links(
                push.repo,
                push.revision,
                str(decided.get("task_id")),
                int(decided.get("run_id") or 0),
                links,
            )
        runs = f"{found.get('failed', 0)} of {found.get('runs', 0)}" if found else "-"
        body.append(
            f'<tr data-test="{escape(test)}"><td class="mono">{escape(test)}</td>'
            f'<td><span class="chip c-{_ANSWER_COLOURS.get(verdict, "blue")}">'
            f"{escape(verdict)}</span></td>"
            f"<td>{escape(runs)}</td><td>{where}</td></tr>"
        )
    return (
        '<section class="tests"><h3>Tests of '
        + _task_links(push.repo, push.revision, failing, run, links)
        + f", run {run}: {escape(how)}</h3>"
        "<table><tr><th>test</th><th>answer</th><th>failed / runs that ran it</th>"
        "<th>decided by</th></tr>" + "".join(body) + "</table></section>"
    )


def _task_links(repo: str, revision: str, task_id: str, run: int, links: Links) -> str:
    return (
        link(links.task_run(repo, revision, task_id, run), task_id, cls="mono task")
        + " ("
        + link(links.task(task_id), "Taskcluster", cls="tc-task")
        + ")"
    )


def _requests(
    campaign: Campaign,
    requests: Sequence[tuple[Request, Sequence[TimelineEntryView]]],
    actions: Mapping[str, ActionView],
    links: Links,
) -> str:
    if not requests:
        return '<section><p class="empty">no requests (yet)</p></section>'
    rows = []
    for request, timeline in requests:
        colour = request_colour(request.state.value, _failure(request))
        state = request.state.value + (f" ({_failure(request)})" if request.failure else "")
        push = request.push
        items = "".join(
            _timeline_item(item, push.repo, push.revision, links)
            for item in compact(timeline, actions)
        )
        reason = f'<div class="note">{escape(request.reason)}</div>' if request.reason else ""
        where = ""
        if campaign.kind in (CampaignKind.BACKFILL, CampaignKind.BISECT):
            where = (
                "<div>"
                + link(links.push(push.repo, push.revision), push.revision[:12], cls="mono push")
                + "</div>"
            )
        rows.append(
            f'<tr class="request rs-{colour}" data-request-id="{escape(request.request_id)}">'
            f'<td class="mono">{escape(request.label)}'
            f"{f' x{request.wanted}' if request.wanted > 1 else ''}{where}</td>"
            f"<td>{badge(state, colour)}{reason}</td>"
            f'<td><ol class="timeline">{items}</ol></td></tr>'
        )
    return (
        '<section class="requests"><h3>Requests</h3><table>'
        "<tr><th>label</th><th>state</th><th>timeline</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _failure(request: Request) -> str | None:
    return request.failure.value if request.failure else None


def _timeline_item(item: TimelineItem, repo: str, revision: str, links: Links) -> str:
    task = ""
    if item.task_id:
        task = " " + _task_links(repo, revision, item.task_id, item.run or 0, links)
    note = f' <span class="note">{escape(item.note)}</span>' if item.note else ""
    return (
        f'<li><time datetime="{escape(item.at)}">{escape(short_time(item.at))}</time>'
        f'<span class="chip c-{escape(item.colour)}">{escape(item.text)}</span>{task}{note}</li>'
    )


def _action_log(actions: Sequence[ActionView]) -> str:
    if not actions:
        return ""
    rows = []
    for action in actions:
        outcome = action.error or action.result or ""
        rows.append(
            f'<tr class="action a-{escape(action.state)}">'
            f"<td>{escape(action_text(action.kind, action))}</td>"
            f'<td>{escape(action.why)}</td><td class="note">{escape(outcome)}</td></tr>'
        )
    return (
        '<section class="actions"><h3>Monitor actions</h3><table>'
        "<tr><th>action</th><th>why</th><th>result</th></tr>" + "".join(rows) + "</table></section>"
    )
