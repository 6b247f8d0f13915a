"""Prometheus metrics of the daemon, served on ``/metrics``.

One `Metrics` object owns its registry (no process-global state: tests and two daemons in
one process do not collide). The daemon calls its methods as things happen
(`observe_batch`, `action_done`, …); values that already live elsewhere — open requests,
whether the consumer is connected, its reconnect count — are read from callables when
Prometheus scrapes, so they can never drift from their source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mozci_monitor.core.model import TASK_EXCHANGES

_log = structlog.get_logger(__name__)

NAMESPACE = "mozci_monitor"
MESSAGE_OUTCOMES = ("applied", "duplicate", "stale", "unwatched", "rejected")
# deferred: held back for capacity ([capacity]), tried again later.
ACTION_RESULTS = ("done", "dry-run", "retry", "deferred", "failed", "withdrawn")
OTHER_EXCHANGE = "other"
# From a millisecond (one small batch on a fast disk) to half a minute (fsync under load).
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_KNOWN_EXCHANGES = frozenset(TASK_EXCHANGES)


@dataclass(frozen=True, slots=True)
class LiveValues:
    """Callables read at scrape time; any left None is not exported."""

    open_requests: Callable[[], int] | None = None
    consumer_connected: Callable[[], bool] | None = None
    consumer_reconnects: Callable[[], int] | None = None
    store_writable: Callable[[], bool] | None = None
    ready: Callable[[], bool] | None = None


def exchange_label(exchange: str) -> str:
    """The exchange as a label value; unknown names collapse so hostile input cannot
    create unbounded label sets."""
    return exchange if exchange in _KNOWN_EXCHANGES else OTHER_EXCHANGE


class Metrics:
    def __init__(
        self,
        live: LiveValues = LiveValues(),
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._messages = Counter(
            "messages",
            "Pulse messages handled, by exchange and outcome",
            ["exchange", "outcome"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self._malformed = Counter(
            "malformed_messages",
            "Pulse messages that could not be parsed (also counted as outcome=rejected)",
            ["exchange"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self._processing = Histogram(
            "batch_processing_seconds",
            "Time to parse a batch and commit it to the store",
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._ack = Histogram(
            "ack_latency_seconds",
            "Time from a batch being received to its messages being acked",
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._actions = Counter(
            "actions",
            "Actions performed (or attempted), by kind and result",
            ["kind", "result"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self._campaigns = Counter(
            "campaigns_finished",
            "Campaigns that reached a final state, by kind and state",
            ["kind", "state"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(live))

    # -- what the daemon calls --------------------------------------------------------------

    def observe_batch(
        self,
        outcomes: Mapping[tuple[str, str], int] | Iterable[tuple[str, str]],
        *,
        malformed: Iterable[str] = (),
        processing_seconds: float | None = None,
        ack_seconds: float | None = None,
    ) -> None:
        """One committed batch.

        `outcomes`: ``(exchange, outcome)`` per message, or counts keyed by that pair;
        `malformed`: the exchange of each message that could not be parsed.
        """
        counts = outcomes if isinstance(outcomes, Mapping) else _count(outcomes)
        for (exchange, outcome), count in counts.items():
            self.message(exchange, outcome, count)
        for exchange in malformed:
            self._malformed.labels(exchange_label(exchange)).inc()
        if processing_seconds is not None:
            self._processing.observe(max(0.0, processing_seconds))
        if ack_seconds is not None:
            self._ack.observe(max(0.0, ack_seconds))

    def message(self, exchange: str, outcome: str, count: int = 1) -> None:
        if outcome not in MESSAGE_OUTCOMES:
            raise ValueError(f"unknown message outcome {outcome!r}")
        if count > 0:
            self._messages.labels(exchange_label(exchange), outcome).inc(count)

    def action_done(self, kind: str, result: str) -> None:
        """`result`: done, dry-run, retry (failed, will be tried again), deferred (no
        capacity now, tried again later) or failed (gave up)."""
        if result not in ACTION_RESULTS:
            raise ValueError(f"unknown action result {result!r}")
        self._actions.labels(kind, result).inc()

    def campaign_finished(self, kind: str, state: str) -> None:
        self._campaigns.labels(kind, state).inc()

    # -- exposition -------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _count(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    return counts


class _LiveCollector(Collector):
    def __init__(self, live: LiveValues) -> None:
        self._live = live

    def collect(self) -> Iterator[Metric]:
        live = self._live
        gauges: list[tuple[str, str, Callable[[], float | bool | int] | None]] = [
            ("open_requests", "Requests not yet final", live.open_requests),
            (
                "consumer_connected",
                "1 while the Pulse consumer has a live link",
                live.consumer_connected,
            ),
            ("store_writable", "1 while the store accepts writes", live.store_writable),
            ("ready", "1 while the daemon is ready (see /readyz)", live.ready),
        ]
        for name, documentation, read in gauges:
            value = _read(name, read)
            if value is not None:
                yield GaugeMetricFamily(f"{NAMESPACE}_{name}", documentation, value=value)
        reconnects = _read("consumer_reconnects", live.consumer_reconnects)
        if reconnects is not None:
            yield CounterMetricFamily(
                f"{NAMESPACE}_consumer_reconnects",
                "Successful Pulse reconnections since start",
                value=reconnects,
            )

    def describe(self) -> Iterator[Metric]:
        # Without describe(), registering would call collect() (and the callables) at once.
        return iter(())


def _read(name: str, read: Callable[[], float | bool | int] | None) -> float | None:
    if read is None:
        return None
    try:
        return float(read())
    except Exception as error:  # a scrape must not fail because one source did
        _log.warning("metric source failed", metric=name, error=repr(error))
        return None
