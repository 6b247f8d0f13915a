"""The composition root: the one module that builds the store, the outside world (source
clients, sinks, consumer), the engine, the actuator, the reconciler, the campaign service,
the API server and the daemon from the settings.

Everything else receives what it needs: nothing outside this module imports a concrete
store, consumer, source client or sink. Tests, the demo and the benchmark pass overrides
(`store=`, `consumer=`, `services=`, clocks) to the same `build`, so they run the wiring
production runs.

`check_settings` is the whole of the validation `run` does before it starts anything;
`check-config` runs exactly that function.
"""

from __future__ import annotations

import contextlib
import enum
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

from mozci_monitor.actuator import Actuator, ActuatorSettings
from mozci_monitor.answer_checks import AnswerChecks
from mozci_monitor.api import ApiOptions, ApiServer
from mozci_monitor.api.submission import SubmissionDefaults
from mozci_monitor.api_backend import DaemonApiBackend
from mozci_monitor.campaigns import CampaignService, EngineStarter
from mozci_monitor.capacity_gate import CapacityGate, GateSettings, policy_of
from mozci_monitor.clock import utc_now
from mozci_monitor.config import ConfigError, Settings, api_token, pulse_url
from mozci_monitor.core.action_tasks import Bounds
from mozci_monitor.core.links import Links
from mozci_monitor.daemon import BINDINGS_KEY, Daemon
from mozci_monitor.engine import Engine
from mozci_monitor.notify import NotifyConfigError, Sink, build_sinks, close_sinks
from mozci_monitor.notify import make_notify_client as _make_notify_client
from mozci_monitor.observe import Observer
from mozci_monitor.ports.pulse import ConsumerPort
from mozci_monitor.ports.sources import (
    PendingCounts,
    Pushlog,
    Render,
    ResultsSource,
    TaskclusterPort,
)
from mozci_monitor.ports.store import CapacityStore, DaemonStore
from mozci_monitor.pulse import ConsumerSettings, PulseConsumer, task_group_binding
from mozci_monitor.reconciler import Reconciler
from mozci_monitor.sdnotify import SystemdNotifier
from mozci_monitor.sources import render_choice
from mozci_monitor.sources.clients import SourceSettings, create_clients
from mozci_monitor.sources.jsonhttp import create_session
from mozci_monitor.sources.politeness import Policy
from mozci_monitor.sources.task_results import TaskResults, errorsummary_of_task, results_of_task
from mozci_monitor.sources.taskcluster import credentials_from_environment
from mozci_monitor.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from mozci_monitor.store.postgres import PostgresStore

# The stores `build_store` makes; callers that read more than `DaemonStore` offers (the
# CLI's listings) type against this.
AnyStore: TypeAlias = "SqliteStore | PostgresStore"

__all__ = [
    "FROM_SETTINGS",
    "AnyStore",
    "Runtime",
    "Services",
    "build",
    "build_consumer",
    "build_daemon",
    "build_engine",
    "build_services",
    "build_store",
    "check_settings",
    "migrate_store",
    "offline_campaigns",
    "submission_defaults",
]


class _FromSettings(enum.Enum):
    FROM_SETTINGS = "from the settings"


# "Build this part from the settings", as opposed to None ("leave it out").
FROM_SETTINGS = _FromSettings.FROM_SETTINGS


# A task's test results: (task id, repo or "" for no Treeherder fallback, Treeherder job id).
ReadTaskResults = Callable[[str, str, int | None], Awaitable[TaskResults | None]]


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
class Runtime:
    """Everything `build` made, for whoever runs it (the CLI, the demo, tests, bench)."""

    settings: Settings
    store: DaemonStore
    engine: Engine
    daemon: Daemon
    services: Services | None
    campaigns: CampaignService


def build_capacity_gate(
    settings: Settings,
    *,
    in_store: Callable[..., Awaitable[Any]],
    store: CapacityStore,
    pending: PendingCounts | None,
    graph: Callable[[str], Awaitable[Any]] | None = None,
    owner: str | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> CapacityGate | None:
    """The actuator's capacity check from [capacity]; None when nothing is limited."""
    capacity = settings.capacity
    if not (capacity.daily_quota or capacity.max_pending or capacity.excluded_pools):
        return None
    return CapacityGate(
        GateSettings(
            policy_of(capacity.daily_quota, capacity.max_pending, capacity.excluded_pools),
            max_deferral=capacity.max_deferral,
            pending_refresh=capacity.pending_refresh,
        ),
        in_store=in_store,
        store=store,
        pending=pending,
        graph=graph,
        owner=owner,
        monotonic=monotonic,
    )


def _full_task_graph(taskcluster: TaskclusterPort) -> Callable[[str], Awaitable[Any]]:
    """A push's full task graph by its group (the decision task's id is the group's)."""

    async def read(group: str) -> Any:
        return await taskcluster.artifact_json(group, "public/full-task-graph.json")

    return read


# -- validation ---------------------------------------------------------------------------


def check_settings(settings: Settings) -> None:
    """Refuse, with a `ConfigError` naming the key, every setting `run` cannot start with.

    Reads the secrets (Pulse password, API token) the way `run` does and builds the
    notification sinks without connecting anything.
    """
    pulse_url(settings.pulse)
    if settings.api.enabled:
        api_token(settings)
    sources = settings.sources
    for key, url in (
        ("sources.taskcluster_root_url", sources.taskcluster_root_url),
        ("sources.treeherder_url", sources.treeherder_url),
        ("sources.hg_url", sources.hg_url),
    ):
        _check_http_url(key, url)
    # Sinks only keep the session they are given: none is needed to check them.
    _build_sinks(settings, session=None, credentials=None, pulse_url=None)


def _check_http_url(key: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {url!r} is not an http(s) URL (like https://host)")


def _build_sinks(
    settings: Settings,
    *,
    session: Any,
    credentials: Mapping[str, str] | None,
    pulse_url: str | None,
) -> list[Sink]:
    notify_config = dict(settings.notify)
    notify_config.setdefault("taskcluster_root_url", settings.sources.taskcluster_root_url)
    try:
        notify_client = None
        if "taskcluster" in notify_config.get("sinks", ()):
            notify_client = _make_notify_client(
                settings.sources.taskcluster_root_url, session=session, credentials=credentials
            )
        return build_sinks(
            notify_config, session=session, notify_client=notify_client, pulse_url=pulse_url
        )
    except NotifyConfigError as error:
        raise ConfigError(str(error)) from None


# -- the parts ----------------------------------------------------------------------------


def build_store(settings: Settings, *, path: str | Path | None = None) -> AnyStore:
    """The configured store: SQLite on one host, PostgreSQL for several daemons.
    `path` always means a SQLite file (the CLI's `--store`)."""
    if settings.store.backend == "postgres" and path is None:
        from mozci_monitor.store.postgres import PostgresStore

        return PostgresStore(settings.store.dsn, migrate=settings.store.migrate_on_start)
    return SqliteStore(Path(path if path is not None else settings.store.path))


def migrate_store(settings: Settings) -> str:
    """Bring the configured store's schema up to date; says what was done."""
    if settings.store.backend == "postgres":
        from mozci_monitor.store.postgres import PostgresStore

        version = PostgresStore(settings.store.dsn, migrate=False).migrate()
        return f"PostgreSQL store at schema version {version}"
    build_store(settings)  # opening a SQLite store migrates it
    return f"SQLite store {settings.store.path} is up to date"


def build_engine(settings: Settings, store: DaemonStore) -> Engine:
    """The engine with the configured budgets: every engine is built here, so none skips
    `actions.max_per_repo_day`."""
    return Engine(
        store,
        repo_day_budget=settings.actions.max_per_repo_day or None,
        bounds=Bounds(
            run_appear_seconds=settings.actions.run_appear_timeout,
            open_seconds=settings.actions.request_timeout,
        ),
        root_url=settings.sources.taskcluster_root_url,
        results=store,
    )


def submission_defaults(settings: Settings) -> SubmissionDefaults:
    return SubmissionDefaults(
        max_actions_per_request=settings.actions.max_per_request,
        max_actions_per_campaign=settings.actions.max_per_campaign,
    )


def build_source_settings(settings: Settings) -> SourceSettings:
    """Where the sources are, the credentials from the environment and the configured
    politeness (rate and concurrency per source): the daemon's and the CLI's clients alike."""
    sources = settings.sources
    _, credentials = credentials_from_environment()
    return SourceSettings(
        taskcluster_root_url=sources.taskcluster_root_url,
        taskcluster_credentials=credentials,
        treeherder_url=sources.treeherder_url,
        hg_url=sources.hg_url,
        policies={
            name: Policy(rate_limit=rate, max_concurrency=sources.max_concurrency)
            for name, rate in (
                ("taskcluster", sources.taskcluster_rate),
                ("treeherder", sources.treeherder_rate),
                ("hgmo", sources.hg_rate),
            )
        },
    )


def build_services(settings: Settings, *, pulse_url: str | None = None) -> Services:
    """Taskcluster and hg clients and notification sinks from the settings (one HTTP
    session, closed by the returned closers, or here when building fails)."""
    # Refuse a bad [notify] table before the session exists, so no error leaves it unclosed.
    _build_sinks(settings, session=None, credentials=None, pulse_url=pulse_url)
    source_settings = build_source_settings(settings)
    credentials = source_settings.taskcluster_credentials
    session = create_session()
    clients = create_clients(session, source_settings)
    sinks = _build_sinks(settings, session=session, credentials=credentials, pulse_url=pulse_url)

    async def close() -> None:
        try:
            await close_sinks(sinks)
        finally:
            # Also when a sink fails or the bounded shutdown step cancels its closing:
            # session.close() closes the connector before its first await.
            await session.close()

    taskcluster = clients.taskcluster

    async def results(task_id: str) -> TaskResults | None:
        return await errorsummary_of_task(taskcluster, task_id)

    return Services(
        taskcluster=taskcluster,
        render=render_choice,
        sinks=sinks,
        pushlog=clients.hgmo,
        results=results,
        closers=[close],
    )


def build_consumer(settings: Settings, store: DaemonStore) -> ConsumerPort:
    pulse = settings.pulse
    # The durable queue keeps the bindings of the last run: start from them, so that the
    # first set_bindings() removes those of campaigns that ended while we were down.
    previous = json.loads(store.get_meta(BINDINGS_KEY) or "[]")
    return PulseConsumer(
        ConsumerSettings(
            url=pulse_url(pulse),
            queue_name=pulse.queue,
            routing_keys=tuple(task_group_binding(group) for group in previous),
            prefetch=pulse.prefetch,
            heartbeat=pulse.heartbeat,
            declare_exchanges=pulse.declare_exchanges,
            reconnect_max_delay=pulse.reconnect_max_delay,
        )
    )


# -- the whole ----------------------------------------------------------------------------


def build(
    settings: Settings,
    *,
    store: DaemonStore | None = None,
    consumer: ConsumerPort | None = None,
    consumer_factory: Callable[[], ConsumerPort] | None = None,
    services: Services | _FromSettings | None = FROM_SETTINGS,
    wall_clock: Callable[[], str] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    notifier: SystemdNotifier | None = None,
    observer: Observer | None = None,
    api: bool | None = None,
) -> Runtime:
    """Build the daemon and everything around it.

    Overrides: `store`, `consumer` (built from the settings when None), `consumer_factory`
    (how to build a fresh consumer when the broker does not answer at start: by default
    from the settings when `consumer` is not given; with neither, the start fails), `services`
    (`FROM_SETTINGS` by default; None: no outside world, the daemon only records), the
    clocks, the systemd notifier, the observer of the daemon's typed events, and `api`
    (None: as `api.enabled` says).
    """
    check_settings(settings)
    store = store if store is not None else build_store(settings)
    engine = build_engine(settings, store)
    if consumer is None and consumer_factory is None:
        built_store = store

        def consumer_factory() -> ConsumerPort:
            return build_consumer(settings, built_store)

    if consumer is None:
        assert consumer_factory is not None
        consumer = consumer_factory()
    if services is FROM_SETTINGS:
        services = build_services(settings, pulse_url=pulse_url(settings.pulse))
    # Treeherder and Taskcluster pages, for the notifications' and the campaign pages' links.
    links = Links(settings.sources.treeherder_url, settings.sources.taskcluster_root_url)
    daemon = Daemon(
        settings,
        store=store,
        consumer=consumer,
        engine=engine,
        consumer_factory=consumer_factory,
        wall_clock=wall_clock,
        monotonic=monotonic,
        notifier=notifier,
        observer=observer,
    )
    if services is not None:
        # The actuator's claims and marks on a connection of their own where the store has
        # one for them (PostgreSQL); else on the store's thread (SQLite: one write lock).
        outbox = store.outbox()
        daemon.attach(
            actuator=Actuator(
                in_store=daemon.in_store if outbox is store else daemon.in_outbox,
                store=outbox,
                taskcluster=services.taskcluster,
                render=services.render,
                sinks=services.sinks,
                on_permanent_failure=daemon.action_abandoned,
                on_result=daemon.metrics.action_done,
                observer=observer,
                on_action_task=daemon.action_task_created,
                results=services.results,
                on_results=daemon.results_read,
                capacity=build_capacity_gate(
                    settings,
                    in_store=daemon.in_store if outbox is store else daemon.in_outbox,
                    store=outbox,
                    pending=services.taskcluster,
                    graph=_full_task_graph(services.taskcluster),
                    owner=daemon.instance,
                    monotonic=monotonic,
                ),
                on_deferred=daemon.action_deferred,
                on_withdrawn=daemon.action_withdrawn,
                complete_answer=(
                    AnswerChecks(services.pushlog).complete if services.pushlog else None
                ),
                now=wall_clock,
                settings=ActuatorSettings(
                    dry_run=settings.actions.dry_run,
                    max_attempts=settings.actions.max_attempts,
                    owner=daemon.instance,
                    lease_seconds=settings.store.lease_seconds,
                    links=links,
                ),
            ),
            reconciler=Reconciler(
                engine=engine,
                store=store,
                in_store=daemon.in_store,
                taskcluster=services.taskcluster,
                now=wall_clock,
                on_outcome=daemon.after_commit,
                concurrency=settings.sources.max_concurrency,
                owner=daemon.instance,
                lease_seconds=0.8 * settings.daemon.reconcile_interval,
            ),
            closers=services.closers,
        )
    campaigns = CampaignService(daemon, defaults=submission_defaults(settings), sources=services)
    if settings.api.enabled if api is None else api:
        daemon.attach(
            api_server=ApiServer(
                DaemonApiBackend(daemon, store, campaigns),
                ApiOptions(
                    host=settings.api.host,
                    port=settings.api.port,
                    token=api_token(settings),
                    max_body_bytes=settings.api.max_body_bytes,
                    links=links,
                ),
                metrics=daemon.metrics,
            )
        )
    return Runtime(
        settings=settings,
        store=store,
        engine=engine,
        daemon=daemon,
        services=services,
        campaigns=campaigns,
    )


def build_daemon(
    settings: Settings,
    *,
    store: DaemonStore | None = None,
    consumer: ConsumerPort | None = None,
    consumer_factory: Callable[[], ConsumerPort] | None = None,
    services: Services | _FromSettings | None = FROM_SETTINGS,
    wall_clock: Callable[[], str] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    notifier: SystemdNotifier | None = None,
    observer: Observer | None = None,
    api: bool | None = None,
) -> Daemon:
    """`build(...).daemon`: for callers that only run the daemon."""
    return build(
        settings,
        store=store,
        consumer=consumer,
        consumer_factory=consumer_factory,
        services=services,
        wall_clock=wall_clock,
        monotonic=monotonic,
        notifier=notifier,
        observer=observer,
        api=api,
    ).daemon


@contextlib.asynccontextmanager
async def offline_campaigns(
    settings: Settings, *, store_path: str | Path | None = None
) -> AsyncIterator[CampaignService]:
    """The campaign service on the configured store, for the CLI when no daemon answers
    on the API: campaigns are planned here and recorded for the daemon to pick up."""
    check_settings(settings)
    store = build_store(settings, path=store_path)
    services = build_services(settings)
    try:
        yield CampaignService(
            EngineStarter(build_engine(settings, store), utc_now),
            defaults=submission_defaults(settings),
            sources=services,
        )
    finally:
        for close in services.closers:
            await close()


@contextlib.asynccontextmanager
async def task_results_reader(settings: Settings) -> AsyncIterator[ReadTaskResults]:
    """What `mozci-monitor results` reads a task's test results with: the configured
    Taskcluster and Treeherder clients on one polite HTTP session, closed on exit."""
    async with create_session() as session:
        clients = create_clients(session, build_source_settings(settings))

        async def read(task_id: str, repo: str, job_id: int | None) -> TaskResults | None:
            return await results_of_task(
                clients.taskcluster,
                clients.treeherder if repo else None,
                task_id,
                repo=repo,
                job_id=job_id,
            )

        yield read
