"""Performs the outbox: every action the engine decided on, exactly once.

Each entry is marked *started* (committed) before it is attempted and *done* (committed)
after. An entry found started but not done — the daemon died in between — is *in doubt*:
before trying it again the actuator asks Taskcluster whether it already happened (the
task got a new run; the push's group holds the action task), so a crash never performs an
intent twice. An entry whose request or campaign ended before it was claimed is withdrawn,
not performed (`core.withdrawal`). Failures that may pass (5xx, timeouts, breaker open)
are retried with backoff; failures that will not (the action does not exist, the task
cannot be rerun) end the request with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog

from mozci_monitor.capacity_gate import CapacityGate
from mozci_monitor.core import errors
from mozci_monitor.core.action_routes import (
    ActionChoice,
    choose_add_new_jobs,
    choose_backfill,
    choose_retrigger,
    choose_task_action,
)
from mozci_monitor.core.actions import SCHEDULING_KINDS, Action, ActionKind, served_requests
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.errors import ActionFailed
from mozci_monitor.core.errorsummary import summary_to_json
from mozci_monitor.core.links import Links
from mozci_monitor.core.model import Push
from mozci_monitor.core.provenance import project_of_decision_task
from mozci_monitor.core.withdrawal import WITHDRAWABLE_KINDS, WITHDRAWN, withdrawal
from mozci_monitor.observe import (
    ActionAbandoned,
    ActionDone,
    ActionRetrying,
    ActionWithdrawn,
    NotificationSent,
    Observer,
    guarded,
)
from mozci_monitor.ports.notify import (
    Notification,
    NotificationError,
    Sink,
    campaign_notification,
)
from mozci_monitor.ports.sources import (
    ActionSource,
    NotFound,
    Render,
    ResultsSource,
    SourceError,
    SourceUnavailable,
    TransientError,
)
from mozci_monitor.ports.store import OutboxEntry, OutboxStore

log = structlog.get_logger(__name__)

DEFAULT_LINKS = Links()
P = ParamSpec("P")
T = TypeVar("T")


InStore = Callable[..., Awaitable[Any]]
# Keeps a run's results (source and plain-data summary; None: the run has none) and
# judges the run: the engine's `apply_results`, committed before the action is done.
OnResults = Callable[[Action, tuple[str, dict[str, Any]] | None], Awaitable[None]]


class _Permanent(ActionFailed):
    """This action cannot succeed, however often it is tried."""


class _Deferred(ActionFailed):
    """No capacity for this action now: it waits, untried, and is admitted again later."""


# What marking an entry started found: (still held by this instance, why it was withdrawn).
_Started = tuple[bool | None, str | None]


def _in_doubt(entry: OutboxEntry) -> bool:
    """Started by an earlier attempt that never said how it ended (the daemon died)."""
    return entry.started_at is not None and entry.attempts > 0


@dataclass(frozen=True)
class ActuatorSettings:
    dry_run: bool = False
    owner: str = "local"  # this instance's name in outbox claims
    lease_seconds: float = 300.0  # a claim outlives one attempt of one action by far
    max_attempts: int = 8
    concurrency: int = 8  # actions performed at once
    retry_base: float = 1.0
    retry_max: float = 60.0
    batch: int = 50
    links: Links = DEFAULT_LINKS  # Treeherder and Taskcluster, for the notifications' links


class Actuator:
    def __init__(
        self,
        *,
        in_store: InStore,
        store: OutboxStore,
        taskcluster: ActionSource,
        render: Render,
        sinks: Sequence[Sink],
        on_permanent_failure: Callable[[Action, str], Awaitable[None]],
        now: Callable[[], str],
        settings: ActuatorSettings = ActuatorSettings(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_result: Callable[[str, str], None] | None = None,
        observer: Observer | None = None,
        on_action_task: Callable[[Action, str, str], Awaitable[None]] | None = None,
        results: ResultsSource | None = None,
        on_results: OnResults | None = None,
        capacity: CapacityGate | None = None,
        on_deferred: Callable[[Action, str], Awaitable[None]] | None = None,
        complete_answer: Callable[[Campaign], Awaitable[Campaign]] | None = None,
        on_withdrawn: Callable[[Action, str], Awaitable[None]] | None = None,
    ) -> None:
        # (action, why): its requests' timelines say it was withdrawn
        self._on_withdrawn = on_withdrawn
        self._capacity = capacity
        # Read just before a campaign's end is announced (answer_checks: a later backout)
        self._complete_answer = complete_answer
        # (action, reason): the request's timeline says why its action waits
        self._on_deferred = on_deferred
        self._results = results
        self._on_results = on_results
        self._in_store = in_store
        self._observe = guarded(observer)
        # (action, action task id, route): the request follows the task the hook created
        self._on_action_task = on_action_task
        # (action kind, done | dry-run | retry | failed): the daemon's metrics
        self._on_result = on_result or (lambda kind, result: None)
        self._store = store
        self._tc = taskcluster
        self._render = render
        self._sinks = list(sinks)
        self._on_permanent_failure = on_permanent_failure
        self._now = now
        self._settings = settings
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._actions_json: dict[str, Any] = {}  # decision task id -> actions.json
        self._projects: dict[str, str | None] = {}  # task group -> its decision task's project
        self._delivered: dict[str, set[str]] = {}  # notification key -> sinks that have it
        self.performed: dict[str, int] = {}
        self.failures = 0

    def forget_unwatched(self, watched: set[str]) -> None:
        """Drop the actions.json and project of groups no longer watched (see Reconciler's)."""
        for group in [group for group in self._actions_json if group not in watched]:
            del self._actions_json[group]
        for group in [group for group in self._projects if group not in watched]:
            del self._projects[group]

    def wake(self) -> None:
        self._wake.set()

    async def run(self, idle: float = 5.0) -> None:
        """Drain the outbox whenever woken (or every `idle` seconds), until cancelled."""
        delay = 0.0
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives just after the wake-up (CPython gh-86296), and the loop would run
            # on through the daemon's shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, idle) if delay else idle):
                    await self._wake.wait()
            self._wake.clear()
            retry_later = await self.drain()
            if retry_later:
                delay = min(max(delay * 2, self._settings.retry_base), self._settings.retry_max)
                await self._sleep(delay)
                self._wake.set()
            else:
                delay = 0.0

    async def drain(self) -> bool:
        """Attempt every pending action once; True if some must be retried later."""
        entries, first_started = await self._in_store(self._claim_and_start)
        # Entries are independent intents: perform several at once (each waits mostly on
        # Taskcluster), bounded so a burst of actions stays polite.
        limit = asyncio.Semaphore(self._settings.concurrency)

        async def attempt(entry: OutboxEntry) -> bool:
            async with limit:
                return await self._attempt(entry, first_started if entry is entries[0] else None)

        results = await asyncio.gather(*(attempt(entry) for entry in entries))
        retry_later = not all(results)
        return retry_later

    def _claim_and_start(self) -> tuple[list[OutboxEntry], _Started | None]:
        """On the store's thread: claim pending entries and mark the first one started,
        in one trip to that thread. Each trip waits behind the engine's batch in progress,
        so an action leaves after one wait instead of two. Only the first: an entry marked
        started and then not attempted (the daemon stopped, or died) is in doubt, and no
        more are left so than when each entry made its own trip. A mark that fails is left
        to the entry's own attempt (None), which fails that entry alone, as before."""
        entries = self._store.claim_actions(
            self._settings.owner,
            lease_seconds=self._settings.lease_seconds,
            limit=self._settings.batch,
        )
        if not entries:
            return entries, None
        first = entries[0]
        try:
            return entries, self._claim_for_performing(first.action, self._now(), _in_doubt(first))
        except Exception:
            return entries, None

    async def _attempt(self, entry: OutboxEntry, started: _Started | None = None) -> bool:
        action = entry.action
        in_doubt = _in_doubt(entry)
        owner = self._settings.owner
        held, withdrawn = started or await self._in_store(
            self._claim_for_performing, action, self._now(), in_doubt
        )
        if held is False:
            log.warning("outbox entry taken over by another instance", key=action.key)
            return True
        if withdrawn is not None:
            await self._withdrawn(action, withdrawn)
            return True
        try:
            if in_doubt and await self._already_done(action):
                result = "already performed (confirmed after restart)"
            elif in_doubt and (why := await self._in_store(self._withdraw_if_ended, action)):
                await self._withdrawn(action, why)  # it had not happened: it never will
                return True
            else:
                result = await self._perform(action)
        except _Permanent as error:
            await self._give_up(action, str(error))
            return True
        except _Deferred as deferral:
            return await self._defer(entry, str(deferral))
        except (SourceError, NotificationError, OSError, TimeoutError) as error:
            final = entry.attempts + 1 >= self._settings.max_attempts or isinstance(error, NotFound)
            if final:
                await self._give_up(action, _describe(error))
                return True
            self.failures += 1
            self._on_result(action.kind.value, "retry")
            await self._in_store(
                self._store.mark_action_failed,
                action.key,
                self._now(),
                _describe(error),
                final=False,
                owner=owner,
            )
            level = (
                log.warning if isinstance(error, TransientError | SourceUnavailable) else log.error
            )
            level(
                "action failed; will retry",
                key=action.key,
                kind=action.kind.value,
                error=_describe(error),
                attempt=entry.attempts + 1,
            )
            self._observe(
                ActionRetrying(action.key, action.kind.value, _describe(error), entry.attempts + 1)
            )
            return False
        await self._in_store(
            self._store.mark_action_done, action.key, self._now(), result, owner=owner
        )
        self.performed[action.kind.value] = self.performed.get(action.kind.value, 0) + 1
        self._on_result(action.kind.value, "dry-run" if result.startswith("dry-run") else "done")
        log.info(
            "action done",
            key=action.key,
            kind=action.kind.value,
            task=action.task_id,
            labels=list(action.labels) or None,
            why=action.why,
            result=result,
        )
        self._observe(
            ActionDone(
                action.key,
                action.kind.value,
                action.task_id,
                tuple(action.labels),
                action.why,
                result,
            )
        )
        return True

    def _claim_for_performing(self, action: Action, at: str, in_doubt: bool) -> _Started:
        """On the store's thread: mark the entry started, unless what it serves has ended
        (`core.withdrawal`), then close it as withdrawn, in one transaction with what was
        read, so that the engine's end of a request is either seen or comes after the
        start (the action is then in flight: its runs are cancelled as late runs). An
        entry in doubt (started before) is only marked: whether it already happened is
        asked first (`_withdraw_if_ended` then). Returns (still held by this instance,
        why it was withdrawn or None)."""
        store, owner = self._store, self._settings.owner
        if in_doubt or action.kind not in WITHDRAWABLE_KINDS:
            return store.mark_action_started(action.key, at, owner=owner), None
        with store.transaction():
            why = self._ended(action)
            if why is None:
                return store.mark_action_started(action.key, at, owner=owner), None
            return store.mark_action_withdrawn(action.key, at, why, owner=owner), why

    def _withdraw_if_ended(self, action: Action) -> str | None:
        """On the store's thread: close the entry as withdrawn if what it serves has ended
        (why), in one transaction with what was read."""
        if action.kind not in WITHDRAWABLE_KINDS:
            return None
        with self._store.transaction():
            why = self._ended(action)
            if why is None:
                return None
            held = self._store.mark_action_withdrawn(
                action.key, self._now(), why, owner=self._settings.owner
            )
            return None if held is False else why

    def _ended(self, action: Action) -> str | None:
        """Why the action serves nobody any more (`core.withdrawal`), read in the caller's
        store transaction."""
        store = self._store
        requests = store.get_requests(served_requests(action))
        campaign = store.get_campaign(action.campaign_id) if action.campaign_id else None
        return withdrawal(action, requests, campaign)

    async def _withdrawn(self, action: Action, why: str) -> None:
        """A withdrawn entry: counted as its own result, and its requests' timelines say so
        (they stop awaiting the runs it would have made)."""
        self._on_result(action.kind.value, WITHDRAWN)
        log.info("action withdrawn", key=action.key, kind=action.kind.value, why=why)
        self._observe(ActionWithdrawn(action.key, action.kind.value, why))
        if self._on_withdrawn is not None:
            await self._on_withdrawn(action, why)

    async def _defer(self, entry: OutboxEntry, reason: str) -> bool:
        """The entry waits for capacity: put back as it was before this attempt (nothing
        was performed, so it is neither in doubt nor an attempt more), unless it waited
        too long already; the first deferral in a row goes on the request's timeline."""
        action = entry.action
        assert self._capacity is not None
        too_long = self._capacity.overdue(entry.created_at, self._now())
        if too_long is not None:
            await self._give_up(action, f"{too_long}; last: {reason}")
            return True
        said = f"deferred: {reason}"
        await self._in_store(
            self._store.mark_action_deferred,
            action.key,
            said,
            started_at=entry.started_at,
            owner=self._settings.owner,
        )
        self._on_result(action.kind.value, "deferred")
        log.info("action deferred", key=action.key, kind=action.kind.value, reason=reason)
        if self._on_deferred is not None and not (entry.last_error or "").startswith("deferred:"):
            await self._on_deferred(action, reason)
        return False

    async def _give_up(self, action: Action, error: str) -> None:
        self.failures += 1
        self._on_result(action.kind.value, "failed")
        await self._in_store(
            self._store.mark_action_failed,
            action.key,
            self._now(),
            error,
            final=True,
            owner=self._settings.owner,
        )
        log.error("action abandoned", key=action.key, kind=action.kind.value, error=error)
        self._observe(ActionAbandoned(action.key, action.kind.value, error))
        await self._on_permanent_failure(action, error)

    # -- performing -----------------------------------------------------------------------

    async def _perform(self, action: Action) -> str:
        if action.kind is ActionKind.NOTIFY:
            return await self._notify(action)
        if action.kind is ActionKind.FETCH_RESULTS:
            return await self._fetch_results(action)  # a read: dry runs need it too
        if self._settings.dry_run or await self._campaign_is_dry_run(action):
            what = _describe_action(action)
            log.info("dry run: would perform", key=action.key, action=what, why=action.why)
            return f"dry-run: would {what}"
        if action.push is not None:
            await self._check_project(action.push)
        if self._capacity is None or action.kind not in SCHEDULING_KINDS:
            return await self._schedule(action)
        admitted, sized = await self._admit(action)
        if admitted is not action:
            # Recorded before it is scheduled: the budgets count what is, not what was asked.
            await self._in_store(
                self._store.mark_action_sized, admitted, owner=self._settings.owner
            )
        try:
            result = await self._schedule(admitted)
        finally:
            self._capacity.release(action.key)
        return f"{result}{sized}"

    async def _admit(self, action: Action) -> tuple[Action, str]:
        """The action within capacity, and what the result adds when it was sized down."""
        assert self._capacity is not None
        verdict = await self._capacity.admit(action, day=self._now()[:10])
        if verdict.excluded:
            raise _Permanent(f"refused: {verdict.reason}")
        if verdict.action is None:
            raise _Deferred(verdict.reason)
        if verdict.action.times == action.times:
            return action, ""
        return verdict.action, (
            f" (capacity: x{verdict.action.times} of x{action.times}: {verdict.reason})"
        )

    async def _schedule(self, action: Action) -> str:
        """Perform a cancel or an action that schedules tasks."""
        if action.kind is ActionKind.RERUN:
            assert action.task_id is not None
            try:
                status = await self._tc.rerun_task(action.task_id)
            except NotFound as error:
                raise _Permanent(f"task {action.task_id} cannot be rerun: {error}") from None
            return f"rerun: task {action.task_id} now has {len(status.runs)} runs"
        if action.kind is ActionKind.CANCEL:
            assert action.task_id is not None
            created_by = str(action.details.get("created_by") or "")
            if created_by and not await self._created_by(action.task_id, created_by.split(",")):
                return f"left {action.task_id} alone: none of our action tasks created it"
            await self._tc.cancel_task(action.task_id)
            return f"canceled {action.task_id}"
        return await self._in_tree(action)

    async def _created_by(self, task_id: str, action_tasks: Sequence[str]) -> bool:
        """Was the task created by one of these action tasks? Taskgraph names the creating
        task in `extra.parent` and makes the created tasks depend on it."""
        definition = await self._tc.task(task_id)
        extra = definition.get("extra")
        parent = extra.get("parent") if isinstance(extra, Mapping) else None
        dependencies = definition.get("dependencies")
        named = {parent, *(dependencies if isinstance(dependencies, list) else ())}
        return any(task in named for task in action_tasks)

    async def _check_project(self, push: Push) -> None:
        """Act only on a push whose decision task names the repository the campaign named:
        the daily budget is counted per repository name, and a renamed repository must not
        buy a fresh budget for the same push."""
        group = push.task_group_id
        if group not in self._projects:
            try:
                definition = await self._tc.task(group)
            except NotFound:
                definition = {}  # no decision task to ask: the in-tree action will tell
            self._projects[group] = project_of_decision_task(definition)
        project = self._projects[group]
        if project is not None and project != push.repo:
            raise _Permanent(
                f"repo {push.repo!r} is not the push's: its decision task {group} belongs"
                f" to {project!r}"
            )

    async def _fetch_results(self, action: Action) -> str:
        assert action.task_id is not None
        found = None if self._results is None else await self._results(action.task_id)
        kept = None if found is None else (found.source, summary_to_json(found.summary))
        if self._on_results is not None:
            await self._on_results(action, kept)
        if found is None:
            return f"no test results for {action.task_id}: judged as not run"
        return f"test results of {action.task_id} from {', '.join(found.artifacts) or found.source}"

    async def _campaign_is_dry_run(self, action: Action) -> bool:
        if action.campaign_id is None:
            return False
        campaign = await self._in_store(self._store.get_campaign, action.campaign_id)
        return bool(campaign is not None and campaign.dry_run)

    async def _in_tree(self, action: Action) -> str:
        push = action.push
        if push is None:
            raise _Permanent("no push to act on")
        actions_json = await self._actions_json_for(push.repo, push.revision, push.task_group_id)
        try:
            if action.kind is ActionKind.BACKFILL:
                choice = await self._backfill_choice(actions_json, action)
            elif action.kind is ActionKind.CONFIRM_FAILURES:
                choice = await self._task_action(actions_json, action, "confirm-failures")
            elif action.kind is ActionKind.RETRIGGER:
                assert action.task_id is not None
                definition = await self._tc.task(action.task_id)
                tags = {str(k): str(v) for k, v in (definition.get("tags") or {}).items()}
                label = str((definition.get("metadata") or {}).get("name") or tags.get("label"))
                choice = choose_retrigger(
                    actions_json,
                    label=label,
                    task_id=action.task_id,
                    tags=tags,
                    times=action.times,
                )
            else:
                choice = choose_add_new_jobs(actions_json, action.labels, action.times)
            call = self._render(actions_json, choice, push.task_group_id)
        except errors.ActionError as error:
            raise _Permanent(str(error)) from None
        action_task = await self._tc.trigger_hook(call.hook_group_id, call.hook_id, call.payload)
        if action_task is not None and self._on_action_task is not None:
            await self._on_action_task(action, action_task, choice.route)
        # The route is part of the record: which entry ran decides what can come of it.
        return f"{choice.route} via hook {call.hook_id}: action task {action_task} ({choice.why})"

    async def _task_action(self, actions_json: Any, action: Action, name: str) -> ActionChoice:
        """A task-level in-tree action on the action's task, with no input: as Treeherder
        sends confirm-failures (`input: {}`), which both its old schema (`times`) and its
        current one (`additionalProperties: false`) accept."""
        assert action.task_id is not None
        definition = await self._tc.task(action.task_id)
        tags = {str(k): str(v) for k, v in (definition.get("tags") or {}).items()}
        return choose_task_action(actions_json, name, task_id=action.task_id, tags=tags)

    async def _backfill_choice(self, actions_json: Any, action: Action) -> ActionChoice:
        """Backfill from the push's task of the label (a failed one when there is one)."""
        assert action.push is not None
        label = action.labels[0] if action.labels else ""
        members = await self._tc.list_task_group(action.push.task_group_id)
        tasks = sorted(
            (member.status.state != "failed", member.task_id)
            for member in members
            if member.label == label
        )
        if not tasks:
            raise _Permanent(f"no task of {label} on the push to backfill from")
        task_id = tasks[0][1]
        definition = await self._tc.task(task_id)
        tags = {str(k): str(v) for k, v in (definition.get("tags") or {}).items()}
        return choose_backfill(
            actions_json,
            task_id=task_id,
            tags=tags,
            depth=int(action.details.get("depth") or 1),
            times=action.times,
            retrigger=False,
            test_path=str(action.details.get("test_path") or "") or None,
        )

    async def _actions_json_for(self, repo: str, revision: str, group: str) -> Any:
        if group not in self._actions_json:
            decision = await self._tc.find_decision_task(repo, revision)
            self._actions_json[group] = await self._tc.artifact_json(
                decision, "public/actions.json"
            )
        return self._actions_json[group]

    async def _notify(self, action: Action) -> str:
        campaign = None
        if action.campaign_id is not None:
            campaign = await self._in_store(self._store.get_campaign, action.campaign_id)
        if campaign is not None and self._complete_answer is not None:
            campaign = await self._complete_answer(campaign)
        notification = build_notification(action, campaign, self._settings.links)
        done = self._delivered.setdefault(action.key, set())
        errors: list[str] = []
        for sink in self._sinks:
            if sink.name in done:
                continue
            try:
                await sink.send(notification)
            except NotificationError as error:
                errors.append(str(error))
                continue
            done.add(sink.name)
            self._observe(
                NotificationSent(sink.name, action.key, action.campaign_id, notification.title)
            )
        if errors:
            raise NotificationError("notify", action.key, "; ".join(errors))
        self._delivered.pop(action.key, None)
        return f"notified via {', '.join(s.name for s in self._sinks) or 'no sink'}"

    # -- in-doubt checks ----------------------------------------------------------------

    async def _already_done(self, action: Action) -> bool:
        if action.kind is ActionKind.RERUN and action.task_id is not None:
            status = await self._tc.status(action.task_id)
            return len(status.runs) > int(action.details.get("runs") or 0)
        kinds = (
            ActionKind.RETRIGGER,
            ActionKind.ADD_NEW_JOBS,
            ActionKind.BACKFILL,
            ActionKind.CONFIRM_FAILURES,
        )
        if action.kind in kinds and action.push:
            labels = tuple(action.labels)
            if action.kind is ActionKind.RETRIGGER and action.task_id is not None:
                definition = await self._tc.task(action.task_id)
                labels = (str((definition.get("metadata") or {}).get("name")),)
            members = await self._tc.list_task_group(action.push.task_group_id)
            found = sum(1 for member in members if _is_action_task_for(member.task, action, labels))
            ours: int = await self._in_store(self._store.count_done_like, action)
            return found > ours
        return False


def _is_action_task_for(task: Mapping[str, Any], action: Action, labels: Sequence[str]) -> bool:
    """Is this the action task of `action`, by whichever route it went?"""
    extra = task.get("extra") or {}
    performed = extra.get("action") if isinstance(extra, Mapping) else None
    if not isinstance(performed, Mapping):
        return False
    context = performed.get("context") or {}
    user_input = context.get("input") or {}
    name = performed.get("name")
    if name == "retrigger":
        return bool(action.kind is ActionKind.RETRIGGER and context.get("taskId") == action.task_id)
    if name == "backfill":
        return action.kind is ActionKind.BACKFILL
    if name == "confirm-failures":
        return bool(
            action.kind is ActionKind.CONFIRM_FAILURES and context.get("taskId") == action.task_id
        )
    if name == "retrigger-multiple":
        requests = user_input.get("requests") or []
        asked = [label for request in requests for label in request.get("tasks") or []]
        return sorted(asked) == sorted(labels)
    return bool(name == "add-new-jobs" and sorted(user_input.get("tasks") or []) == sorted(labels))


def build_notification(
    action: Action, campaign: Campaign | None, links: Links = DEFAULT_LINKS
) -> Notification:
    details: dict[str, Any] = dict(action.details)
    if campaign is None:
        return Notification(
            key=action.key,
            campaign_id=action.campaign_id or "",
            kind=str(details.get("kind") or "watch"),
            outcome=str(details.get("state") or "finished"),
            title=action.why,
            text=action.why,
            details=details,
        )
    return campaign_notification(action.key, campaign, links)


def _describe_action(action: Action) -> str:
    if action.kind is ActionKind.ADD_NEW_JOBS:
        return f"add-new-jobs {', '.join(action.labels)} x{action.times}"
    return f"{action.kind.value} {action.task_id} x{action.times}"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]
