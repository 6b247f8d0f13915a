"""Metrics: what the daemon records shows up in a real scrape, parsed as Prometheus would."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mozci_monitor.core.model import EXCHANGE_PREFIX
from mozci_monitor.metrics import LiveValues, Metrics

COMPLETED = EXCHANGE_PREFIX + "task-completed"
FAILED = EXCHANGE_PREFIX + "task-failed"


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_messages_by_exchange_and_outcome() -> None:
    metrics = Metrics()
    metrics.observe_batch(
        [(COMPLETED, "applied"), (COMPLETED, "applied"), (FAILED, "duplicate")],
        processing_seconds=0.02,
        ack_seconds=0.03,
    )
    metrics.observe_batch({(COMPLETED, "stale"): 2, (FAILED, "unwatched"): 0})
    samples = scrape(metrics)
    total = "mozci_monitor_messages_total"
    assert samples[(total, (("exchange", COMPLETED), ("outcome", "applied")))] == 2
    assert samples[(total, (("exchange", FAILED), ("outcome", "duplicate")))] == 1
    assert samples[(total, (("exchange", COMPLETED), ("outcome", "stale")))] == 2
    assert (total, (("exchange", FAILED), ("outcome", "unwatched"))) not in samples


def test_unknown_exchanges_collapse_and_malformed_are_counted() -> None:
    metrics = Metrics()
    hostile = [f"exchange/evil/{n}" for n in range(50)]
    metrics.observe_batch([(name, "rejected") for name in hostile], malformed=hostile)
    samples = scrape(metrics)
    assert (
        samples[("mozci_monitor_messages_total", (("exchange", "other"), ("outcome", "rejected")))]
        == 50
    )
    assert samples[("mozci_monitor_malformed_messages_total", (("exchange", "other"),))] == 50
    assert not any("evil" in str(key) for key in samples)


def test_latency_histograms() -> None:
    metrics = Metrics()
    for seconds in (0.004, 0.2, 3.0):
        metrics.observe_batch([], processing_seconds=seconds, ack_seconds=seconds * 2)
    samples = scrape(metrics)
    processing = "mozci_monitor_batch_processing_seconds"
    assert samples[(processing + "_count", ())] == 3
    assert samples[(processing + "_sum", ())] == pytest.approx(3.204)
    assert samples[(processing + "_bucket", (("le", "0.005"),))] == 1
    assert samples[(processing + "_bucket", (("le", "0.25"),))] == 2
    assert samples[(processing + "_bucket", (("le", "+Inf"),))] == 3
    assert samples[("mozci_monitor_ack_latency_seconds_count", ())] == 3
    assert samples[("mozci_monitor_ack_latency_seconds_sum", ())] == pytest.approx(6.408)


def test_actions_by_kind_and_result() -> None:
    metrics = Metrics()
    metrics.action_done("retrigger", "done")
    metrics.action_done("retrigger", "done")
    metrics.action_done("rerun", "retry")
    metrics.action_done("add-new-jobs", "failed")
    metrics.campaign_finished("watch", "finished")
    samples = scrape(metrics)
    actions = "mozci_monitor_actions_total"
    assert samples[(actions, (("kind", "retrigger"), ("result", "done")))] == 2
    assert samples[(actions, (("kind", "rerun"), ("result", "retry")))] == 1
    assert samples[(actions, (("kind", "add-new-jobs"), ("result", "failed")))] == 1
    campaigns = "mozci_monitor_campaigns_finished_total"
    assert samples[(campaigns, (("kind", "watch"), ("state", "finished")))] == 1
    with pytest.raises(ValueError, match="unknown action result"):
        metrics.action_done("rerun", "maybe")
    with pytest.raises(ValueError, match="unknown message outcome"):
        metrics.message(COMPLETED, "lost")


def test_live_values_are_read_at_scrape_time() -> None:
    state = {"open": 4, "connected": True, "reconnects": 0}
    metrics = Metrics(
        LiveValues(
            open_requests=lambda: int(state["open"]),
            consumer_connected=lambda: bool(state["connected"]),
            consumer_reconnects=lambda: int(state["reconnects"]),
            ready=lambda: True,
        )
    )
    first = scrape(metrics)
    assert first[("mozci_monitor_open_requests", ())] == 4
    assert first[("mozci_monitor_consumer_connected", ())] == 1
    assert first[("mozci_monitor_consumer_reconnects_total", ())] == 0
    assert first[("mozci_monitor_ready", ())] == 1
    assert ("mozci_monitor_store_writable", ()) not in first  # no source given: not exported
    state.update(open=1, connected=False, reconnects=3)
    second = scrape(metrics)
    assert second[("mozci_monitor_open_requests", ())] == 1
    assert second[("mozci_monitor_consumer_connected", ())] == 0
    assert second[("mozci_monitor_consumer_reconnects_total", ())] == 3


def test_a_failing_source_does_not_break_the_scrape() -> None:
    def broken() -> int:
        raise RuntimeError("store is locked")

    metrics = Metrics(LiveValues(open_requests=broken, consumer_connected=lambda: True))
    samples = scrape(metrics)
    assert ("mozci_monitor_open_requests", ()) not in samples
    assert samples[("mozci_monitor_consumer_connected", ())] == 1


def test_registries_are_independent() -> None:
    one, two = Metrics(), Metrics()
    one.action_done("rerun", "done")
    assert ("mozci_monitor_actions_total", (("kind", "rerun"), ("result", "done"))) not in scrape(
        two
    )
