"""Applies parsed deliveries to the store through the core state machine.

This is the one place where the pure core meets durable state: every call runs inside one
store transaction, so a batch — its task records, request states, timeline entries and the
actions they call for (written to the outbox under their idempotency keys) — is either
entirely committed, and may then be acked, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from mozci_monitor.core.action_tasks import (
    DEFAULT_BOUNDS,
    Bounds,
    action_task_changed,
    action_task_created,
    check_bounds,
    remedy_failed,
    sized_off_tasks,
)
from mozci_monitor.core.actions import (
    CI_ACTION_KINDS,
    Action,
    Allowance,
    served_requests,
    sized_to,
    tasks_of,
)
from mozci_monitor.core.by_signature import (
    JUDGED,
    judge_run,
    judgement_key,
    judgement_to_json,
    judgements_in_order,
    signature_from_json,
    until_fail_progress,
)
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignDecision,
    CampaignKind,
    campaign_start_action,
    cancel_campaign,
    fail_campaign,
    progress_campaign,
    summarise,
)
from mozci_monitor.core.errorsummary import summary_from_json
from mozci_monitor.core.kinds import confirm
from mozci_monitor.core.machine import (
    OBSOLETE,
    OBSOLETE_BEHIND,
    Change,
    Decision,
    TaskUpdate,
    action_failed,
    cancel,
    check_missing,
    decide,
    matches,
    observe,
    retire_obsolete,
    signature_hit,
)
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import (
    EXCHANGE_PREFIX,
    ActionTask,
    FailureKind,
    RemedyPolicy,
    Request,
    RequestState,
    TaskEvent,
    TaskRecord,
    TimelineEntry,
)
from mozci_monitor.core.upstream import Upstream, judge_upstreams
from mozci_monitor.core.withdrawal import withdrawn
from mozci_monitor.patterns import re2_search
from mozci_monitor.ports.store import EngineStore, TaskResultsStore
from mozci_monitor.warm_index import ServingKey, WarmIndex
from mozci_monitor.working_set import WorkingSet

# Decisions in a row for one campaign in one transaction (a search adopting runs that exist).
MAX_GROWTH_ROUNDS = 50
# Campaigns over push ranges: once answered, their runs still open are obsolete.
RANGE_KINDS = frozenset({CampaignKind.BISECT, CampaignKind.BACKFILL})
# In a campaign's params: the obsolete runs cancelled so far (its summary's "cleanup").
OBSOLETE_CANCELLED = "obsolete_cancelled"


@dataclass
class BatchOutcome:
    applied: int = 0  # a watched task moved forward
    duplicates: int = 0  # already known (redelivery, or the same status twice)
    stale: int = 0  # behind what we know (out-of-order delivery)
    unwatched: int = 0  # no open request watches this task's group
    rejected: int = 0
    actions: int = 0  # new outbox entries
    changed_requests: dict[str, Request] = field(default_factory=dict)
    finished_campaigns: dict[str, Campaign] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)  # watched tasks whose label is unknown
    completed_tasks: list[TaskRecord] = field(default_factory=list)  # for downstream
    # (exchange, outcome) -> messages, outcome one of applied/duplicate/stale/unwatched/rejected
    by_exchange: dict[tuple[str, str], int] = field(default_factory=dict)

    def tally(self, exchange: str, outcome: str) -> None:
        key = (exchange, outcome)
        self.by_exchange[key] = self.by_exchange.get(key, 0) + 1

    @property
    def parsed(self) -> int:
        return self.applied + self.duplicates + self.stale + self.unwatched

    def add(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.stale += other.stale
        self.unwatched += other.unwatched
        self.rejected += other.rejected
        self.actions += other.actions
        self.changed_requests.update(other.changed_requests)
        self.finished_campaigns.update(other.finished_campaigns)
        self.unlabelled.extend(other.unlabelled)
        self.completed_tasks.extend(other.completed_tasks)
        for key, count in other.by_exchange.items():
            self.by_exchange[key] = self.by_exchange.get(key, 0) + count


class Engine:
    def __init__(
        self,
        store: EngineStore,
        *,
        repo_day_budget: int | None = None,
        bounds: Bounds = DEFAULT_BOUNDS,
        root_url: str = "",
        results: TaskResultsStore | None = None,
    ) -> None:
        self._store = store
        # Where runs' test results are kept (the same database as `store`, in practice).
        self._results = results
        self._repo_day_budget = repo_day_budget
        self._bounds = bounds
        self._root_url = root_url.rstrip("/")  # for links to action tasks' logs
        # Between transactions: the rows earlier units committed (see warm_index.py).
        self.index = WarmIndex()
        # Per transaction: what this unit of work read and wrote (see working_set.py).
        self._ws = WorkingSet(store, self.index)

    @contextmanager
    def _unit(self, *, rollback: bool = False, buffering: bool = False) -> Iterator[WorkingSet]:
        index = self.index
        try:
            with self._store.transaction(rollback=rollback):
                # Under the write lock: has anyone written since this index was right?
                index.begin(self._store.generation())
                self._ws = WorkingSet(self._store, index, buffering=buffering)
                yield self._ws
        except BaseException:
            index.clear()  # rolled back, or a commit whose outcome is not known
            raise
        finally:
            working_set, self._ws = self._ws, WorkingSet(self._store, index)
        if rollback or index.generation is None:
            return  # a dry run: nothing it wrote is stored
        written = self._store.written_generation
        working_set.absorb_into(index, index.generation if written is None else written)

    def _get_task(self, task_id: str) -> TaskRecord | None:
        return self._ws.task(task_id)

    def _get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        return self._ws.tasks(task_ids)

    def _save_task(self, record: TaskRecord, at: str) -> None:
        self._ws.save_task(record, at)

    def _count_tasks(self, *, repo: str, day: str) -> int:
        return self._ws.count_tasks(repo=repo, day=day)

    def _add_action(self, action: Action, at: str) -> bool:
        added = self._store.add_action(action, at)
        if added and action.push is not None:
            self._ws.tasks_added(action.push.repo, at[:10], tasks_of(action))
        return added

    def _get_campaign(self, campaign_id: str) -> Campaign | None:
        return self._ws.campaign(campaign_id)

    def _save_campaign(self, campaign: Campaign, at: str) -> None:
        self._ws.save_campaign(campaign, at)

    def apply(
        self, items: Sequence[TaskEvent | Rejection], at: str, *, dry_run: bool = False
    ) -> BatchOutcome:
        """Apply a batch atomically; on return (without dry_run) it is durable."""
        outcome = BatchOutcome()
        with self._unit(rollback=dry_run, buffering=True) as working_set:
            events = [item for item in items if not isinstance(item, Rejection)]
            working_set.preload_tasks([event.task_id for event in events])
            # Only a task the store does not know yet is judged by its group.
            unknown = {e.task_group_id for e in events if working_set.task(e.task_id) is None}
            watched = self._store.watched_among(unknown) if unknown else set()
            working_set.preload_serving(_serving_keys(events, working_set, watched))
            for item in items:
                if isinstance(item, Rejection):
                    self._store.record_rejection(item, at)
                    outcome.rejected += 1
                    outcome.tally(item.exchange, "rejected")
                else:
                    self._apply_event(item, watched, at, outcome)
            working_set.flush(at)
            self._progress_campaigns(outcome, at)
        return outcome

    def start_campaign(self, campaign: Campaign, requests: Sequence[Request], at: str) -> Campaign:
        """Record a campaign and its requests; requests adopt tasks already known."""
        outcome = BatchOutcome()
        with self._unit():
            self._store.add_campaign(campaign, at)
            self._ws.forget_campaign(campaign.campaign_id)
            for request in requests:
                self._register(replace(request, campaign_id=campaign.campaign_id), at, outcome)
            start = campaign_start_action(campaign, requests)
            if start is not None:
                current = self._get_campaign(campaign.campaign_id)
                sized, refusal = self._fit_campaign_action(current, start, at)
                if sized is not None:
                    self._expect_runs_of(sized, at, outcome)
                    self._queue_action(sized, at, outcome)
                elif refusal is not None:  # nothing fits: each push falls back on its own
                    self._campaign_action_failed(start, refusal, at, outcome)
            self._progress_campaigns(outcome, at, force={campaign.campaign_id})
            found = self._get_campaign(campaign.campaign_id)
        return found or campaign

    def register(self, request: Request, at: str) -> Request:
        """Add a lone request (no campaign) and adopt the tasks already known to serve it."""
        outcome = BatchOutcome()
        with self._unit():
            return self._register(request, at, outcome)

    def add_requests(
        self,
        campaign_id: str,
        requests: Sequence[Request],
        at: str,
        actions: Sequence[Action] = (),
        campaign: Campaign | None = None,
    ) -> BatchOutcome:
        """Grow a running campaign (downstream tests found missing, the next backfill push).

        `campaign`, when given, is the campaign with its updated params, saved first.
        Requests already known are skipped, so expanding twice adds nothing.
        """
        outcome = BatchOutcome()
        with self._unit():
            if campaign is not None:
                self._save_campaign(campaign, at)
            current = self._get_campaign(campaign_id)
            refused: dict[str, str] = {}  # label -> why its action was not queued
            for action in actions:
                sized, refusal = self._fit_campaign_action(current, action, at)
                if sized is not None:
                    self._queue_action(sized, at, outcome)
                    current = self._get_campaign(campaign_id)
                if refusal is not None:
                    cut = set(action.labels) - set(sized.labels if sized else ())
                    refused.update((label, refusal) for label in cut)
            for request in requests:
                if self._store.get_request(request.request_id) is not None:
                    continue
                why = refused.get(request.label)
                if why is not None and request.expected_new:
                    request = replace(
                        request,
                        state=RequestState.FAILED,
                        failure=FailureKind.BUDGET,
                        reason=why,
                        expected_new=0,
                        actions=0,
                        tasks=0,
                    )
                self._register(replace(request, campaign_id=campaign_id), at, outcome)
            self._progress_campaigns(outcome, at, force={campaign_id})
        return outcome

    def _fit_campaign_action(
        self, campaign: Campaign | None, action: Action, at: str
    ) -> tuple[Action | None, str | None]:
        """A campaign-level action (backfill, downstream, fill) sized to what the campaign
        and daily task budgets leave (None: nothing fits), and why it was cut, if it was."""
        limits: list[tuple[int, str]] = []
        left = campaign.tasks_left if campaign is not None else None
        if left is not None:
            limits.append((left, "campaign task budget"))
        if self._repo_day_budget is not None and action.push is not None:
            used = self._count_tasks(repo=action.push.repo, day=at[:10])
            limits.append(
                (self._repo_day_budget - used, f"daily task budget for {action.push.repo}")
            )
        if not limits:
            return action, None
        left, budget = min(limits)
        sized = sized_to(action, max(0, left))
        if sized == action:
            return action, None
        if sized is None and left > 0:
            return None, f"{budget}: {left} of the {tasks_of(action)} tasks needed left"
        return sized, f"{budget} spent"

    def learn_label(self, task_id: str, label: str, at: str) -> BatchOutcome:
        """A label found out-of-band (queue.task) lets an unlabelled task join its requests."""
        outcome = BatchOutcome()
        with self._unit():
            previous = self._get_task(task_id)
            if previous is None or previous.label == label:
                return outcome
            update = observe(previous, previous.status, label)
            self._save_task(update.record, at)
            self._match(update, at, outcome)
            self._progress_campaigns(outcome, at)
        return outcome

    def check_missing(
        self, request_id: str, scheduled: frozenset[str], graph: frozenset[str], at: str
    ) -> BatchOutcome:
        """The push's graph is known: schedule the request's label if it never appeared."""
        outcome = BatchOutcome()
        with self._unit():
            request = self._store.get_request(request_id)
            if request is None:
                return outcome
            tasks = self._get_tasks(list(request.task_ids)).values()
            allowance = self._allowance(request, at)
            decision = check_missing(request, scheduled, graph, allowance, tasks=tasks)
            self._record(request, decision, at, outcome)
            self._progress_campaigns(outcome, at)
        return outcome

    def action_failed(self, action: Action, error: str, at: str) -> BatchOutcome:
        """The outbox gave up on an action: its request ends failed, with the reason."""
        outcome = BatchOutcome()
        with self._unit():
            if action.request_id is None and served_requests(action):
                self._campaign_action_failed(action, error, at, outcome)
                self._progress_campaigns(outcome, at)
                return outcome
            if action.request_id is None:
                return outcome
            request = self._store.get_request(action.request_id)
            if request is None:
                return outcome
            self._record(request, action_failed(request, action.key, error), at, outcome)
            self._progress_campaigns(outcome, at)
        return outcome

    def action_withdrawn(self, action: Action, why: str, at: str) -> BatchOutcome:
        """The actuator closed an action unperformed (`core.withdrawal`): its requests'
        timelines say why, and they stop awaiting the runs it would have made."""
        outcome = BatchOutcome()
        with self._unit():
            for request in self._requests_of(action):
                decision = withdrawn(request, action, why)
                self._record(request, decision, at, outcome)
            self._progress_campaigns(outcome, at)
        return outcome

    def action_deferred(self, action: Action, reason: str, at: str) -> None:
        """The actuator holds an action back for capacity: its requests' timelines (their
        campaign's) say so. Nothing else changes: the action waits in the outbox."""
        with self._unit():
            entry = TimelineEntry(
                "deferred", action.task_id, {"key": action.key, "note": f"deferred: {reason}"}
            )
            self._store.append_timelines(
                [(request.request_id, entry) for request in self._requests_of(action)], at
            )

    def action_task_created(
        self, action: Action, action_task_id: str, route: str, at: str
    ) -> BatchOutcome:
        """The hook created an action task for `action`: its request follows it from now.

        Its messages may have come first (the hook answers after the task exists): what is
        known of it already is applied at once.
        """
        outcome = BatchOutcome()
        with self._unit():
            first_seen = False
            for request in self._requests_of(action):
                decision = action_task_created(request, action, action_task_id, route)
                self._record(request, decision, at, outcome)
                first_seen = first_seen or decision.changed
                known = self._get_task(action_task_id)
                if known is not None and decision.changed:
                    self._follow(decision.request, known, at, outcome)
            if first_seen:
                self._refund_campaign(action, at)
            self._progress_campaigns(outcome, at)
        return outcome

    def _refund_campaign(self, action: Action, at: str) -> None:
        """The capacity gate cut runs from an action its campaign was charged for as
        decided (`_queue_action`): those runs will not be scheduled, and are charged
        again when they are asked for again."""
        refund = sized_off_tasks(action)
        if not refund or action.campaign_id is None or action.kind not in CI_ACTION_KINDS:
            return
        campaign = self._get_campaign(action.campaign_id)
        if campaign is None:
            return
        self._save_campaign(replace(campaign, tasks=max(0, campaign.tasks - refund)), at)

    def _requests_of(self, action: Action) -> list[Request]:
        """The requests an action serves: its own, or those a campaign-level one lists."""
        found = [self._store.get_request(request_id) for request_id in served_requests(action)]
        return [request for request in found if request is not None]

    def _expect_runs_of(self, action: Action, at: str, outcome: BatchOutcome) -> None:
        """A campaign's start action asks for `expect` new runs for each request it serves:
        counted once the requests adopted the runs already there, which are not its own."""
        expect = int(action.details.get("expect") or 0)
        if not expect:
            return
        for request in self._requests_of(action):
            entry = TimelineEntry(
                "action", action.task_id, {"action": action.kind.value, "key": action.key}
            )
            waiting = replace(request, expected_new=request.expected_new + expect)
            self._record(request, Decision(waiting, (entry,), (), True), at, outcome)

    def _campaign_action_failed(
        self, action: Action, error: str, at: str, outcome: BatchOutcome
    ) -> None:
        """A campaign-level action (a backfill, a confirm's) cannot be performed: each request
        it served falls back where its route has another way, else gives up."""
        for request in self._requests_of(action):
            route = ActionTask("", action.key, action.kind.value, times=action.times)
            decision = remedy_failed(request, route, error, self._allowance(request, at))
            self._record(request, decision, at, outcome)

    def judge_upstreams(
        self, request_id: str, task_id: str, upstreams: Sequence[Upstream], at: str
    ) -> BatchOutcome:
        """The request's task waits or expired: its dependencies decide what to do."""
        outcome = BatchOutcome()
        with self._unit():
            request = self._store.get_request(request_id)
            record = self._get_task(task_id)
            if request is None or record is None:
                return outcome
            allowance = self._allowance(request, at)
            self._record(
                request, judge_upstreams(request, record, upstreams, allowance), at, outcome
            )
            self._progress_campaigns(outcome, at)
        return outcome

    def check_bounds(self, task_group_id: str, at: str) -> BatchOutcome:
        """Resolve the group's requests whose remedies produced nothing in time, or that
        have been open longer than their bound."""
        outcome = BatchOutcome()
        with self._unit():
            for request in list(
                self._store.iter_requests(open_only=True, task_group_id=task_group_id)
            ):
                decision = check_bounds(request, at, self._bounds, self._allowance(request, at))
                self._record(request, decision, at, outcome)
            self._progress_campaigns(outcome, at)
        return outcome

    def apply_results(
        self,
        action: Action,
        results: tuple[str, dict[str, Any]] | None,
        at: str,
    ) -> BatchOutcome:
        """A run's test results were read (`results`: source and plain-data summary, None
        when the run has none): keep them, judge the run by its campaign's signature (a
        confirm's: each of its tests), and end the batches on a hit. Idempotent: the first
        results kept win, and a run is judged once."""
        outcome = BatchOutcome()
        run_id = int(action.details.get("run") or 0)
        store = self._results
        if action.task_id is None or action.request_id is None or store is None:
            return outcome
        with self._unit():
            if results is not None:
                store.put_task_results(action.task_id, run_id, results[0], results[1], at)
            kept = store.task_results(action.task_id, run_id)
            request = self._store.get_request(action.request_id)
            campaign = (
                self._get_campaign(request.campaign_id)
                if request is not None and request.campaign_id
                else None
            )
            judged_by = ("signature", "confirm")
            if (
                request is None
                or campaign is None
                or not any(k in campaign.params for k in judged_by)
            ):
                return outcome
            if campaign.is_final:
                return outcome  # its answer was given on the runs judged until then
            judged = dict(campaign.params.get(JUDGED) or {})
            key = judgement_key(action.task_id, run_id)
            summary = None if kept is None else summary_from_json(kept[1])
            orange = bool(action.details.get("orange"))
            if key not in judged and "confirm" in campaign.params:
                judged[key] = confirm.judgement(
                    campaign,
                    summary,
                    task_id=action.task_id,
                    run_id=run_id,
                    orange=orange,
                    match=re2_search,
                )
                campaign = replace(campaign, params={**campaign.params, JUDGED: judged})
                self._save_campaign(campaign, at)
            elif key not in judged:
                judgement = judge_run(
                    signature_from_json(campaign.params["signature"]),
                    summary,
                    task_id=action.task_id,
                    run_id=run_id,
                    orange=orange,
                    match=re2_search,
                )
                judged[key] = judgement_to_json(judgement)
                campaign = replace(campaign, params={**campaign.params, JUDGED: judged})
                self._save_campaign(campaign, at)
            if request.remedy is RemedyPolicy.UNTIL_SIGNATURE:
                found = until_fail_progress(judgements_in_order(judged, request.task_ids))
                if found.hit is not None:
                    tasks = self._get_tasks(list(request.task_ids))
                    decision = signature_hit(request, tasks, found.hit.task_id, found.runs)
                    self._record(request, decision, at, outcome)
            self._progress_campaigns(outcome, at, force={campaign.campaign_id})
        return outcome

    def cancel_campaign(self, campaign_id: str, reason: str, at: str) -> Campaign | None:
        return self._end_campaign(campaign_id, reason, at, cancel_campaign, BatchOutcome())

    def fail_campaign(self, campaign_id: str, reason: str, at: str) -> BatchOutcome:
        """End a campaign that cannot go on, with the reason (its open requests canceled)."""
        outcome = BatchOutcome()
        self._end_campaign(campaign_id, reason, at, fail_campaign, outcome)
        return outcome

    def _end_campaign(
        self,
        campaign_id: str,
        reason: str,
        at: str,
        end: Callable[[Campaign, str], CampaignDecision],
        outcome: BatchOutcome,
    ) -> Campaign | None:
        with self._unit():
            campaign = self._get_campaign(campaign_id)
            if campaign is None:
                return None
            for request in self._store.campaign_requests(campaign_id):
                self._record(request, cancel(request, reason), at, outcome)
            decision = end(campaign, reason)
            if decision.changed:
                self._save_campaign(decision.campaign, at)
                for action in decision.actions:
                    self._queue_action(action, at, outcome)
            return decision.campaign

    # -- internals ------------------------------------------------------------------------

    def _register(self, request: Request, at: str, outcome: BatchOutcome) -> Request:
        if request.opened_at is None:
            request = replace(request, opened_at=at)  # the start of its bound
        self._store.add_request(request, at)
        self._ws.request_added()
        self._store.append_timeline(
            request.request_id,
            [
                TimelineEntry(
                    "registered",
                    None,
                    {
                        "label": request.label,
                        "wanted": request.wanted,
                        "remedy": request.remedy.value,
                    },
                )
            ],
            at,
        )
        outcome.changed_requests[request.request_id] = request
        for record in self._store.tasks_in_group(request.push.task_group_id):
            if matches(request, record):
                request = self._feed(request, TaskUpdate(record, Change.NEW), at, outcome)
        return request

    def _apply_event(
        self, event: TaskEvent, watched: set[str], at: str, outcome: BatchOutcome
    ) -> None:
        exchange = EXCHANGE_PREFIX + event.kind.value
        previous = self._get_task(event.task_id)
        if previous is None and event.task_group_id not in watched:
            outcome.unwatched += 1
            outcome.tally(exchange, "unwatched")
            return
        update = observe(previous, event.status, event.label)
        if update.change is Change.STALE:
            outcome.stale += 1
            outcome.tally(exchange, "stale")
        elif update.change is Change.DUPLICATE:
            outcome.duplicates += 1
            outcome.tally(exchange, "duplicate")
        else:
            outcome.applied += 1
            outcome.tally(exchange, "applied")
        if update.record is previous:  # observe keeps the very record when nothing moved
            return
        self._save_task(update.record, at)
        if update.record.label is None:
            outcome.unlabelled.append(event.task_id)
        if update.moved and update.record.phase.value == "completed":
            outcome.completed_tasks.append(update.record)
        self._match(update, at, outcome)

    def _match(self, update: TaskUpdate, at: str, outcome: BatchOutcome) -> None:
        record = update.record
        for request in self._ws.requests_serving(
            record.task_id, record.task_group_id, record.label
        ):
            if record.task_id in request.action_task_ids:
                if update.moved:
                    self._follow(request, record, at, outcome)
            elif matches(request, record):
                self._feed(request, update, at, outcome)

    def _follow(self, request: Request, record: TaskRecord, at: str, outcome: BatchOutcome) -> None:
        """An action task of the request moved."""
        allowance = self._allowance(request, at)
        decision = action_task_changed(request, record, at, allowance, root_url=self._root_url)
        self._record(request, decision, at, outcome)

    def _feed(
        self, request: Request, update: TaskUpdate, at: str, outcome: BatchOutcome
    ) -> Request:
        tasks = self._get_tasks(list(request.task_ids))
        decision = decide(request, tasks, update, self._allowance(request, at))
        self._record(request, decision, at, outcome)
        return decision.request

    def _record(self, request: Request, decision: Decision, at: str, outcome: BatchOutcome) -> None:
        if not decision.changed:
            return
        self._ws.save_request(decision.request, decision.timeline, at)
        outcome.changed_requests[request.request_id] = decision.request
        for action in decision.actions:
            self._queue_action(action, at, outcome)

    def _queue_action(self, action: Action, at: str, outcome: BatchOutcome) -> None:
        if not self._add_action(action, at):
            return  # the same intent was queued before: once is enough
        outcome.actions += 1
        if action.campaign_id is None or action.kind not in CI_ACTION_KINDS:
            return
        campaign = self._get_campaign(action.campaign_id)
        if campaign is not None:
            spent = replace(
                campaign, actions=campaign.actions + 1, tasks=campaign.tasks + tasks_of(action)
            )
            self._save_campaign(spent, at)

    def _retire_obsolete(self, campaign_id: str, at: str, outcome: BatchOutcome) -> None:
        """A range campaign (bisect, backfill) just got its answer: the runs of its label
        still open on its pushes no longer matter and are cancelled, requests still open
        end, and the campaign says how many ("cleanup", on its page). One pass when the
        campaign ends, never on the per-message path. Requests a search left behind
        before the answer had their runs cancelled then (`_retire_left_behind`)."""
        targeted: set[str] = set()  # a run several requests of a push share goes once
        cancelled = 0
        for request in self._store.campaign_requests(campaign_id):
            if request.reason != OBSOLETE_BEHIND:
                cancelled += self._retire(request, OBSOLETE, targeted, at, outcome)
        self._count_cleanup(campaign_id, cancelled, at)

    def _retire_left_behind(
        self, campaign_id: str, request_ids: Sequence[str], at: str, outcome: BatchOutcome
    ) -> None:
        """Before its answer, a search left these open requests behind (pushes newer than
        the first bad one): their runs still out are cancelled and they end."""
        targeted: set[str] = set()
        cancelled = 0
        for request_id in request_ids:
            request = self._store.get_request(request_id)
            if request is not None and not request.is_final:
                cancelled += self._retire(request, OBSOLETE_BEHIND, targeted, at, outcome)
        self._count_cleanup(campaign_id, cancelled, at)

    def _retire(
        self, request: Request, reason: str, targeted: set[str], at: str, outcome: BatchOutcome
    ) -> int:
        # Only runs its own actions created may be cancelled: without any, none are read.
        known = (
            self._store.tasks_in_group(request.push.task_group_id) if request.action_tasks else []
        )
        decision = retire_obsolete(
            request, [t for t in known if t.task_id not in targeted], reason=reason
        )
        targeted.update(action.task_id or "" for action in decision.actions)
        self._record(request, decision, at, outcome)
        if decision.actions:
            note = f"cancelled {len(decision.actions)} obsolete runs"
            if reason == OBSOLETE_BEHIND:
                note += " (newer than the first bad push)"
            self._store.append_timeline(
                request.request_id, [TimelineEntry("cleanup", None, {"note": note})], at
            )
        return len(decision.actions)

    def _count_cleanup(self, campaign_id: str, cancelled: int, at: str) -> None:
        """The campaign's summary after requests were retired: their states, and its
        "cleanup", the obsolete runs cancelled so far, before and at the answer (the
        count is kept in its params, which every decision carries)."""
        campaign = self._get_campaign(campaign_id)
        if campaign is None:
            return
        summary = {**campaign.summary, **summarise(self._store.campaign_requests(campaign_id))}
        params = campaign.params
        if cancelled:
            total = int(params.get(OBSOLETE_CANCELLED, 0)) + cancelled
            params = {**params, OBSOLETE_CANCELLED: total}
            summary["cleanup"] = f"cancelled {total} obsolete runs"
        if (summary, params) != (campaign.summary, campaign.params):
            self._save_campaign(replace(campaign, params=params, summary=summary), at)

    def _allowance(self, request: Request, at: str) -> Allowance:
        campaign_left: int | None = None
        if request.campaign_id is not None:
            campaign = self._get_campaign(request.campaign_id)
            if campaign is not None:
                campaign_left = campaign.tasks_left
        repo_left: int | None = None
        if self._repo_day_budget is not None:
            used = self._count_tasks(repo=request.push.repo, day=at[:10])
            repo_left = self._repo_day_budget - used
        return Allowance(campaign=campaign_left, repo_day=repo_left)

    def _progress_campaigns(
        self, outcome: BatchOutcome, at: str, force: set[str] | None = None
    ) -> None:
        touched = {r.campaign_id for r in outcome.changed_requests.values() if r.campaign_id}
        for campaign_id in sorted(touched | (force or set())):
            # A campaign that grows (a search) decides again once its new requests adopted
            # the runs already there; each round adds runs or ends, the bound is a guard.
            for _ in range(MAX_GROWTH_ROUNDS):
                campaign = self._get_campaign(campaign_id)
                if campaign is None or campaign.is_final:
                    break
                decision = progress_campaign(campaign, self._store.campaign_requests(campaign_id))
                if decision.changed:
                    self._save_campaign(decision.campaign, at)
                if decision.obsolete_requests:
                    self._retire_left_behind(campaign_id, decision.obsolete_requests, at, outcome)
                if decision.changed:
                    if decision.campaign.is_final:
                        outcome.finished_campaigns[campaign_id] = decision.campaign
                        if decision.campaign.kind in RANGE_KINDS:
                            self._retire_obsolete(campaign_id, at, outcome)
                    for action in decision.actions:
                        self._queue_action(action, at, outcome)
                grew = False
                for request in decision.new_requests:
                    if self._store.get_request(request.request_id) is None:
                        self._register(request, at, outcome)
                        grew = True
                if not grew:
                    break


def _serving_keys(
    events: Sequence[TaskEvent], working_set: WorkingSet, watched: set[str]
) -> list[ServingKey]:
    """The "who serves this task" questions a batch will ask (its tasks read already):
    each task with the label it will have, unless its group is not watched and the task
    unknown (nothing is asked of those). A guess that turns out wrong is asked later."""
    keys: list[ServingKey] = []
    for event in events:
        previous = working_set.task(event.task_id)
        if previous is None and event.task_group_id not in watched:
            continue
        label = event.label
        if label is None and previous is not None:
            label = previous.label  # as core.machine.observe keeps it
        keys.append((event.task_id, event.task_group_id, label))
    return keys
