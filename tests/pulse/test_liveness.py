"""Hang detection: the loop timestamp moves while idle and freezes while a call blocks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from broker import unique_queue_name
from support.waiting import until

from mozci_monitor.pulse import ConsumerSettings, PulseConsumer
from mozci_monitor.pulse._worker import KombuWorker

HEARTBEAT = 1.0


def _settings() -> ConsumerSettings:
    return ConsumerSettings(
        url="memory://",
        queue_name=unique_queue_name("liveness"),
        exchanges=("exchange/mozci-test/liveness",),
        heartbeat=HEARTBEAT,
    )


class _Gate:
    """Makes the kombu thread block inside a call once the binding 'block.#' is wanted."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    gate = _Gate()
    original = KombuWorker._sync_bindings

    def blocking(self: KombuWorker, channel: Any, *, rebind_all: bool = False) -> None:
        desired, _ = self._state.bindings()
        if "block.#" in desired:
            gate.entered.set()
            gate.release.wait(60)
        original(self, channel, rebind_all=rebind_all)

    monkeypatch.setattr(KombuWorker, "_sync_bindings", blocking)
    yield gate
    gate.release.set()


async def test_idle_loop_keeps_refreshing_the_timestamp() -> None:
    consumer = PulseConsumer(_settings())
    await consumer.start()
    try:
        first = consumer.health.last_loop_monotonic
        await until(
            lambda: consumer.health.last_loop_monotonic > first,
            "consumer.health.last_loop_monotonic > first",
        )
        assert not consumer.is_stalled(time.monotonic())
    finally:
        await consumer.stop(grace=2)
    assert not consumer.is_stalled(time.monotonic() + 100)  # a stopped consumer is not stalled


async def test_blocked_call_leaves_the_timestamp_stale(gate: _Gate) -> None:
    consumer = PulseConsumer(_settings())
    await consumer.start()
    try:
        consumer.set_bindings({"block.#"})
        assert await asyncio.to_thread(gate.entered.wait, 10)
        stamp = consumer.health.last_loop_monotonic
        await asyncio.sleep(0.3)
        assert consumer.health.last_loop_monotonic == stamp  # nothing refreshes it meanwhile
        assert not consumer.is_stalled(stamp + 2 * HEARTBEAT - 0.01)
        assert consumer.is_stalled(stamp + 2 * HEARTBEAT + 0.01)
        gate.release.set()
        await until(
            lambda: consumer.health.last_loop_monotonic > stamp,
            "consumer.health.last_loop_monotonic > stamp",
        )
        assert not consumer.is_stalled(time.monotonic())
    finally:
        gate.release.set()
        await consumer.stop(grace=2)


async def test_stop_gives_up_on_a_stuck_thread_after_grace(gate: _Gate) -> None:
    consumer = PulseConsumer(_settings())
    await consumer.start()
    consumer.set_bindings({"block.#"})
    assert await asyncio.to_thread(gate.entered.wait, 10)
    # The outer bound only guards the test run; stop() itself must return after its grace.
    await asyncio.wait_for(consumer.stop(grace=0.3), timeout=30)
    assert consumer.health.connected  # the thread is still stuck in its call
    gate.release.set()
    await until(lambda: not consumer.health.connected, "not consumer.health.connected")
