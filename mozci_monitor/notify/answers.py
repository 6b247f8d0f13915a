"""A campaign's end in words a sheriff reads: the answer first, then a short table, links.

One sentence per campaign kind and outcome, built from the campaign's stored answer
(`summary["answer"]`); never a raw dict. The plain `text` is what a mail or a log shows;
the table and the links are kept as structure for Markdown and HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.links import Links
from mozci_monitor.core.search import confidence_text
from mozci_monitor.notify.model import Cell, Link, Notification, Table

MAX_ROWS = 15  # a chat message, not a report: the newest rows of a long range


def campaign_notification(key: str, campaign: Campaign, links: Links) -> Notification:
    push = campaign.push
    table = answer_table(campaign, links)
    places = key_links(campaign, links)
    return Notification(
        key=key,
        campaign_id=campaign.campaign_id,
        kind=campaign.kind.value,
        outcome=campaign.state.value,
        title=answer_sentence(campaign),
        text=plain_body(table, places),
        details={
            "campaign": campaign.campaign_id,
            "kind": campaign.kind.value,
            "state": campaign.state.value,
            "outcome": campaign.outcome,
            "repo": push.repo,
            "revision": push.revision,
            "task_group_id": push.task_group_id,
            "label": campaign.label,
            "summary": dict(campaign.summary),
            "actions": campaign.actions,
            "url": links.push(push.repo, push.revision),
        },
        table=table,
        links=places,
    )


# -- the sentence ---------------------------------------------------------------------------


def answer_sentence(campaign: Campaign) -> str:
    """The answer, in one line (also the mail subject and the chat headline)."""
    where = f"{campaign.push.repo} {campaign.push.revision[:12]}"
    outcome = campaign.outcome or campaign.state.value
    name = campaign.kind.value.capitalize()
    subject = campaign.label or ("every build" if campaign.kind is CampaignKind.DOWNSTREAM else "")
    of = f" of {subject}" if subject else ""
    if campaign.state is CampaignState.CANCELED:
        return f"{name}{of} on {where} was canceled: {outcome}"
    answer = _answer(campaign)
    if campaign.kind is CampaignKind.BACKFILL and answer is not None:
        sentence = _backfill_sentence(campaign, answer)
    elif campaign.kind is CampaignKind.BISECT and answer is not None:
        sentence = _bisect_sentence(campaign, answer)
    elif campaign.kind is CampaignKind.UNTIL_FAIL and answer is not None:
        sentence = _until_fail_sentence(campaign, answer, where)
    elif campaign.kind is CampaignKind.CONFIRM and campaign.state is CampaignState.FINISHED:
        sentence = f"{campaign.label} on {where}: {outcome}"
    elif campaign.kind in (CampaignKind.DOWNSTREAM, CampaignKind.FILL) and (
        campaign.state is CampaignState.FINISHED
    ):
        added = list(campaign.summary.get("added") or ())
        if added:
            jobs = _plural(len(added), "missing job")
            sentence = f"{name}{of} on {where}: {jobs} scheduled, all ran as wanted"
        else:
            sentence = f"{name}{of} on {where}: nothing was missing"
    elif campaign.state is CampaignState.FINISHED:
        sentence = f"{name}{of} on {where} done: {outcome}"
    else:
        verb = "gave up" if campaign.state is CampaignState.GAVE_UP else "failed"
        sentence = f"{name}{of} on {where} {verb}: {outcome}"
    if campaign.state is CampaignState.GAVE_UP and "gave up" not in sentence:
        sentence += " (gave up: a budget ran out)"
    return " ".join(sentence.split())


def _answer(campaign: Campaign) -> Mapping[str, Any] | None:
    answer = campaign.summary.get("answer")
    return answer if isinstance(answer, Mapping) else None


def _backfill_sentence(campaign: Campaign, answer: Mapping[str, Any]) -> str:
    label, repo = campaign.label or "the label", campaign.push.repo
    if answer.get("strategy") == "search":
        return _search_sentence(label, repo, answer)
    last_good, first_bad = answer.get("last_good"), answer.get("first_bad")
    if isinstance(first_bad, Mapping) and isinstance(last_good, Mapping):
        return f"{label} first fails at {_push(first_bad)} on {repo}; last good {_push(last_good)}"
    if isinstance(last_good, Mapping):
        return f"{label} on {repo}: last good {_push(last_good)}, no failing push after it"
    pushes = len(answer.get("pushes") or ())
    earliest = f"; earliest failure {_push(first_bad)}" if isinstance(first_bad, Mapping) else ""
    return f"{label} never passed in the {_plural(pushes, 'push')} analysed on {repo}{earliest}"


def _search_sentence(label: str, repo: str, answer: Mapping[str, Any]) -> str:
    """A search's culprit with its confidence and what was checked, or "cannot tell"."""
    culprit, good = answer.get("first_worse"), answer.get("last_good")
    runs = _plural(int(answer.get("tasks") or 0), "run")
    if not isinstance(culprit, Mapping) or not isinstance(good, Mapping):
        return f"{label}: cannot tell on {repo} after {runs}: {answer.get('reason')}"
    confidence = float(culprit.get("confidence") or 0.0)
    reproduces = (
        "still fails at the newest push analysed"
        if answer.get("reproduces_at_newest")
        else "did not fail again at the newest push analysed"
    )
    backout = answer.get("backed_out_by")
    already = f"; already backed out by {_push(backout)}" if isinstance(backout, Mapping) else ""
    return (
        f"{label} first fails at {_push(culprit)} on {repo}; last good {_push(good)}"
        f" (confidence {confidence_text(confidence)}, {runs}; {reproduces}){already}"
    )


def _bisect_sentence(campaign: Campaign, answer: Mapping[str, Any]) -> str:
    label, repo = campaign.label or "the label", campaign.push.repo
    rows = list(answer.get("revisions") or ())
    change = answer.get("first_worse")
    if answer.get("strategy") == "search":
        return _search_sentence(label, repo, answer)
    if not isinstance(change, Mapping):
        pushes = _plural(len(rows), "push")
        return f"{label}: no significant rise of the failure rate over {pushes} on {repo}"
    split = next(
        (i for i, row in enumerate(rows) if row.get("push_id") == change.get("push_id")), None
    )
    rise = ""
    if split is not None:
        before, after = _rate(rows[:split]), _rate(rows[split:])
        if before is not None and after is not None:
            rise = f" from {before:.0%} to {after:.0%}"
    return (
        f"{label}: the failure rate rises at {_push(change)} on {repo}{rise}"
        f" (z={change.get('z')}, p={change.get('p')})"
    )


def _until_hit_sentence(
    campaign: Campaign, answer: Mapping[str, Any], label: str, where: str
) -> str:
    signature, runs = answer.get("signature"), int(answer.get("runs") or 0)
    others = sum(int(n) for n in (answer.get("other_failures") or {}).values())
    seen = f"{_plural(others, 'other failure')} seen" if others else "no other failure"
    hit = answer.get("hit")
    if campaign.state is CampaignState.FINISHED and isinstance(hit, Mapping):
        return (
            f"{signature} hit on run {runs} of {label} on {where} ({seen}):"
            f" task {hit.get('task_id')}"
        )
    if campaign.state is CampaignState.FINISHED:
        return f"{signature} not hit in {_plural(runs, 'run')} of {label} on {where} ({seen})"
    verb = "gave up" if campaign.state is CampaignState.GAVE_UP else "failed"
    return (
        f"Until-fail of {signature} on {label} on {where} {verb} after"
        f" {_plural(runs, 'run')}: {campaign.outcome or campaign.state.value}"
    )


def _until_fail_sentence(campaign: Campaign, answer: Mapping[str, Any], where: str) -> str:
    label = campaign.label or "the label"
    if "signature" in answer:
        return _until_hit_sentence(campaign, answer, label, where)
    green, orange = int(answer.get("green") or 0), int(answer.get("orange") or 0)
    failed_task = answer.get("failed_task")
    if campaign.state is CampaignState.FINISHED and failed_task:
        return (
            f"{label} failed on run {green + orange} on {where}"
            f" ({_plural(green, 'green run')} before it): task {failed_task}"
        )
    if campaign.state is CampaignState.FINISHED:
        return f"{label} did not fail in {_plural(green + orange, 'run')} on {where}"
    verb = "gave up" if campaign.state is CampaignState.GAVE_UP else "failed"
    return (
        f"Until-fail of {label} on {where} {verb} after {_plural(green, 'green run')}:"
        f" {campaign.outcome or campaign.state.value}"
    )


def _push(entry: Mapping[str, Any]) -> str:
    return f"{str(entry.get('revision', ''))[:12]} (push {entry.get('push_id')})"


def _rate(rows: Sequence[Mapping[str, Any]]) -> float | None:
    runs = sum(int(row.get("runs") or 0) for row in rows)
    failures = sum(int(row.get("failures") or 0) for row in rows)
    return failures / runs if runs else None


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith("sh") else f"{count} {noun}s"


# -- the table and the links ----------------------------------------------------------------


def answer_table(campaign: Campaign, links: Links) -> Table | None:
    answer = _answer(campaign)
    repo = campaign.push.repo
    if campaign.kind is CampaignKind.BACKFILL and answer is not None:
        marks = {}
        for name, text in (("last_good", "last good"), ("first_bad", "first bad")):
            if isinstance(answer.get(name), Mapping):
                marks[answer[name].get("push_id")] = text
        rows: list[tuple[Cell, ...]] = [
            (
                str(p.get("push_id")),
                Link(str(p.get("revision", ""))[:12], links.push(repo, str(p.get("revision")))),
                str(p.get("verdict", ""))
                + (f" ({marks[p.get('push_id')]})" if p.get("push_id") in marks else ""),
                str(p.get("green", 0)),
                str(p.get("orange", 0)),
            )
            for p in answer.get("pushes") or ()
        ]
        return Table(("push", "revision", "verdict", "green", "orange"), tuple(rows[-MAX_ROWS:]))
    if campaign.kind is CampaignKind.BISECT and answer is not None:
        change = answer.get("first_worse")
        change_id = change.get("push_id") if isinstance(change, Mapping) else None
        rows = []
        for row in answer.get("revisions") or ():
            runs = int(row.get("runs") or 0)
            low, high = (row.get("interval") or [0.0, 1.0])[:2]
            rate = f"{row['rate']:.0%}" if row.get("rate") is not None else "-"
            mark = " (rises here)" if row.get("push_id") == change_id else ""
            rows.append(
                (
                    str(row.get("push_id")),
                    Link(
                        str(row.get("revision", ""))[:12],
                        links.push(repo, str(row.get("revision"))),
                    ),
                    str(runs),
                    str(row.get("failures", 0)),
                    rate + mark,
                    f"{low:.0%} to {high:.0%}" if runs else "-",
                )
            )
        columns = ("push", "revision", "runs", "failed", "rate", "95% interval")
        return Table(columns, tuple(rows[-MAX_ROWS:]))
    if campaign.kind is CampaignKind.UNTIL_FAIL and answer is not None and "signature" in answer:
        return _until_hit_table(answer, links)
    if campaign.kind is CampaignKind.CONFIRM and answer is not None:
        return _confirm_table(campaign, answer, links)
    if campaign.kind is CampaignKind.UNTIL_FAIL and answer is not None:
        green, orange = int(answer.get("green") or 0), int(answer.get("orange") or 0)
        failed_task = answer.get("failed_task")
        task: Cell = Link(str(failed_task), links.task(str(failed_task))) if failed_task else "none"
        return Table(
            ("runs", "green", "orange", "failing task"),
            ((str(green + orange), str(green), str(orange), task),),
        )
    states = campaign.summary.get("states")
    if isinstance(states, Mapping) and states:
        rows = [(str(state), str(count)) for state, count in states.items()]
        return Table(("requests", "count"), tuple(rows))
    return None


def _until_hit_table(answer: Mapping[str, Any], links: Links) -> Table:
    """The runs spent by the signature, then each other failure seen with its count."""
    hit = answer.get("hit")
    task: Cell = "none"
    if isinstance(hit, Mapping):
        task = Link(str(hit.get("task_id")), links.task(str(hit.get("task_id"))))
    rows: list[tuple[Cell, ...]] = [
        ("runs", str(answer.get("runs", 0))),
        ("passed the test", str(answer.get("passes", 0))),
        ("without the test", str(answer.get("missing", 0))),
        ("run that hit", task),
    ]
    others = answer.get("other_failures") or {}
    ranked = sorted(others.items(), key=lambda item: (-int(item[1]), str(item[0])))
    rows.extend((f"other: {name}", str(count)) for name, count in ranked[:MAX_ROWS])
    return Table(("", str(answer.get("signature"))), tuple(rows))


def _confirm_table(campaign: Campaign, answer: Mapping[str, Any], links: Links) -> Table:
    """One row per test: its answer, how many runs ran it and failed it, and the run that
    decided (the first that failed it, else the first that passed it)."""
    push = campaign.push
    rows: list[tuple[Cell, ...]] = []
    for test in answer.get("tests") or ():
        decided = test.get("decided_by")
        run: Cell = "-"
        if isinstance(decided, Mapping):
            task_id, run_id = str(decided.get("task_id")), int(decided.get("run_id") or 0)
            run = Link(task_id, links.task_run(push.repo, push.revision, task_id, run_id))
        rows.append(
            (
                str(test.get("test")),
                str(test.get("answer")),
                str(test.get("runs", 0)),
                str(test.get("failed", 0)),
                run,
            )
        )
    return Table(("test", "answer", "runs", "failed", "decided by"), tuple(rows[:MAX_ROWS]))


def key_links(campaign: Campaign, links: Links) -> tuple[Link, ...]:
    push = campaign.push
    found = [Link("push in Treeherder", links.push(push.repo, push.revision))]
    answer = _answer(campaign) or {}
    for name, text in (
        ("first_bad", "first bad push in Treeherder"),
        ("first_worse", "push where the rate rises, in Treeherder"),
    ):
        entry = answer.get(name)
        if isinstance(entry, Mapping) and entry.get("revision"):
            found.append(Link(text, links.push(push.repo, str(entry["revision"]))))
    failed_task = answer.get("failed_task")
    if failed_task and campaign.kind is CampaignKind.CONFIRM:
        run = int(answer.get("run") or 0)
        found.append(
            Link(
                "the failing run in Treeherder",
                links.task_run(push.repo, push.revision, str(failed_task), run),
            )
        )
    if failed_task:
        found.append(Link("failing task in Taskcluster", links.task(str(failed_task))))
    hit = answer.get("hit")
    if isinstance(hit, Mapping) and hit.get("task_id"):
        task_id, run = str(hit["task_id"]), int(hit.get("run_id") or 0)
        found.append(
            Link("the run in Treeherder", links.task_run(push.repo, push.revision, task_id, run))
        )
        found.append(Link("its log", links.task_log(task_id, run)))
    found.append(Link("task group in Taskcluster", links.task_group(push.task_group_id)))
    return tuple(found)


def plain_body(table: Table | None, places: Sequence[Link]) -> str:
    """The table as aligned columns, then one line per link (for mail and logs)."""
    lines: list[str] = []
    if table is not None:
        grid = [list(table.columns)] + [[_text(cell) for cell in row] for row in table.rows]
        widths = [max(len(row[i]) for row in grid) for i in range(len(table.columns))]
        lines.extend(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in grid
        )
        lines.append("")
    lines.extend(f"{place.text}: {place.url}" for place in places)
    return "\n".join(lines)


def _text(cell: Cell) -> str:
    return cell.text if isinstance(cell, Link) else cell
