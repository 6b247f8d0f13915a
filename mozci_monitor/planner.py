"""Turns a sheriff's question into a campaign: which pushes, which requests, what is known.

Planning reads the sources — the pushlog for the range, the index for each push's decision
task, the queue for what already ran — analysing the revisions concurrently within the
sources' throttles, logging each revision's summary newest first as soon as it is known.
The daemon then watches the requests it returns like any other.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from mozci_monitor.core import sheriff
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.core.sheriff import PushResult, Verdict, verdict_of
from mozci_monitor.sources import NotFound, SourceError, analyse_revisions
from mozci_monitor.sources.models import Push as HgPush
from mozci_monitor.sources.models import TaskGroupMember

log = structlog.get_logger(__name__)

_OPEN_STATES = frozenset({"unscheduled", "pending", "running"})


class PlanError(ValueError):
    """The campaign cannot be planned (unknown revision, nothing to analyse)."""


class Pushlog(Protocol):
    async def pushes(
        self, repo: str, first_id: int, last_id: int, *, full: bool = False
    ) -> list[HgPush]: ...
    async def push_for_revision(
        self, repo: str, revision: str, *, full: bool = False
    ) -> HgPush: ...


class Queue(Protocol):
    async def find_decision_task(self, repo: str, revision: str) -> str: ...
    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]: ...


@dataclass(frozen=True)
class Analysed:
    push: HgPush
    task_group_id: str | None
    result: PushResult


@dataclass(frozen=True)
class Plan:
    campaign: Campaign
    requests: tuple[Request, ...]
    analysed: tuple[Analysed, ...] = ()


def new_campaign_id() -> str:
    return "c-" + secrets.token_hex(5)


async def analyse_range(
    queue: Queue, repo: str, label: str, pushes: Sequence[HgPush]
) -> list[Analysed]:
    """What each push says about `label`, concurrently; oldest first."""

    async def analyse_one(push: HgPush) -> Analysed:
        note = "merge" if _is_merge(push) else ""
        try:
            group = await queue.find_decision_task(repo, push.revision)
        except NotFound:
            skipped = PushResult(push.id, push.revision, Verdict.SKIPPED, note="no decision task")
            return Analysed(push, None, skipped)
        members = [m for m in await queue.list_task_group(group) if m.label == label]
        green = sum(1 for m in members if m.status.state == "completed")
        orange = sum(1 for m in members if m.status.state == "failed")
        open_runs = sum(1 for m in members if m.status.state in _OPEN_STATES)
        verdict = verdict_of(green, orange, open_runs, len(members))
        return Analysed(
            push, group, PushResult(push.id, push.revision, verdict, green, orange, note)
        )

    def summary(push: HgPush, analysed: Analysed) -> None:
        result = analysed.result
        log.info(
            "revision analysed",
            push=push.id,
            revision=push.revision[:12],
            label=label,
            verdict=result.verdict.value,
            green=result.green,
            orange=result.orange,
            note=result.note or None,
        )

    def on_error(push: HgPush, error: BaseException) -> None:
        log.warning(
            "revision not analysed", push=push.id, revision=push.revision[:12], error=str(error)
        )

    outcomes = await analyse_revisions(pushes, analyse_one, log=_logger(summary, on_error))
    analysed: list[Analysed] = []
    for outcome in outcomes:
        if outcome.summary is not None:
            analysed.append(outcome.summary)
        else:
            push = outcome.push
            failed = PushResult(push.id, push.revision, Verdict.SKIPPED, note=str(outcome.error))
            analysed.append(Analysed(push, None, failed))
    return sorted(analysed, key=lambda a: a.push.id)


async def plan_backfill(
    pushlog: Pushlog,
    queue: Queue,
    *,
    repo: str,
    revision: str,
    label: str,
    max_revisions: int = 20,
    times: int = 1,
    max_actions: int = 3,
    campaign_budget: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """Find the last push where `label` passed before `revision`, fill the pushes after it."""
    failing = await _push(pushlog, repo, revision)
    first = max(1, failing.id - max_revisions)
    earlier = (
        await pushlog.pushes(repo, first, failing.id - 1, full=True) if first < failing.id else []
    )
    analysed = await analyse_range(queue, repo, label, [*earlier, failing])
    by_id = {a.push.id: a for a in analysed}
    failing_result = by_id[failing.id]
    if failing_result.task_group_id is None:
        raise PlanError(f"{revision[:12]} has no decision task: nothing to backfill from")
    newest_first = [
        a.result for a in sorted(analysed, key=lambda a: -a.push.id) if a.push.id != failing.id
    ]
    last_good_index, to_fill = sheriff.plan_backfill(newest_first)
    campaign_id = new_campaign_id()
    window_start = newest_first[last_good_index].push_id if last_good_index is not None else first
    requests: list[Request] = []
    entries: list[dict[str, Any]] = []
    fill_ids = {p.push_id for p in to_fill}
    for item in analysed:
        if item.push.id < window_start:
            continue
        entry = _entry(item)
        if item.push.id in fill_ids and item.task_group_id is not None:
            request = _request(campaign_id, repo, item, label, times, max_actions)
            requests.append(request)
            entry["request_id"] = request.request_id
        entries.append(entry)
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.BACKFILL,
        push=Push(repo, failing.revision, failing_result.task_group_id),
        label=label,
        params={
            "times": times,
            "max_revisions": max_revisions,
            "pushes": entries,
            "skipped": [_entry(a) for a in analysed if a.result.verdict is Verdict.SKIPPED],
        },
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    log.info(
        "backfill planned",
        campaign=campaign_id,
        label=label,
        last_good=newest_first[last_good_index].revision[:12]
        if last_good_index is not None
        else None,
        pushes_to_fill=len(requests),
    )
    return Plan(campaign, tuple(requests), tuple(analysed))


async def plan_bisect(
    pushlog: Pushlog,
    queue: Queue,
    *,
    repo: str,
    revision: str,
    label: str,
    first_revision: str | None = None,
    max_revisions: int = 10,
    times: int = 10,
    max_actions: int = 3,
    campaign_budget: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """T runs of `label` on every push of a range (existing runs count), to compare rates."""
    last = await _push(pushlog, repo, revision)
    if first_revision:
        first_id = (await _push(pushlog, repo, first_revision)).id
    else:
        first_id = max(1, last.id - max_revisions + 1)
    if first_id > last.id:
        raise PlanError("the first revision comes after the last one")
    earlier = (
        await pushlog.pushes(repo, first_id, last.id - 1, full=True) if first_id < last.id else []
    )
    analysed = await analyse_range(queue, repo, label, [*earlier, last])
    campaign_id = new_campaign_id()
    requests: list[Request] = []
    entries: list[dict[str, Any]] = []
    for item in analysed:
        entry = _entry(item)
        if item.task_group_id is not None:
            request = _request(campaign_id, repo, item, label, times, max_actions)
            requests.append(request)
            entry["request_id"] = request.request_id
        entries.append(entry)
    if not requests:
        raise PlanError("no push of the range has a decision task")
    last_group = next(a.task_group_id for a in reversed(analysed) if a.task_group_id)
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.BISECT,
        push=Push(repo, last.revision, last_group),
        label=label,
        params={"times": times, "pushes": entries},
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    return Plan(campaign, tuple(requests), tuple(analysed))


def plan_until_fail(
    push: Push,
    *,
    label: str,
    batch: int = 5,
    budget: int = 50,
    cancel_on_fail: bool = True,
    campaign_budget: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """Retrigger `label` in batches of `batch` until a run fails or `budget` runs ran."""
    campaign_id = new_campaign_id()
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=label,
        wanted=budget,
        remedy=RemedyPolicy.UNTIL_FAIL,
        batch=batch,
        cancel_on_fail=cancel_on_fail,
        # One retrigger per batch, plus room for a rerun or two of infrastructure failures.
        max_actions=math.ceil(budget / batch) + 3,
    )
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.UNTIL_FAIL,
        push=push,
        label=label,
        params={"batch": batch, "budget": budget, "cancel_on_fail": cancel_on_fail},
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    return Plan(campaign, (request,))


def plan_fill(
    push: Push,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_actions: int = 3,
    campaign_budget: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """Schedule every job of the push's full graph that did not run (filtered)."""
    for pattern in (*include, *exclude):
        try:
            re.compile(pattern)
        except re.error as error:
            raise PlanError(f"bad pattern {pattern!r}: {error}") from None
    campaign = Campaign(
        campaign_id=new_campaign_id(),
        kind=CampaignKind.FILL,
        push=push,
        params={
            "include": list(include),
            "exclude": list(exclude),
            "max_actions_per_request": max_actions,
        },
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    return Plan(campaign, ())


async def _range(pushlog: Pushlog, repo: str, first: int, last: int) -> list[HgPush]:
    if first > last:
        return []
    return await pushlog.pushes(repo, first, last, full=True)


async def _push(pushlog: Pushlog, repo: str, revision: str) -> HgPush:
    try:
        return await pushlog.push_for_revision(repo, revision, full=True)
    except NotFound:
        raise PlanError(f"{repo} has no push with revision {revision}") from None
    except SourceError as error:
        raise PlanError(f"cannot read the pushlog of {repo}: {error}") from None


def _request(
    campaign_id: str, repo: str, item: Analysed, label: str, times: int, max_actions: int
) -> Request:
    assert item.task_group_id is not None
    return Request(
        request_id=f"{campaign_id}-p{item.push.id}",
        push=Push(repo, item.push.revision, item.task_group_id),
        label=label,
        wanted=times,
        remedy=RemedyPolicy.WATCH,
        max_actions=max_actions,
    )


def _entry(item: Analysed) -> dict[str, Any]:
    result = item.result
    entry: dict[str, Any] = {
        "push_id": item.push.id,
        "revision": item.push.revision,
        "task_group_id": item.task_group_id,
        "verdict": result.verdict.value,
        "green": result.green,
        "orange": result.orange,
    }
    if result.note:
        entry["note"] = result.note
    return entry


def _is_merge(push: HgPush) -> bool:
    return any((c.desc or "").lower().startswith("merge") for c in push.changesets)


def _logger(summary: Any, on_error: Any) -> Any:
    """analyse_revisions calls `log(outcome)`; route summaries and errors."""

    def emit(outcome: Any) -> None:
        if outcome.summary is not None:
            summary(outcome.push, outcome.summary)
        else:
            on_error(outcome.push, outcome.error)

    return emit
