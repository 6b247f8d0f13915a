"""Binding changes stay off the consumer's hot path: binds at once, unbinds one key per
pass while deliveries keep arriving, all at once when the consumer is quiet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mozci_monitor.pulse import ConsumerSettings, task_group_binding
from mozci_monitor.pulse._bridge import SharedState
from mozci_monitor.pulse._wakeup import Waker
from mozci_monitor.pulse._worker import KombuWorker

KEYS = [task_group_binding(group) for group in ("A" * 22, "B" * 22, "C" * 22)]


class RecordingChannel:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def queue_bind(self, *, queue: str, exchange: str, routing_key: str) -> None:
        self.calls.append(("bind", routing_key))

    def queue_unbind(self, *, queue: str, exchange: str, routing_key: str) -> None:
        self.calls.append(("unbind", routing_key))

    def keys(self, verb: str) -> list[str]:
        return sorted({key for done, key in self.calls if done == verb})


@pytest.fixture
def worker() -> Iterator[tuple[KombuWorker, SharedState]]:
    settings = ConsumerSettings(
        url="memory://", queue_name="queue/test/bindings", routing_keys=tuple(KEYS)
    )
    state = SharedState(KEYS)
    waker = Waker()
    worker = KombuWorker(settings, state, waker, lambda error: None)
    try:
        yield worker, state
    finally:
        waker.close()


def test_while_busy_one_key_is_unbound_per_interval(
    worker: tuple[KombuWorker, SharedState],
) -> None:
    kombu, state = worker
    channel = RecordingChannel()
    state.set_bindings(set())
    kombu._quiet = False
    kombu._sync_bindings(channel)
    assert channel.keys("unbind") == [KEYS[0]]
    assert len(channel.calls) == len(kombu._settings.exchanges)
    kombu._sync_bindings(channel)  # same pass rate, still busy, interval not over
    assert channel.keys("unbind") == [KEYS[0]]
    kombu._next_unbind = 0.0  # the interval is over
    kombu._sync_bindings(channel)
    assert channel.keys("unbind") == sorted(KEYS[:2])


def test_when_quiet_every_stale_key_is_unbound_at_once(
    worker: tuple[KombuWorker, SharedState],
) -> None:
    kombu, state = worker
    channel = RecordingChannel()
    state.set_bindings({KEYS[2]})
    kombu._quiet = False
    kombu._sync_bindings(channel)
    kombu._quiet = True
    kombu._sync_bindings(channel)
    assert channel.keys("unbind") == sorted(KEYS[:2])
    assert kombu._bound == {KEYS[2]}
    kombu._sync_bindings(channel)
    assert len(channel.calls) == 2 * len(kombu._settings.exchanges)


def test_new_keys_are_bound_at_once_even_while_busy(
    worker: tuple[KombuWorker, SharedState],
) -> None:
    kombu, state = worker
    channel = RecordingChannel()
    new = task_group_binding("D" * 22)
    kombu._quiet = False
    kombu._next_unbind = float("inf")
    state.set_bindings({new})
    kombu._sync_bindings(channel)
    assert channel.keys("bind") == [new]
    assert channel.keys("unbind") == []
    assert new in kombu._bound
