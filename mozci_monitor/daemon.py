"""The daemon: the one place where the edges are wired together.

Pulse deliveries → parse → engine (one store transaction per batch) → ack. A batch is acked
only after its transaction committed; if the store cannot be written, nothing is acked and
the same batch is retried until it can be, while the daemon reports itself not ready.
After the commit, the actuator performs the actions the batch queued in the outbox, and
the reconciler catches up through Taskcluster's REST API on what Pulse did not say.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from mozci_monitor import planner
from mozci_monitor.actuator import (
    ActionSource,
    Actuator,
    ActuatorSettings,
    Render,
    ResultsSource,
)
from mozci_monitor.api import (
    ActionView,
    ApiServer,
    CampaignSubmission,
    HealthView,
    SubmissionDefaults,
    SubmissionRefused,
    TimelineEntryView,
    build_campaign,
)
from mozci_monitor.api.submission import BUILDABLE_KINDS
from mozci_monitor.clock import utc_now
from mozci_monitor.config import Settings, instance_name
from mozci_monitor.core.action_tasks import Bounds
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.links import Links
from mozci_monitor.core.messages import MalformedMessage, Rejection, parse_message
from mozci_monitor.core.model import FINAL_REQUEST_STATES, Request, TaskEvent
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.metrics import LiveValues, Metrics
from mozci_monitor.notify import Sink
from mozci_monitor.observe import CampaignFinished, Observer, RequestChanged, guarded
from mozci_monitor.planner import Pushlog
from mozci_monitor.ports.store import DaemonStore, OutboxEntry, RetentionPolicy, StoreReader
from mozci_monitor.pulse import Delivery, task_group_binding
from mozci_monitor.reconciler import GroupSource, Reconciler
from mozci_monitor.sdnotify import SystemdNotifier
from mozci_monitor.service import run_systemd_integration
from mozci_monitor.sources import NotFound, SourceError
from mozci_monitor.sources.task_results import TaskResults, errorsummary_of_task

log = structlog.get_logger(__name__)

T = TypeVar("T")

EXIT_OK = 0
EXIT_STALLED = 3  # the consumer hung (e.g. on a silent broker): let the supervisor restart us


class ConsumerPort(Protocol):
    async def start(self) -> None: ...
    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]: ...
    def ack(self, deliveries: Sequence[Delivery]) -> None: ...
    def set_bindings(self, routing_keys: set[str]) -> None: ...
    def is_stalled(self, now: float) -> bool: ...
    async def stop(self, grace: float) -> None: ...


BINDINGS_KEY = "pulse.bound_groups"  # what the durable queue was last bound to


class TaskclusterPort(ActionSource, GroupSource, Protocol):
    pass


@dataclass
class Services:
    """The outside world the daemon acts on; absent, it only records (replay, tests)."""

    taskcluster: TaskclusterPort
    render: Render
    sinks: Sequence[Sink] = ()
    pushlog: Pushlog | None = None  # for planning campaigns over push ranges
    results: ResultsSource | None = None  # runs' test results, for campaigns judged by them
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass
class Health:
    store_writable: bool = True
    consumer_stalled: bool = False
    started: bool = False
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.started and self.store_writable and not self.consumer_stalled

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


def parse_deliveries(deliveries: Sequence[Delivery]) -> list[TaskEvent | Rejection]:
    items: list[TaskEvent | Rejection] = []
    for delivery in deliveries:
        try:
            items.append(parse_message(delivery.exchange, delivery.routing_key, delivery.body))
        except MalformedMessage as error:
            items.append(
                Rejection(delivery.exchange, delivery.routing_key, error.reason, delivery.body)
            )
    return items


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        store: DaemonStore,
        consumer: ConsumerPort,
        services: Services | None = None,
        wall_clock: Callable[[], str] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        notifier: SystemdNotifier | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        # Typed events for whoever follows the daemon (the demo's timeline): not log lines.
        self._observe = guarded(observer)
        self.instance = instance_name(settings)
        self.health = Health()
        self._open_requests = 0
        self.metrics = Metrics(
            LiveValues(
                open_requests=lambda: self._open_requests,
                consumer_connected=lambda: self._consumer_health("connected", True),
                consumer_reconnects=lambda: self._consumer_health("reconnects", 0),
                store_writable=lambda: self.health.store_writable,
                ready=lambda: self.api_health().ready,
            )
        )
        # Set by build_daemon when [api] is enabled; started and stopped with the daemon.
        self.api_server: ApiServer | None = None
        self._notifier = notifier if notifier is not None else SystemdNotifier()
        self._store = store
        budget = settings.actions.max_per_repo_day or None
        self.engine = Engine(
            store,
            repo_day_budget=budget,
            bounds=Bounds(
                run_appear_seconds=settings.actions.run_appear_timeout,
                open_seconds=settings.actions.request_timeout,
            ),
            root_url=settings.sources.taskcluster_root_url,
            results=store,
        )
        self._consumer = consumer
        self._now = wall_clock
        self._monotonic = monotonic
        self._stop = asyncio.Event()
        self._exit_code = EXIT_OK
        # SQLite work stays on one thread: the event loop never blocks on disk.
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        # People's reads (API, status page) have their own connection and thread, so they
        # never queue behind message commits, nor delay them.
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        self._reader: StoreReader | None = None
        self._bound: set[str] = set()
        self._bindings_applied = False  # the first refresh always tells the consumer
        self._downstream_groups: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._services = services
        self.actuator: Actuator | None = None
        self.reconciler: Reconciler | None = None
        if services is not None:
            self.actuator = Actuator(
                in_store=self.in_store,
                store=store,
                taskcluster=services.taskcluster,
                render=services.render,
                sinks=services.sinks,
                on_permanent_failure=self._action_abandoned,
                on_result=self.metrics.action_done,
                results=services.results,
                on_results=self._results_read,
                observer=observer,
                on_action_task=self._action_task_created,
                now=wall_clock,
                settings=ActuatorSettings(
                    dry_run=settings.actions.dry_run,
                    max_attempts=settings.actions.max_attempts,
                    owner=self.instance,
                    lease_seconds=settings.store.lease_seconds,
                    links=Links(
                        settings.sources.treeherder_url, settings.sources.taskcluster_root_url
                    ),
                ),
            )
            self.reconciler = Reconciler(
                engine=self.engine,
                store=store,
                in_store=self.in_store,
                taskcluster=services.taskcluster,
                now=wall_clock,
                on_outcome=self._after_commit,
                concurrency=settings.sources.max_concurrency,
                owner=self.instance,
                lease_seconds=0.8 * settings.daemon.reconcile_interval,
            )

    async def in_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call on the store's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._store_thread, functools.partial(fn, *args, **kwargs)
        )

    async def in_reader(self, fn: Callable[[StoreReader], T]) -> T:
        """Run `fn(reader)` on the read-only view of the store, on its own thread."""

        def call() -> T:
            if self._reader is None:
                self._reader = self._store.reader()
            return fn(self._reader)

        return await asyncio.get_running_loop().run_in_executor(self._read_thread, call)

    def request_stop(self, exit_code: int = EXIT_OK) -> None:
        if not self._stop.is_set():
            self._exit_code = exit_code
            self._stop.set()

    async def run(self, *, install_signal_handlers: bool = True) -> int:
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop)
        await self._refresh_bindings(reconcile_new=False)
        await self._consumer.start()
        self.health.started = True
        if self.api_server is not None:
            await self.api_server.start()
        log.info("daemon started", queue=self.settings.pulse.queue, groups=len(self._bound))
        # READY once alive, WATCHDOG while alive, STOPPING when _stop is set (no-ops
        # without NOTIFY_SOCKET).
        systemd = asyncio.create_task(
            run_systemd_integration(self._notifier, self.api_health, self._stop), name="systemd"
        )
        workers = [
            asyncio.create_task(self._consume(), name="consume"),
            asyncio.create_task(self._watch_bindings(), name="bindings"),
            asyncio.create_task(self._watch_consumer(), name="stall-watch"),
            asyncio.create_task(self._probe_store(), name="store-probe"),
        ]
        if self.settings.retention.interval > 0:
            workers.append(asyncio.create_task(self._supervise(self._prune_loop), name="prune"))
        if self.actuator is not None:
            # Unfinished outbox entries from before a restart are retried now.
            workers.append(asyncio.create_task(self._supervise(self.actuator.run), name="outbox"))
            self.actuator.wake()
        if self.reconciler is not None:
            workers.append(asyncio.create_task(self._supervise(self._reconcile_loop), name="rec"))
        try:
            await self._stop.wait()
        finally:
            self._stop.set()  # also on cancellation: the systemd task must see it
            await asyncio.gather(systemd, return_exceptions=True)  # sends STOPPING=1
            await self._shutdown(workers, install_signal_handlers)
            if self.api_server is not None:
                await self.api_server.stop()
            self._notifier.close()
        log.info("daemon stopped", exit_code=self._exit_code, **self.health.counters)
        return self._exit_code

    async def _shutdown(self, workers: list[asyncio.Task[Any]], signals: bool) -> None:
        self.health.started = False
        log.info("daemon stopping", exit_code=self._exit_code)
        for worker in workers[1:]:
            worker.cancel()
        for task in list(self._background):
            task.cancel()
        # The consume loop notices the stop between batches: in-flight work is committed
        # and acked before the consumer closes.
        grace = self.settings.daemon.shutdown_grace
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(workers[0], timeout=grace)
        await asyncio.gather(*workers[1:], *self._background, return_exceptions=True)
        await self._consumer.stop(grace)
        if self.actuator is not None:
            # Hand back this instance's claims: others take them at once, not after a lease.
            with contextlib.suppress(Exception):
                await self.in_store(self._store.release_actions, self.instance)
        self._read_thread.shutdown(wait=True)
        self._store_thread.shutdown(wait=True)
        if self._services is not None:
            for close in self._services.closers:
                with contextlib.suppress(Exception):
                    await close()
        if signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    async def _supervise(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Keep a background loop alive: log its failure, wait, start it again."""
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.error("background loop failed; restarting", error=repr(error))
                await asyncio.sleep(2.0)

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run follow-up work in the background, again and again until it succeeds: a
        catch-up that meets an unwritable store must not be lost until the next timer."""

        async def until_done() -> None:
            delay = 0.5
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.warning("background work failed; retrying", task=name, error=repr(error))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.settings.daemon.store_retry_max)

        task = asyncio.create_task(until_done(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # -- consuming ------------------------------------------------------------------------

    async def _consume(self) -> None:
        settings = self.settings.daemon
        while not self._stop.is_set():
            batch = await self._consumer.get_batch(settings.batch_max, settings.batch_wait)
            if batch:
                await self._handle(batch)

    async def _handle(self, batch: Sequence[Delivery]) -> None:
        received = self._monotonic()
        items = parse_deliveries(batch)
        outcome = await self._commit(items)
        committed = self._monotonic()
        self._consumer.ack(batch)
        self.metrics.observe_batch(
            outcome.by_exchange,
            malformed=[item.exchange for item in items if isinstance(item, Rejection)],
            processing_seconds=committed - received,
            ack_seconds=self._monotonic() - received,
        )
        self._report(outcome, items)
        await self._after_commit(outcome)

    async def _commit(self, items: list[TaskEvent | Rejection]) -> BatchOutcome:
        """Commit the batch, retrying while the store cannot be written; never gives up."""
        delay = 0.1
        while True:
            try:
                outcome = await self.in_store(self.engine.apply, items, self._now())
            except Exception as error:  # the store is down: keep the batch, do not ack
                if self.health.store_writable:
                    log.error("store not writable; holding the batch unacked", error=repr(error))
                self.health.store_writable = False
                self.health.count("store_errors")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.daemon.store_retry_max)
                continue
            if not self.health.store_writable:
                log.info("store writable again")
            self.health.store_writable = True
            return outcome

    async def _after_commit(self, outcome: BatchOutcome) -> None:
        """What a committed change sets in motion: actions, label look-ups, expansions."""
        for campaign in outcome.finished_campaigns.values():
            self.health.count("campaigns_finished")
            self.metrics.campaign_finished(campaign.kind.value, campaign.state.value)
            log.info(
                "campaign finished",
                campaign=campaign.campaign_id,
                kind=campaign.kind.value,
                state=campaign.state.value,
                outcome=campaign.outcome,
            )
            self._observe(
                CampaignFinished(
                    campaign.campaign_id,
                    campaign.kind.value,
                    campaign.state.value,
                    campaign.outcome,
                )
            )
        if outcome.actions and self.actuator is not None:
            self.health.count("actions_queued", outcome.actions)
            self.actuator.wake()
        if self.reconciler is None:
            return
        if outcome.unlabelled:
            unlabelled = list(outcome.unlabelled)
            reconciler = self.reconciler
            self._spawn(lambda: reconciler.resolve_labels(unlabelled), "labels")
        completed = outcome.completed_tasks
        # A decision task's id is its group's: once it is done, the push's graph is known,
        # and missing runs, never-scheduled labels and fills can be acted on at once.
        graph_known = {t.task_group_id for t in completed if t.task_id == t.task_group_id}
        expand = graph_known | ({t.task_group_id for t in completed} & self._downstream_groups)
        if expand:
            reconciler = self.reconciler
            self._spawn(lambda: reconciler.reconcile_groups(expand), "graph-known")
        if any(r.state in FINAL_REQUEST_STATES for r in outcome.changed_requests.values()):
            await self._refresh_bindings()

    def _report(self, outcome: BatchOutcome, items: Sequence[TaskEvent | Rejection]) -> None:
        health = self.health
        health.count("messages", len(items))
        health.count("applied", outcome.applied)
        health.count("duplicates", outcome.duplicates)
        health.count("stale", outcome.stale)
        health.count("unwatched", outcome.unwatched)
        health.count("rejected", outcome.rejected)
        for item in items:
            if isinstance(item, Rejection):
                log.warning(
                    "rejected message",
                    exchange=item.exchange[:200],
                    routing_key=item.routing_key[:200],
                    reason=item.reason,
                )
        for request in outcome.changed_requests.values():
            # Every transition at info would cost more than the work it reports (measured:
            # a quarter of the event loop's time under load); the ends stay at info.
            emit = log.info if request.is_final else log.debug
            failure = request.failure.value if request.failure else None
            emit(
                "request changed",
                request=request.request_id,
                label=request.label,
                state=request.state.value,
                failure=failure,
                reason=request.reason,
            )
            self._observe(
                RequestChanged(
                    request.request_id, request.label, request.state.value, failure, request.reason
                )
            )

    # -- bindings and catch-up ------------------------------------------------------------

    async def _watch_bindings(self) -> None:
        while True:
            await asyncio.sleep(self.settings.daemon.bindings_refresh)
            await self._refresh_bindings()

    async def _refresh_bindings(self, *, reconcile_new: bool = True) -> None:
        try:
            groups = await self.in_store(self._store.open_task_groups)
            campaigns = await self.in_store(
                lambda: list(self._store.iter_campaigns(open_only=True))
            )
            self._open_requests = await self.in_store(self._store.count_open_requests)
        except Exception as error:
            log.warning("cannot read watched groups", error=repr(error))
            return
        self._downstream_groups = {
            c.push.task_group_id for c in campaigns if c.kind is CampaignKind.DOWNSTREAM
        }
        if groups == self._bound and self._bindings_applied:
            return
        for cache in (self.reconciler, self.actuator):
            if cache is not None:
                cache.forget_unwatched(groups)
        self._bindings_applied = True
        added, removed = groups - self._bound, self._bound - groups
        self._consumer.set_bindings({task_group_binding(group) for group in groups})
        log.info("bindings changed", added=sorted(added), removed=sorted(removed))
        self._bound = groups
        with contextlib.suppress(Exception):  # a hint for the next start, not a state
            await self.in_store(self._store.set_meta, BINDINGS_KEY, json.dumps(sorted(groups)))
        if added and reconcile_new and self.reconciler is not None:
            # Tasks that changed before the binding existed are only visible through REST.
            reconciler = self.reconciler
            self._spawn(lambda: reconciler.reconcile_groups(added), "catch-up")

    async def _reconcile_loop(self) -> None:
        assert self.reconciler is not None
        seen = self._consumer_generation()
        await self.reconciler.reconcile_all()
        interval = self.settings.daemon.reconcile_interval
        next_full = self._monotonic() + interval
        while True:
            await asyncio.sleep(1.0)
            generation = self._consumer_generation()
            if generation != seen or self._monotonic() >= next_full:
                caught_up = generation != seen
                if caught_up:
                    log.info("consumer reconnected or queue re-created; reconciling")
                seen = generation
                next_full = self._monotonic() + interval
                await self.reconciler.reconcile_all(force=caught_up)

    def _consumer_generation(self) -> int:
        health = getattr(self._consumer, "health", None)
        return int(getattr(health, "generation", 0)) if health is not None else 0

    async def _watch_consumer(self) -> None:
        stall = self.settings.daemon.stall_timeout or 2 * self.settings.pulse.heartbeat
        while True:
            await asyncio.sleep(min(1.0, stall / 4))
            stalled = self._consumer.is_stalled(self._monotonic())
            if stalled and not self.health.consumer_stalled:
                log.error("pulse consumer stalled; exiting for the supervisor to restart us")
                self.health.consumer_stalled = True
                self.request_stop(EXIT_STALLED)
            self.health.consumer_stalled = stalled

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention.interval)
            await self.prune_once()

    async def prune_once(self) -> dict[str, int]:
        """Keep the store bounded: delete what retention lets go, one small batch per store
        call, so message commits interleave with it (it is never one long transaction)."""
        retention = self.settings.retention
        policy = RetentionPolicy(
            rejected_days=retention.rejected_days,
            rejected_max_rows=retention.rejected_max_rows,
            finished_task_days=retention.finished_task_days,
            batch=retention.batch,
        )
        now = datetime.fromisoformat(self._now().replace("Z", "+00:00"))
        deleted: dict[str, int] = {}
        while step := (await self.in_store(self._store.prune_step, policy, now)).deleted:
            for table, rows in step.items():
                deleted[table] = deleted.get(table, 0) + rows
        if deleted:
            log.info("store pruned", **deleted)
        return deleted

    async def _probe_store(self, interval: float = 10.0) -> None:
        """Notice an unwritable store even when no message arrives to fail on it."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.in_store(self._store.probe_writable)
            except Exception as error:
                if self.health.store_writable:
                    log.error("store not writable", error=repr(error))
                self.health.store_writable = False
            else:
                self.health.store_writable = True

    def _consumer_health(self, name: str, default: Any) -> Any:
        return getattr(getattr(self._consumer, "health", None), name, default)

    def api_health(self) -> HealthView:
        """Alive: started and the consumer loop is recent (the watchdog is fed only then).
        Ready: also connected to the broker and the store writable."""
        stalled = self._consumer.is_stalled(self._monotonic())
        checks = {
            "started": self.health.started,
            "broker_connected": bool(self._consumer_health("connected", True)),
            "store_writable": self.health.store_writable,
            "consumer_loop_fresh": not stalled,
        }
        reasons = tuple(name.replace("_", " ") + ": no" for name, ok in checks.items() if not ok)
        messages = self.health.counters.get("messages", 0)
        status = (
            f"{len(self._bound)} task groups watched, {self._open_requests} open requests,"
            f" {messages} messages"
            if not reasons
            else "not ready: " + "; ".join(reasons)
        )
        return HealthView(
            alive=self.health.started and not stalled,
            ready=not reasons,
            reasons=reasons,
            checks=checks,
            status=status,
        )

    async def _action_task_created(self, action: Action, task_id: str, route: str) -> None:
        outcome = await self.in_store(
            self.engine.action_task_created, action, task_id, route, self._now()
        )
        await self._after_commit(outcome)

    async def _action_abandoned(self, action: Action, error: str) -> None:
        if action.kind is ActionKind.FETCH_RESULTS:
            # Results that cannot be read are missing data for that run, not the end of
            # the request: the run is judged as not having run the test.
            await self._results_read(action, None)
            return
        outcome = await self.in_store(self.engine.action_failed, action, error, self._now())
        await self._after_commit(outcome)

    async def _results_read(
        self, action: Action, results: tuple[str, dict[str, Any]] | None
    ) -> None:
        outcome = await self.in_store(self.engine.apply_results, action, results, self._now())
        await self._after_commit(outcome)

    # -- used by the CLI, the demo and tests ----------------------------------------------

    async def register(self, request: Request) -> Request:
        registered = await self.in_store(self.engine.register, request, self._now())
        await self._refresh_bindings()
        return registered

    async def start_campaign(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign:
        started = await self.in_store(self.engine.start_campaign, campaign, requests, self._now())
        await self._refresh_bindings()
        if self.actuator is not None:
            self.actuator.wake()
        return started

    async def cancel_campaign(self, campaign_id: str, reason: str) -> Campaign | None:
        canceled = await self.in_store(
            self.engine.cancel_campaign, campaign_id, reason, self._now()
        )
        await self._refresh_bindings()  # its groups may no longer need watching
        if self.actuator is not None:
            self.actuator.wake()  # the end-of-campaign notification
        return canceled


class DaemonApiBackend:
    """`mozci_monitor.api.ApiBackend` over the daemon: reads on the store's read-only view."""

    def __init__(self, daemon: Daemon, store: DaemonStore, defaults: SubmissionDefaults) -> None:
        self._daemon = daemon
        self._store = store
        self._defaults = defaults

    async def list_campaigns(self, *, open_only: bool, limit: int) -> list[Campaign]:
        return await self._daemon.in_reader(
            lambda reader: reader.list_campaigns(open_only=open_only, limit=limit)
        )

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        def find(reader: StoreReader) -> Campaign | None:
            exact = reader.get_campaign(campaign_id)
            if exact is not None:
                return exact
            matches = reader.find_campaigns(campaign_id)
            return matches[0] if len(matches) == 1 else None

        return await self._daemon.in_reader(find)

    async def campaign_requests(self, campaign_id: str) -> list[Request]:
        return await self._daemon.in_reader(lambda reader: reader.campaign_requests(campaign_id))

    async def request_timeline(self, request_id: str) -> list[TimelineEntryView]:
        entries = await self._daemon.in_reader(lambda reader: reader.timeline(request_id))
        return [TimelineEntryView(e.seq, e.at, e.kind, e.task_id, e.detail) for e in entries]

    async def campaign_actions(self, campaign_id: str) -> list[ActionView]:
        def collect(reader: StoreReader) -> list[OutboxEntry]:
            entries = reader.actions_of(campaign_id=campaign_id)
            for request in reader.campaign_requests(campaign_id):
                entries += reader.actions_of(request_id=request.request_id)
            return list({entry.key: entry for entry in entries}.values())

        return [
            ActionView(
                key=e.key,
                kind=e.action.kind.value,
                state=e.state,
                why=e.action.why,
                result=e.result,
                error=e.last_error,
                request_id=e.action.request_id,
            )
            for e in await self._daemon.in_reader(collect)
        ]

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        if submission.kind in BUILDABLE_KINDS:
            campaign, requests = build_campaign(submission, self._defaults)
        else:
            plan = await plan_submission(submission, self._daemon._services, self._defaults)
            campaign, requests = plan.campaign, list(plan.requests)
        return await self._daemon.start_campaign(campaign, requests)

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None:
        return await self._daemon.cancel_campaign(campaign_id, reason)

    def health(self) -> HealthView:
        return self._daemon.api_health()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", task=task.get_name(), error=repr(task.exception()))


def build_services(settings: Settings, *, pulse_url: str | None = None) -> Services:
    """Taskcluster client and notification sinks from the settings (one HTTP session)."""
    from mozci_monitor.notify import build_sinks, close_sinks, make_notify_client
    from mozci_monitor.sources import render_choice
    from mozci_monitor.sources.clients import SourceSettings, create_clients
    from mozci_monitor.sources.jsonhttp import create_session
    from mozci_monitor.sources.politeness import Policy
    from mozci_monitor.sources.taskcluster import credentials_from_environment

    sources = settings.sources
    session = create_session()
    _, credentials = credentials_from_environment()
    concurrency = sources.max_concurrency
    clients = create_clients(
        session,
        SourceSettings(
            taskcluster_root_url=sources.taskcluster_root_url,
            taskcluster_credentials=credentials,
            treeherder_url=sources.treeherder_url,
            hg_url=sources.hg_url,
            policies={
                name: Policy(rate_limit=rate, max_concurrency=concurrency)
                for name, rate in (
                    ("taskcluster", sources.taskcluster_rate),
                    ("treeherder", sources.treeherder_rate),
                    ("hgmo", sources.hg_rate),
                )
            },
        ),
    )
    notify_config = dict(settings.notify)
    notify_config.setdefault("taskcluster_root_url", sources.taskcluster_root_url)
    notify_client = None
    if "taskcluster" in notify_config.get("sinks", ()):
        notify_client = make_notify_client(
            sources.taskcluster_root_url, session=session, credentials=credentials
        )
    sinks = build_sinks(
        notify_config, session=session, notify_client=notify_client, pulse_url=pulse_url
    )

    async def close() -> None:
        await close_sinks(sinks)
        await session.close()

    taskcluster = clients.taskcluster

    async def results(task_id: str) -> TaskResults | None:
        return await errorsummary_of_task(taskcluster, task_id)

    return Services(
        taskcluster=clients.taskcluster,
        render=render_choice,
        sinks=sinks,
        pushlog=clients.hgmo,
        results=results,
        closers=[close],
    )


def build_store(settings: Settings) -> DaemonStore:
    """The configured store: SQLite on one host, PostgreSQL for several daemons."""
    if settings.store.backend == "postgres":
        from mozci_monitor.store.postgres import PostgresStore

        return PostgresStore(settings.store.dsn, migrate=settings.store.migrate_on_start)
    from mozci_monitor.store.sqlite import SqliteStore

    return SqliteStore(settings.store.path)


def build_daemon(settings: Settings) -> Daemon:
    """Wire the production edges: the store, kombu consumer, Taskcluster, sinks."""
    from mozci_monitor.config import pulse_url
    from mozci_monitor.pulse import ConsumerSettings, PulseConsumer

    pulse = settings.pulse
    url = pulse_url(pulse)
    store = build_store(settings)
    # The durable queue keeps the bindings of the last run: start from them, so that the
    # first set_bindings() removes those of campaigns that ended while we were down.
    previous = json.loads(store.get_meta(BINDINGS_KEY) or "[]")
    consumer = PulseConsumer(
        ConsumerSettings(
            url=url,
            queue_name=pulse.queue,
            routing_keys=tuple(task_group_binding(group) for group in previous),
            prefetch=pulse.prefetch,
            heartbeat=pulse.heartbeat,
            declare_exchanges=pulse.declare_exchanges,
            reconnect_max_delay=pulse.reconnect_max_delay,
        )
    )
    daemon = Daemon(
        settings,
        store=store,
        consumer=consumer,
        services=build_services(settings, pulse_url=url),
    )
    if settings.api.enabled:
        from mozci_monitor.api import ApiOptions
        from mozci_monitor.config import api_token

        backend = DaemonApiBackend(
            daemon,
            store,
            SubmissionDefaults(
                max_actions_per_request=settings.actions.max_per_request,
                max_actions_per_campaign=settings.actions.max_per_campaign,
            ),
        )
        daemon.api_server = ApiServer(
            backend,
            ApiOptions(
                host=settings.api.host,
                port=settings.api.port,
                token=api_token(settings),
                max_body_bytes=settings.api.max_body_bytes,
                links=Links(settings.sources.treeherder_url, settings.sources.taskcluster_root_url),
            ),
            metrics=daemon.metrics,
        )
    return daemon


async def plan_submission(
    submission: CampaignSubmission, services: Services | None, defaults: SubmissionDefaults
) -> planner.Plan:
    """Plan a submission with its kind's planner; refusals say which field is at fault."""
    kind = submission.kind
    if services is None:
        raise SubmissionRefused(
            f"kind: {kind.value} campaigns are planned from the sources,"
            " which this daemon has not configured",
            "kind",
        )
    try:
        return await planner.plan_campaign(submission, services, defaults.budgets(submission))
    except planner.SourcesMissing:
        raise SubmissionRefused(
            f"kind: {kind.value} campaigns are planned from the sources,"
            " which this daemon has not configured",
            "kind",
        ) from None
    except planner.PlanError as error:
        raise SubmissionRefused(str(error)) from None
    except NotFound as error:
        raise SubmissionRefused(f"not found in the sources: {error}", "revision") from None
    except SourceError as error:
        raise SubmissionRefused(f"the sources could not plan it: {error}", None, 503) from None
