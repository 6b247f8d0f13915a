"""What the HTTP handlers share: the world, the actions runner and recorded notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.sim.actions import Actions
from mozci_monitor.sim.world import World


@dataclass(frozen=True)
class Notification:
    """One call to the notify service (`email`, `matrix`, `slack` or `pulse`)."""

    kind: str
    payload: dict[str, Any]
    at: float


@dataclass
class SimContext:
    world: World
    actions: Actions
    base_url: str = ""
    notifications: list[Notification] = field(default_factory=list)
    # Definitions as submitted through createTask, for its idempotency check.
    submitted: dict[str, dict[str, Any]] = field(default_factory=dict)
