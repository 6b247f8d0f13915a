"""The daemon's lifecycle: its loops, its health, its shutdown.

It is built by the composition root (`mozci_monitor.wiring`), which hands it the store,
the consumer, the engine and, when the outside world is configured, the actuator, the
reconciler and the API server.

Pulse deliveries → parse → engine (one store transaction per batch) → ack. A batch is acked
only after its transaction committed; if the store cannot be written, nothing is acked and
the same batch is retried until it can be, while the daemon reports itself not ready.
After the commit, the actuator performs the actions the batch queued in the outbox, and
the reconciler catches up through Taskcluster's REST API on what Pulse did not say.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from mozci_monitor.actuator import Actuator
from mozci_monitor.api.backend import HealthView
from mozci_monitor.clock import utc_now
from mozci_monitor.config import Settings, instance_name
from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.messages import MalformedMessage, Rejection
from mozci_monitor.core.model import FINAL_REQUEST_STATES, Request, TaskEvent
from mozci_monitor.decoding import decode_message
from mozci_monitor.engine import BatchOutcome, Engine
from mozci_monitor.metrics import LiveValues, Metrics
from mozci_monitor.observe import CampaignFinished, Observer, RequestChanged, guarded, ignore
from mozci_monitor.ports.pulse import ConsumerPort, Delivery, task_group_binding
from mozci_monitor.ports.store import DaemonStore, RetentionPolicy, StoreReader
from mozci_monitor.reconciler import Reconciler
from mozci_monitor.sdnotify import SystemdNotifier
from mozci_monitor.service import run_systemd_integration
from mozci_monitor.shutdown import RECANCEL_WAIT, StepOutcome, run_within, stop_within

log = structlog.get_logger(__name__)

T = TypeVar("T")

EXIT_OK = 0
EXIT_STALLED = 3  # the consumer hung (e.g. on a silent broker): let the supervisor restart us

# Shutdown bounds (see Daemon._shutdown): every step after the workers' own grace.
STEP_TIMEOUT = 2.0  # closing a session, releasing claims, stopping the API server
CONSUMER_CLOSE_MIN = 2.0  # the broker connection's close, even when the workers overran
_BOUNDED_STEPS = 5  # systemd STOPPING, store thread, read thread, closing services, API


def worst_case_shutdown(grace: float) -> float:
    """The longest `Daemon.run` can take to return once asked to stop, whatever hangs:
    each step below waits at most its bound, then one re-cancel wait, and goes on.
    systemd's TimeoutStopSec must be longer (tests/test_systemd_unit.py checks it)."""
    recancel = RECANCEL_WAIT
    workers = grace + recancel
    consumer = CONSUMER_CLOSE_MIN + 1.0 + recancel  # its own grace + 1 s for the thread join
    return workers + consumer + _BOUNDED_STEPS * (STEP_TIMEOUT + recancel)


BINDINGS_KEY = "pulse.bound_groups"  # what the durable queue was last bound to


class ApiServerPort(Protocol):
    """The HTTP server the daemon starts and stops with itself (`api.ApiServer`)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Health:
    store_writable: bool = True
    # A batch commit failed and none succeeded since: the store is not writable whatever
    # the periodic probe says (a probe writes nothing and succeeds on a full disk).
    commit_failing: bool = False
    consumer_stalled: bool = False
    started: bool = False
    # The broker did not answer at start; the daemon keeps trying, alive but not ready.
    awaiting_broker: bool = False
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
            items.append(decode_message(delivery.exchange, delivery.routing_key, delivery.body))
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
        engine: Engine,
        consumer_factory: Callable[[], ConsumerPort] | None = None,
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
                consumer_connected=lambda: self._consumer.health.connected,
                consumer_reconnects=lambda: self._consumer.health.reconnects,
                store_writable=lambda: self.health.store_writable,
                ready=lambda: self.api_health().ready,
            )
        )
        self._notifier = notifier if notifier is not None else SystemdNotifier()
        self._store = store
        self.engine = engine
        self._consumer = consumer
        # Builds a fresh consumer when the first cannot reach the broker at start.
        self._consumer_factory = consumer_factory
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
        # The actuator's claims and marks too, where the store gives them a connection of
        # their own (PostgreSQL): behind the batches queued on the store thread they would
        # wait for every one of them on every action.
        self._outbox_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._bound: set[str] = set()
        self._bindings_applied = False  # the first refresh always tells the consumer
        self._bindings_due = asyncio.Event()  # a request ended: refresh soon, not inline
        self._downstream_groups: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        # Attached by the composition root when the outside world is configured; without
        # them the daemon only records (replay, tests).
        # Names of the tasks and steps that did not stop within their shutdown deadline:
        # the process must exit without waiting for them (see cli.run_daemon_process).
        self.left_behind: list[str] = []
        self.actuator: Actuator | None = None
        self.reconciler: Reconciler | None = None
        self.api_server: ApiServerPort | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def attach(
        self,
        *,
        actuator: Actuator | None = None,
        reconciler: Reconciler | None = None,
        api_server: ApiServerPort | None = None,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        """Give the daemon the parts that call back into it (built by `wiring`)."""
        if actuator is not None:
            self.actuator = actuator
        if reconciler is not None:
            self.reconciler = reconciler
        if api_server is not None:
            self.api_server = api_server
        self._closers.extend(closers)

    async def in_store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call on the store's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._store_thread, functools.partial(fn, *args, **kwargs)
        )

    async def in_outbox(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an outbox call on the actuator's own thread (its own store connection)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._outbox_thread, functools.partial(fn, *args, **kwargs)
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
        try:
            await self._refresh_bindings(reconcile_new=False)
            # Serving before the broker answers: /readyz says why it is not ready yet.
            if self.api_server is not None:
                await self.api_server.start()
        except BaseException:
            # Nothing started: release what was built for the run (HTTP sessions, sinks,
            # the store thread) so a failed start exits cleanly.
            await self._release(install_signal_handlers)
            raise
        # READY once alive, WATCHDOG while alive, STOPPING when _stop is set (no-ops
        # without NOTIFY_SOCKET).
        systemd = asyncio.create_task(
            run_systemd_integration(self._notifier, self.api_health, self._stop), name="systemd"
        )
        try:
            consuming = await self._start_consumer()
        except BaseException:
            await self._abort_start(systemd, install_signal_handlers)
            raise
        if not consuming:  # asked to stop while waiting for the broker
            await self._abort_start(systemd, install_signal_handlers)
            log.info("daemon stopped", exit_code=self._exit_code, **self.health.counters)
            return self._exit_code
        self.health.started = True
        self.health.awaiting_broker = False
        log.info("daemon started", queue=self.settings.pulse.queue, groups=len(self._bound))
        # What start-up built (modules, settings, clients, sessions) lives as long as the
        # process: out of the collector's sight, a full collection under load no longer
        # walks it, which made the longest pauses behind the latency's 99th percentile.
        gc.collect()
        gc.freeze()
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
            # sends STOPPING=1 at once (it waits on _stop)
            self.left_behind += await stop_within([systemd], STEP_TIMEOUT, step="systemd")
            await self._shutdown(workers, install_signal_handlers)
            api_server = self.api_server
            if api_server is not None:
                await self._step(api_server.stop, "api-stop")
            self._notifier.close()
            gc.unfreeze()  # collectable again (a process that runs another daemon later)
        log.info("daemon stopped", exit_code=self._exit_code, **self.health.counters)
        return self._exit_code

    async def _start_consumer(self) -> bool:
        """Start consuming. While the broker cannot be reached and the composition root
        gave a way to build a fresh consumer, keep trying, alive (the API serves, the
        watchdog is fed) but not ready, so that a broker outage at start does not make the
        supervisor give up. False: asked to stop before the broker answered."""
        delay = 1.0
        while True:
            starting = asyncio.create_task(self._consumer.start(), name="consumer-start")
            stopping = asyncio.create_task(self._stop.wait(), name="stop-wait")
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not starting.done():
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await self._consumer.stop(0.0)
                return False
            try:
                starting.result()
                return True
            except ConnectionError as error:
                if self._consumer_factory is None:
                    raise
                self.health.awaiting_broker = True
                self.health.count("broker_unreachable")
                log.error("broker unreachable; retrying", error=str(error), retry_in=delay)
            with contextlib.suppress(Exception):
                await self._consumer.stop(0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: gh-86296 (shutdown.py)
                    await self._stop.wait()
            if self._stop.is_set():
                return False
            delay = min(2 * delay, self.settings.pulse.reconnect_max_delay)
            self._consumer = self._consumer_factory()
            self._bindings_applied = False  # the fresh consumer is told the bindings
            await self._refresh_bindings(reconcile_new=False)

    async def _abort_start(self, systemd: asyncio.Task[None], signals: bool) -> None:
        self._stop.set()
        await asyncio.gather(systemd, return_exceptions=True)  # sends STOPPING=1
        if self.api_server is not None:
            await self.api_server.stop()
        await self._release(signals)
        self._notifier.close()

    async def _shutdown(self, workers: list[asyncio.Task[Any]], signals: bool) -> None:
        """Stop everything, bounded by construction (`worst_case_shutdown`).

        What does not stop in time is named in the log and left behind (`left_behind`):
        the process must exit before systemd's TimeoutStopSec, never wait for SIGKILL.
        """
        self.health.started = False
        log.info("daemon stopping", exit_code=self._exit_code)
        loop = asyncio.get_running_loop()
        grace = self.settings.daemon.shutdown_grace
        deadline = loop.time() + grace
        for worker in workers[1:]:
            worker.cancel()
        for task in list(self._background):
            task.cancel()
        # The consume loop is not cancelled: it notices the stop between batches, so the
        # batch in flight is committed and acked before the consumer closes.
        self.left_behind += await stop_within([*workers, *self._background], grace, step="workers")
        consumer_grace = max(deadline - loop.time(), min(grace, CONSUMER_CLOSE_MIN))
        consumer = self._consumer
        await self._step(
            lambda: consumer.stop(consumer_grace), "consumer-stop", consumer_grace + 1.0
        )
        # Hand back this instance's claims: others take them at once, not after a lease.
        await self._release(signals, claims=self.actuator is not None)

    async def _release(self, signals: bool, *, claims: bool = False) -> None:
        """Release what was built for the run (store threads, HTTP sessions, sinks, signal
        handlers), each step bounded: used by the shutdown and by a start that failed."""
        loop = asyncio.get_running_loop()
        last: Callable[[], object] = _nothing
        if claims:
            last = functools.partial(self._store.release_actions, self.instance)
        await self._close_thread(self._store_thread, last, "store thread")
        await self._close_thread(self._read_thread, _nothing, "store-read thread")
        await self._close_thread(self._outbox_thread, _nothing, "outbox thread")
        closers = list(self._closers)

        async def close_all() -> None:
            for close in closers:
                try:
                    await close()
                except Exception as error:
                    log.warning("shutdown: closing failed", error=repr(error))

        await self._step(close_all, "close-services")
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    async def _close_thread(
        self, executor: ThreadPoolExecutor, last: Callable[[], object], name: str
    ) -> None:
        """Run `last` on the executor's one thread, then shut it down, within STEP_TIMEOUT.

        Once `last` has run, every call queued before it has too. A thread stuck in a call
        is not waited for (shutdown(wait=True) would block the event loop for as long as
        the call hangs): it is named in the log and left behind."""
        last_call: concurrent.futures.Future[object] = executor.submit(last)

        async def finished() -> None:
            await asyncio.wrap_future(last_call)

        await self._step(finished, f"{name}: last call")
        # Cancelling the wait does not stop a call the thread is in: ask the call itself.
        idle = last_call.done() and not last_call.cancelled()
        if not idle:
            log.error(
                "shutdown: a store thread is stuck in a call; not waiting for it", thread=name
            )
            self.left_behind.append(name)
        executor.shutdown(wait=idle, cancel_futures=True)

    async def _step(
        self,
        work: Callable[[], Coroutine[Any, Any, object]],
        name: str,
        within: float | None = None,
    ) -> StepOutcome:
        """One bounded shutdown step (`within` s, STEP_TIMEOUT by default). A step that
        hangs is left behind (and named), one that fails is logged: the shutdown goes on."""
        outcome = await run_within(work, STEP_TIMEOUT if within is None else within, step=name)
        if outcome is StepOutcome.LEFT:
            self.left_behind.append(name)
        return outcome

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
        self._report(outcome, items, committed - received)
        await self.after_commit(outcome)

    async def _commit(self, items: list[TaskEvent | Rejection]) -> BatchOutcome:
        """Commit the batch, retrying while the store cannot be written; never gives up."""
        delay = 0.1
        while True:
            try:
                outcome = await self.in_store(self.engine.apply, items, self._now())
            except Exception as error:  # the store is down: keep the batch, do not ack
                # Said once per held batch: the write probe may have found the store
                # unwritable first, and that must not silence what the consumer does about it.
                if not self.health.commit_failing:
                    log.error("store not writable; holding the batch unacked", error=repr(error))
                self.health.store_writable = False
                self.health.commit_failing = True
                self.health.count("store_errors")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.daemon.store_retry_max)
                continue
            if not self.health.store_writable:
                log.info("store writable again")
            self.health.store_writable = True
            self.health.commit_failing = False
            return outcome

    async def after_commit(self, outcome: BatchOutcome) -> None:
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
            # Its group may need no watching any more: the bindings task looks (three store
            # reads and maybe unbinds), so the next batch does not wait for it.
            self._bindings_due.set()

    def _report(
        self, outcome: BatchOutcome, items: Sequence[TaskEvent | Rejection], seconds: float
    ) -> None:
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
        changed = outcome.changed_requests.values()
        finished = sum(request.is_final for request in changed)
        # One line per transition would cost more than the work it reports (measured:
        # a quarter of the event loop's time under load): they are debug, and the
        # batch's summary below is the info line. Nor is anything built per request
        # for nobody (`log.debug` binds a logger on every call even when filtered out).
        debug = log.is_enabled_for(logging.DEBUG)
        observing = self._observe is not ignore
        for request in changed if debug or observing else ():
            failure = request.failure.value if request.failure else None
            if debug:
                log.debug(
                    "request changed",
                    request=request.request_id,
                    label=request.label,
                    state=request.state.value,
                    failure=failure,
                    reason=request.reason,
                )
            if observing:
                self._observe(
                    RequestChanged(
                        request.request_id,
                        request.label,
                        request.state.value,
                        failure,
                        request.reason,
                    )
                )
        log.info(
            "batch committed",
            messages=len(items),
            applied=outcome.applied,
            duplicates=outcome.duplicates,
            stale=outcome.stale,
            unwatched=outcome.unwatched,
            rejected=outcome.rejected,
            actions=outcome.actions,
            requests_changed=len(outcome.changed_requests),
            requests_finished=finished,
            campaigns_finished=len(outcome.finished_campaigns),
            seconds=round(seconds, 4),
        )

    # -- bindings and catch-up ------------------------------------------------------------

    async def _watch_bindings(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # not wait_for: it can swallow the shutdown's cancellation (gh-86296)
                async with asyncio.timeout(self.settings.daemon.bindings_refresh):
                    await self._bindings_due.wait()
            self._bindings_due.clear()
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
        return self._consumer.health.generation

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
            await self.probe_store()

    async def probe_store(self) -> None:
        """One write probe. It cannot vouch for the store while batch commits fail: a probe
        commits nothing, so it succeeds on a full disk where real commits do not."""
        try:
            await self.in_store(self._store.probe_writable)
        except Exception as error:
            if self.health.store_writable:
                log.error("store not writable", error=repr(error))
            self.health.store_writable = False
        else:
            self.health.store_writable = not self.health.commit_failing

    def api_health(self) -> HealthView:
        """Alive: started and the consumer loop is recent (the watchdog is fed only then).
        Ready: also connected to the broker and the store writable."""
        stalled = self._consumer.is_stalled(self._monotonic())
        checks = {
            "started": self.health.started,
            "broker_connected": self._consumer.health.connected,
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
            alive=(self.health.started or self.health.awaiting_broker) and not stalled,
            ready=not reasons,
            reasons=reasons,
            checks=checks,
            status=status,
        )

    async def results_read(
        self, action: Action, results: tuple[str, dict[str, Any]] | None
    ) -> None:
        """A run's test results were fetched (None: it has none): keep and judge them."""
        outcome = await self.in_store(self.engine.apply_results, action, results, self._now())
        await self.after_commit(outcome)

    async def action_task_created(self, action: Action, task_id: str, route: str) -> None:
        outcome = await self.in_store(
            self.engine.action_task_created, action, task_id, route, self._now()
        )
        await self.after_commit(outcome)

    async def action_withdrawn(self, action: Action, why: str) -> None:
        outcome = await self.in_store(self.engine.action_withdrawn, action, why, self._now())
        await self.after_commit(outcome)  # requests that stopped awaiting runs: bindings

    async def action_deferred(self, action: Action, reason: str) -> None:
        await self.in_store(self.engine.action_deferred, action, reason, self._now())

    async def action_abandoned(self, action: Action, error: str) -> None:
        if action.kind is ActionKind.FETCH_RESULTS:
            # Results that cannot be read are missing data for that run, not the end of
            # the request: the run is judged as not having run the test.
            await self.results_read(action, None)
            return
        outcome = await self.in_store(self.engine.action_failed, action, error, self._now())
        await self.after_commit(outcome)

    # -- used by the CLI, the demo and tests ----------------------------------------------

    async def register(self, request: Request) -> Request:
        registered = await self.in_store(self.engine.register, request, self._now())
        await self._refresh_bindings()
        return registered

    async def start_campaign(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign:
        watched = set(self._bound)
        started = await self.in_store(self.engine.start_campaign, campaign, requests, self._now())
        await self._refresh_bindings()
        groups = {campaign.push.task_group_id} | {r.push.task_group_id for r in requests}
        self._catch_up_watched(groups & watched)
        if self.actuator is not None:
            self.actuator.wake()
        return started

    def _catch_up_watched(self, groups: set[str]) -> None:
        """Reconcile groups a new campaign shares with campaigns already watched.

        A new binding's catch-up covers a group seen for the first time; a group already
        bound got its catch-up then, before this campaign existed: its graph is read now,
        so that a fill or a downstream expands, and a label never scheduled is added, at
        once rather than at the reconcile timer (`daemon.reconcile_interval`).
        """
        if groups and self.reconciler is not None:
            reconciler = self.reconciler
            self._spawn(lambda: reconciler.reconcile_groups(groups), "new-campaign")

    async def cancel_campaign(self, campaign_id: str, reason: str) -> Campaign | None:
        canceled = await self.in_store(
            self.engine.cancel_campaign, campaign_id, reason, self._now()
        )
        await self._refresh_bindings()  # its groups may no longer need watching
        if self.actuator is not None:
            self.actuator.wake()  # the end-of-campaign notification
        return canceled


def _nothing() -> None:
    """A store call that does nothing: once it ran, every store call queued before it has."""


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", task=task.get_name(), error=repr(task.exception()))
