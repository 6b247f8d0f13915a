"""The one way the tests and the benchmarks build and start a daemon.

`assemble_daemon` assembles the production `Daemon` from settings, with the parts a test or
a benchmark chooses given explicitly (the store, the consumer, the services); what is not
given is built from the settings as production builds it. `run_daemon` runs it in the
current event loop and `wait_started` waits, bounded, until it has started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mozci_monitor.config import (
    ActionsSettings,
    CapacitySettings,
    DaemonSettings,
    PulseSettings,
    Settings,
    SourcesSettings,
    StoreSettings,
)
from mozci_monitor.daemon import Daemon
from mozci_monitor.notify import Sink
from mozci_monitor.ports.pulse import ConsumerPort
from mozci_monitor.ports.store import DaemonStore
from mozci_monitor.pulse import ConsumerHealth, ConsumerSettings, Delivery
from mozci_monitor.wiring import Services, build_daemon, build_services

from .waiting import WITHIN, until

SHERIFF = "sheriffs@example.com"  # the address the scenes' campaigns are announced to


def consumer_settings(pulse: PulseSettings) -> ConsumerSettings:
    """The consumer's settings from `[pulse]`, mapped as the production daemon maps them."""
    return ConsumerSettings(
        url=pulse.url,
        queue_name=pulse.queue,
        prefetch=pulse.prefetch,
        heartbeat=pulse.heartbeat,
        declare_exchanges=pulse.declare_exchanges,
        reconnect_max_delay=pulse.reconnect_max_delay,
    )


def scene_settings(
    *,
    broker_url: str,
    queue: str,
    sources: SourcesSettings,
    store: StoreSettings,
    actions: ActionsSettings | None = None,
    email: str = SHERIFF,
    prefetch: int = 500,
    capacity: CapacitySettings | None = None,
) -> Settings:
    """A daemon over the simulator: quick batches and refreshes, its sinks and one e-mail."""
    return Settings(
        pulse=PulseSettings(url=broker_url, queue=queue, heartbeat=10.0, prefetch=prefetch),
        store=store,
        daemon=DaemonSettings(
            batch_wait=0.05,
            bindings_refresh=0.2,
            reconcile_interval=1.0,
            shutdown_grace=5.0,
        ),
        sources=sources,
        actions=actions or ActionsSettings(max_per_request=3),
        notify={"sinks": ["log", "taskcluster"], "email": [email]},
        capacity=capacity or CapacitySettings(),
    )


def acting_services(settings: Settings, extra_sinks: Sequence[Sink] = ()) -> Services:
    """The configured sources and sinks, with `extra_sinks` (e.g. a recorder) beside them."""
    services = build_services(settings)
    services.sinks = [*services.sinks, *extra_sinks]
    return services


def assemble_daemon(
    settings: Settings,
    *,
    store: DaemonStore | None = None,
    consumer: ConsumerPort | None = None,
    services: Services | None = None,
    **options: Any,
) -> Daemon:
    """A daemon from `settings`, built by the composition root (`mozci_monitor.wiring`) as
    production builds it; `services=None`: no actuator, no reconciler; no API server.

    `options` go to `wiring.build_daemon` as they are (its clocks, its systemd notifier).
    """
    return build_daemon(
        settings, store=store, consumer=consumer, services=services, api=False, **options
    )


def connected_health(*, connected: bool = True, last_error: str | None = None) -> ConsumerHealth:
    """What a fake consumer reports as its health (`ConsumerPort.health`): a broker link that
    never reconnected, nothing counted."""
    return ConsumerHealth(
        connected=connected,
        last_loop_monotonic=0.0,
        reconnects=0,
        queue_recreations=0,
        delivered=0,
        acked=0,
        rejected=0,
        stale_acks=0,
        generation=0,
        last_error=last_error,
    )


class RefusingConsumer:
    """A consumer whose broker never lets it start: `start` raises `error`, as
    `PulseConsumer.start` raises `PulseConnectError` (a ConnectionError) when it gives up."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    @property
    def health(self) -> ConsumerHealth:
        return connected_health(connected=False, last_error=str(self.error))

    async def start(self) -> None:
        raise self.error

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        raise AssertionError("never started")

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        raise AssertionError("never started")

    def set_bindings(self, routing_keys: set[str]) -> None:
        pass

    def is_stalled(self, now: float) -> bool:
        return False

    async def stop(self, grace: float) -> None:
        pass


def run_daemon(daemon: Daemon) -> asyncio.Task[int]:
    """Run `daemon` in this event loop (signals are the test's)."""
    return asyncio.create_task(daemon.run(install_signal_handlers=False))


async def wait_started(daemon: Daemon, runner: asyncio.Task[int], within: float = WITHIN) -> None:
    """Wait, bounded, until the daemon has started; fails if it exited instead."""
    await until(lambda: daemon.health.started or runner.done(), "the daemon started", within)
    if runner.done():
        raise AssertionError(f"the daemon exited at start: {runner.result()}")
