"""Turns a sheriff's question into a campaign: which pushes, which requests, what is known.

Planning reads the sources — the pushlog for the range, the index for each push's decision
task, the queue for what already ran — analysing the revisions concurrently within the
sources' throttles, logging each revision's summary newest first as soon as it is known.
The daemon then watches the requests it returns like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any, Protocol

import structlog

from mozci_monitor.core import sheriff
from mozci_monitor.core.backout import backouts_in
from mozci_monitor.core.by_signature import signature_to_json
from mozci_monitor.core.campaign import (
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    Campaign,
    CampaignKind,
    new_campaign_id,
)
from mozci_monitor.core.confirm import confirm_label, failing_tests, has_confirm_variant
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.kinds import (
    DEFAULT_TASKS_PER_REQUEST,
    AnyParams,
    BackfillParams,
    BisectParams,
    Budgets,
    CampaignParams,
    ConfirmParams,
    DownstreamParams,
    FillParams,
    UntilFailParams,
    WatchParams,
    confirm,
    downstream,
    fill,
    until_fail,
    watch,
)
from mozci_monitor.core.kinds._signature import check_signature, failure_signature
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.core.search import Strategy
from mozci_monitor.core.sheriff import PushResult, Verdict, verdict_of
from mozci_monitor.core.signature import FailureSignature, SignatureKind
from mozci_monitor.ports.sources import (
    HgPush,
    NotFound,
    Pushlog,
    Queue,
    ResultsSource,
    SourceError,
    analyse_revisions,
)
from mozci_monitor.submissions import compile_user_pattern

# Runs per push a backfill search may spend at most (mozci's backfill asks 5).
SEARCH_BACKFILL_TIMES = 5

log = structlog.get_logger(__name__)

_OPEN_STATES = frozenset({"unscheduled", "pending", "running"})


class PlanError(SubmissionError):
    """The campaign cannot be planned (unknown revision, nothing to analyse)."""


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


class PlanSources(Protocol):
    """What planning reads: the queue and index, the pushlog and a task's test results
    (None: not configured)."""

    @property
    def taskcluster(self) -> Queue: ...
    @property
    def pushlog(self) -> Pushlog | None: ...
    @property
    def results(self) -> ResultsSource | None: ...


def _default(params: type[CampaignParams], name: str) -> Any:
    """A parameter's default, as the kind's module states it."""
    (item,) = (item for item in fields(params) if item.name == name)
    assert item.default is not MISSING, name
    return item.default


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
    max_revisions: int = _default(BackfillParams, "max_revisions"),
    times: int = _default(BackfillParams, "times"),
    max_actions: int = DEFAULT_TASKS_PER_REQUEST,
    campaign_budget: int | None = None,
    dry_run: bool = False,
    backfill_action: bool = True,
    strategy: str = Strategy.SWEEP.value,
    test: str | None = None,
    signature: str | None = None,
) -> Plan:
    """Find the last push where `label` passed before `revision`, fill the pushes after it.

    `backfill_action=False`: fill with add-new-jobs per push instead of gecko's backfill.
    `strategy="search"` (a submission's default; callers in code say which they want):
    no request yet, the campaign samples the pushes after the last good one found here
    (or the whole window) itself (core/kinds/_search.py).
    With `test` or `signature`, every push after the last green one is judged by the
    signature's test results: the pushes where the label ran orange keep their runs (an
    orange for another test may have passed the signature), the others are filled, through
    the backfill action's `testPath` when the signature names a test or a manifest.
    """
    check_signature(test, signature)
    judged_by = failure_signature(test, signature)
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
    last_good_id = newest_first[last_good_index].push_id if last_good_index is not None else None
    window_start = first if last_good_id is None else last_good_id
    if strategy == Strategy.SEARCH:
        return _search_backfill(
            campaign_id,
            analysed,
            window_start,
            failing,
            repo=repo,
            label=label,
            times=times,
            max_actions=max_actions,
            campaign_budget=campaign_budget,
            dry_run=dry_run,
            judging=_judging(judged_by),
        )
    requests: list[Request] = []
    entries: list[dict[str, Any]] = []
    fill_ids = {p.push_id for p in to_fill}
    # Through gecko's backfill action when its limits allow: one action on the failing
    # push reaches every push to fill (`-bk` tasks, original manifests). The actuator
    # falls back to add-new-jobs per push when the push does not offer it.
    depth = failing.id - min(fill_ids) if fill_ids else 0
    via_backfill = (
        backfill_action and 0 < depth <= BACKFILL_MAX_DEPTH and times <= BACKFILL_MAX_TIMES
    )
    for item in analysed:
        if item.push.id < window_start:
            continue
        entry = _entry(item)
        # Judged by a signature, a push that ran the label orange is judged by its runs'
        # test results too (the last good push and the failing one are the ends).
        ran_orange = (
            judged_by is not None
            and item.result.verdict is Verdict.FAILED
            and item.push.id not in (last_good_id, failing.id)
        )
        if (item.push.id in fill_ids or ran_orange) and item.task_group_id is not None:
            request = _request(campaign_id, repo, item, label, times, max_actions)
            if via_backfill and item.push.id in fill_ids:
                request = replace(request, expected_new=times)  # the backfill brings them
            request = replace(request, judge_by_results=judged_by is not None)
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
            **({"backfill_depth": depth} if via_backfill and requests else {}),
            **_judging(judged_by),
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


def _search_backfill(
    campaign_id: str,
    analysed: Sequence[Analysed],
    window_start: int,
    failing: HgPush,
    *,
    repo: str,
    label: str,
    times: int,
    max_actions: int,
    campaign_budget: int | None,
    dry_run: bool,
    judging: Mapping[str, Any],
) -> Plan:
    window = [a for a in analysed if a.push.id >= window_start]
    failing_group = next(a.task_group_id for a in window if a.push.id == failing.id)
    assert failing_group is not None
    entries = [_with_history(_entry(a), a) for a in window]
    found = _judge_found_runs(campaign_id, repo, label, window, entries, judging, max_actions)
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.BACKFILL,
        push=Push(repo, failing.revision, failing_group),
        label=label,
        params={
            "strategy": Strategy.SEARCH.value,
            "times": times,
            "max_actions": max_actions,
            "pushes": entries,
            "skipped": [_entry(a) for a in analysed if a.result.verdict is Verdict.SKIPPED],
            # One run per push is what a fill asks; a search needs a few where it samples,
            # at most what mozci's backfill spends (5 per push).
            "search": {"budget": max(times, SEARCH_BACKFILL_TIMES) * len(window)},
            **judging,
        },
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    log.info("backfill planned", campaign=campaign_id, label=label, strategy=Strategy.SEARCH.value)
    return Plan(campaign, found, tuple(analysed))


def _judge_found_runs(
    campaign_id: str,
    repo: str,
    label: str,
    analysed: Sequence[Analysed],
    entries: list[dict[str, Any]],
    judging: Mapping[str, Any],
    max_actions: int,
) -> tuple[Request, ...]:
    """A search judged by a signature counts a push's runs by their test results, and only
    a request's runs are judged: each push where planning found runs of the label (an
    orange one may have passed the test, a green one did) gets a request that adopts them
    and wants no more, so the search counts them from its first decision, as a sweep does
    (and its answer's tasks count them too). Sets each such entry's `request_id`."""
    if not judging:
        return ()
    requests = []
    for item, entry in zip(analysed, entries, strict=True):
        found = item.result.green + item.result.orange
        if item.task_group_id is None or not found:
            continue
        request = replace(
            _request(campaign_id, repo, item, label, found, max_actions),
            request_id=f"{campaign_id}-p{item.push.id}-found",
            judge_by_results=True,
        )
        requests.append(request)
        entry["request_id"] = request.request_id
    return tuple(requests)


async def plan_bisect(
    pushlog: Pushlog,
    queue: Queue,
    *,
    repo: str,
    revision: str,
    label: str,
    first_revision: str | None = None,
    max_revisions: int = _default(BisectParams, "max_revisions"),
    times: int = _default(BisectParams, "times"),
    strategy: str = Strategy.SWEEP.value,
    max_actions: int = DEFAULT_TASKS_PER_REQUEST,
    campaign_budget: int | None = None,
    dry_run: bool = False,
    test: str | None = None,
    signature: str | None = None,
) -> Plan:
    """T runs of `label` on every push of a range (existing runs count), to compare rates;
    or, with `strategy="search"` (a submission's default), no request yet: the campaign
    asks for each batch itself (core/kinds/_search.py), starting from the runs found here.
    With `test` or `signature`: the rates of that signature, judged by test results."""
    check_signature(test, signature)
    judged_by = failure_signature(test, signature)
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
    sweep = strategy == Strategy.SWEEP
    for item in analysed:
        entry = _entry(item) if sweep else _with_history(_entry(item), item)
        if item.task_group_id is not None and sweep:
            request = _request(campaign_id, repo, item, label, times, max_actions)
            request = replace(request, judge_by_results=judged_by is not None)
            requests.append(request)
            entry["request_id"] = request.request_id
        entries.append(entry)
    if not sweep:
        judging = _judging(judged_by)
        found = _judge_found_runs(campaign_id, repo, label, analysed, entries, judging, max_actions)
        requests.extend(found)
    if not any(item.task_group_id for item in analysed):
        raise PlanError("no push of the range has a decision task")
    last_group = next(a.task_group_id for a in reversed(analysed) if a.task_group_id)
    params: dict[str, Any] = {
        "times": times,
        "pushes": entries,
        "strategy": strategy,
        **_judging(judged_by),
    }
    if strategy == Strategy.SEARCH:
        params["max_actions"] = max_actions
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.BISECT,
        push=Push(repo, last.revision, last_group),
        label=label,
        params=params,
        max_actions=campaign_budget,
        dry_run=dry_run,
    )
    return Plan(campaign, tuple(requests), tuple(analysed))


def plan_until_fail(
    push: Push,
    *,
    label: str,
    batch: int = _default(UntilFailParams, "batch"),
    budget: int = _default(UntilFailParams, "budget"),
    cancel_on_fail: bool = True,
    campaign_budget: int | None = None,
    dry_run: bool = False,
    test: str | None = None,
    signature: str | None = None,
) -> Plan:
    """Retrigger `label` in batches of `batch` until a run fails or `budget` runs ran
    (with `test` or `signature`: until a run's test results hit it)."""
    params = UntilFailParams(
        repo=push.repo,
        revision=push.revision,
        task_group=push.task_group_id,
        label=label,
        batch=batch,
        budget=budget,
        keep_pending=not cancel_on_fail,
        campaign_budget=campaign_budget,
        dry_run=dry_run,
        test=test,
        signature=signature,
    )
    params.check()
    campaign, requests = until_fail.build(
        params, push, new_campaign_id(), Budgets(per_request=0, per_campaign=campaign_budget)
    )
    return Plan(campaign, tuple(requests))


def plan_fill(
    push: Push,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_actions: int = DEFAULT_TASKS_PER_REQUEST,
    campaign_budget: int | None = None,
    dry_run: bool = False,
) -> Plan:
    """Schedule every job of the push's full graph that did not run (filtered)."""
    for name, patterns in (("include", include), ("exclude", exclude)):
        for pattern in patterns:
            try:
                compile_user_pattern(pattern, name)
            except SubmissionError as error:
                raise PlanError(f"bad pattern {pattern!r}: {error}") from None
    params = FillParams(
        repo=push.repo,
        revision=push.revision,
        task_group=push.task_group_id,
        include=tuple(include),
        exclude=tuple(exclude),
        dry_run=dry_run,
    )
    campaign, requests = fill.build(
        params, push, new_campaign_id(), Budgets(max_actions, campaign_budget)
    )
    return Plan(campaign, tuple(requests))


# -- one planner per campaign kind ------------------------------------------------------------

KindPlanner = Callable[[Any, PlanSources, Budgets], Awaitable[Plan]]


class SourcesMissing(PlanError):
    """This kind is planned from a source that is not configured."""


async def _plan_watch(params: WatchParams, sources: PlanSources, budgets: Budgets) -> Plan:
    campaign, requests = watch.build(params, new_campaign_id(), budgets)
    return Plan(campaign, tuple(requests))


async def _plan_downstream(
    params: DownstreamParams, sources: PlanSources, budgets: Budgets
) -> Plan:
    campaign, requests = downstream.build(params, new_campaign_id(), budgets)
    return Plan(campaign, tuple(requests))


async def _plan_backfill(params: BackfillParams, sources: PlanSources, budgets: Budgets) -> Plan:
    return await plan_backfill(
        _pushlog_of(sources, params),
        sources.taskcluster,
        repo=params.repo,
        revision=params.revision,
        label=params.label,
        max_revisions=params.max_revisions,
        times=params.times,
        max_actions=budgets.per_request,
        campaign_budget=budgets.per_campaign,
        dry_run=params.dry_run,
        strategy=params.strategy,
        test=params.test,
        signature=params.signature,
    )


async def _plan_bisect(params: BisectParams, sources: PlanSources, budgets: Budgets) -> Plan:
    return await plan_bisect(
        _pushlog_of(sources, params),
        sources.taskcluster,
        repo=params.repo,
        revision=params.revision,
        label=params.label,
        first_revision=params.from_revision,
        max_revisions=params.max_revisions,
        times=params.times,
        strategy=params.strategy,
        max_actions=budgets.per_request,
        campaign_budget=budgets.per_campaign,
        dry_run=params.dry_run,
        test=params.test,
        signature=params.signature,
    )


async def _plan_until_fail(params: UntilFailParams, sources: PlanSources, budgets: Budgets) -> Plan:
    push = await _looked_up_push(sources, params.repo, params.revision, params.task_group)
    campaign, requests = until_fail.build(params, push, new_campaign_id(), budgets)
    return Plan(campaign, tuple(requests))


async def _plan_fill(params: FillParams, sources: PlanSources, budgets: Budgets) -> Plan:
    push = await _looked_up_push(sources, params.repo, params.revision, params.task_group)
    campaign, requests = fill.build(params, push, new_campaign_id(), budgets)
    return Plan(campaign, tuple(requests))


FULL_TASK_GRAPH = "public/full-task-graph.json"


class _Refused(PlanError):
    """A confirm submission refused for its task: the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(f"task_id: {message}", field="task_id")


async def _plan_confirm(params: ConfirmParams, sources: PlanSources, budgets: Budgets) -> Plan:
    """Read the failing task (definition, status, its latest run's errorsummary) and the
    push's full graph: which tests gecko's confirm-failures would rerun, and whether the
    label has a `-cf` variant to rerun them in (else: retriggers)."""
    queue = sources.taskcluster
    push = await _looked_up_push(sources, params.repo, params.revision, None)
    task_id = params.task_id
    try:
        definition = await queue.task(task_id)
        status = await queue.status(task_id)
    except NotFound:
        raise _Refused(f"no task {task_id} in the queue") from None
    if definition.get("taskGroupId") != push.task_group_id:
        raise _Refused(
            f"task {task_id} is not of the push {params.revision[:12]}"
            f" (its group is {definition.get('taskGroupId')}, the push's {push.task_group_id})"
        )
    tags = definition.get("tags") or {}
    if tags.get("kind") != "test":
        raise _Refused(f"task {task_id} is not a test task (kind {tags.get('kind')!r})")
    last = status.last_run
    if last is None or last.state.value != "failed":
        state = "no run" if last is None else f"run {last.run_id} {last.state.value}"
        raise _Refused(f"task {task_id} has not failed ({state}): nothing to confirm")
    if params.run is not None and params.run != last.run_id:
        raise _Refused(
            f"run {params.run} is not the latest run of {task_id} ({last.run_id}):"
            " gecko's confirm-failures reads the latest run's errorsummary"
        )
    label = str((definition.get("metadata") or {}).get("name") or tags.get("label") or "")
    suite = str((definition.get("extra") or {}).get("suite") or "")
    found = None if sources.results is None else await sources.results(task_id)
    targets = () if found is None else failing_tests(found.summary, suite)
    if not targets:
        raise _Refused(
            f"the errorsummary of {task_id} names no failing test (known intermittents left"
            " out): gecko's action would only retrigger it; an until-fail campaign does that"
        )
    try:
        graph = await queue.artifact_json(push.task_group_id, FULL_TASK_GRAPH)
    except NotFound:
        raise _Refused(f"the push's decision task has no {FULL_TASK_GRAPH}") from None
    # gecko's action runs `<label>-cf` when the full graph has it (its transform gives one
    # to mochitest, reftest, xpcshell and web-platform suites).
    has_variant = isinstance(graph, Mapping) and confirm_label(label) in graph
    log.info(
        "confirm planned",
        task=task_id,
        label=label,
        tests=len(targets),
        via=confirm.VIA_CONFIRM_FAILURES if has_variant else confirm.VIA_RETRIGGERS,
        suite_has_variant=has_confirm_variant(suite),
    )
    failing = confirm.FailingTask(task_id, last.run_id, label, suite)
    campaign, requests = confirm.build(
        params,
        push,
        new_campaign_id(),
        budgets,
        failing=failing,
        targets=targets,
        has_confirm_variant=has_variant,
    )
    return Plan(campaign, tuple(requests))


PLANNERS: Mapping[CampaignKind, KindPlanner] = {
    CampaignKind.WATCH: _plan_watch,
    CampaignKind.DOWNSTREAM: _plan_downstream,
    CampaignKind.BACKFILL: _plan_backfill,
    CampaignKind.BISECT: _plan_bisect,
    CampaignKind.UNTIL_FAIL: _plan_until_fail,
    CampaignKind.FILL: _plan_fill,
    CampaignKind.CONFIRM: _plan_confirm,
}


async def plan_campaign(params: AnyParams, sources: PlanSources, budgets: Budgets) -> Plan:
    """The campaign and requests a submission asks for, planned by its kind's planner.

    Raises PlanError (SourcesMissing when a needed source is not configured), and lets
    the sources' NotFound / SourceError through.
    """
    return await PLANNERS[params.kind](params, sources, budgets)


def _pushlog_of(sources: PlanSources, params: CampaignParams) -> Pushlog:
    if sources.pushlog is None:
        raise SourcesMissing(
            f"{params.kind.value} campaigns are planned from the pushlog,"
            " which is not configured ([sources] hg_url)"
        )
    return sources.pushlog


async def _looked_up_push(
    sources: PlanSources, repo: str, revision: str, task_group: str | None
) -> Push:
    group = task_group or await sources.taskcluster.find_decision_task(repo, revision)
    return Push(repo, revision, group)


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


def _judging(signature: FailureSignature | None) -> dict[str, Any]:
    """A campaign's parameters for judging by `signature`; `test_path` pins the backfill
    action's runs to the test (or manifest) so every push runs the same one."""
    if signature is None:
        return {}
    params: dict[str, Any] = {"signature": signature_to_json(signature)}
    if signature.kind is SignatureKind.TEST:
        params["test_path"] = signature.group or signature.value
    elif signature.kind is SignatureKind.GROUP:
        params["test_path"] = signature.value
    return params


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


def _with_history(entry: dict[str, Any], item: Analysed) -> dict[str, Any]:
    """What a search's answer checks against the pushlog: the push's changesets, and
    those its descriptions say it backed out."""
    changesets = [c.node for c in item.push.changesets]
    descriptions = [c.desc or "" for c in item.push.changesets]
    backouts = backouts_in([(item.push.revision, descriptions)])
    entry = {**entry, "changesets": changesets}
    if backouts:
        entry["backs_out"] = list(backouts[0].backed_out)
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
