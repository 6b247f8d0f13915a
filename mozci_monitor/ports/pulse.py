"""What the daemon needs of the Pulse consumer, and the plain values it hands over.

`mozci_monitor.pulse.PulseConsumer` implements `ConsumerPort`; tests and the benchmark
use in-memory consumers with the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mozci_monitor.pulse.delivery import ConsumerHealth, Delivery
from mozci_monitor.pulse.settings import task_group_binding

__all__ = ["ConsumerHealth", "ConsumerPort", "Delivery", "task_group_binding"]


class ConsumerPort(Protocol):
    @property
    def health(self) -> ConsumerHealth:
        """A snapshot: connected, reconnects, and the generation that bumps whenever
        messages may have been missed (the daemon's cue to reconcile)."""
        ...

    async def start(self) -> None: ...
    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]: ...
    def ack(self, deliveries: Sequence[Delivery]) -> None: ...
    def set_bindings(self, routing_keys: set[str]) -> None: ...
    def is_stalled(self, now: float) -> bool: ...
    async def stop(self, grace: float) -> None: ...
