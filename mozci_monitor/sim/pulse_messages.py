"""Taskcluster queue Pulse messages, in the exact format the real queue publishes.

Exchanges `exchange/taskcluster-queue/v1/task-*`, routing key
`primary.<taskId>.<runId>.<workerGroup>.<workerId>.<provisionerId>.<workerType>.<schedulerId>.<taskGroupId>._`
(`_` for an empty field) and every task route CC'd as `route.<route>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.world import Transition, World

EXCHANGE_PREFIX: Final = "exchange/taskcluster-queue/v1/"
TASK_EXCHANGES: Final = (
    "task-defined",
    "task-pending",
    "task-running",
    "task-completed",
    "task-failed",
    "task-exception",
)


@dataclass(frozen=True)
class PulseMessage:
    """One message ready for the broker."""

    exchange: str
    routing_key: str
    cc: tuple[str, ...]
    body: dict[str, Any]


def exchange_name(kind: str) -> str:
    """`exchange/taskcluster-queue/v1/task-<kind>` for a transition kind."""
    return f"{EXCHANGE_PREFIX}task-{kind}"


def _field(value: object) -> str:
    return "_" if value is None or value == "" else str(value)


def routing_key(
    *,
    task_id: str,
    run_id: int | None,
    worker_group: str | None,
    worker_id: str | None,
    provisioner_id: str,
    worker_type: str,
    scheduler_id: str,
    task_group_id: str,
) -> str:
    fields = (
        "primary",
        task_id,
        run_id,
        worker_group,
        worker_id,
        provisioner_id,
        worker_type,
        scheduler_id,
        task_group_id,
        None,  # reserved
    )
    return ".".join(_field(f) for f in fields)


def build_message(transition: Transition) -> PulseMessage:
    """(exchange, routing key, CC keys, body) for a task status transition."""
    status = transition.status
    kind = transition.kind
    body: dict[str, Any] = {"status": status, "task": {"tags": transition.tags}, "version": 1}
    worker_group = worker_id = None
    if kind != "defined":
        body["runId"] = transition.run_id
    if kind in ("running", "completed", "failed") or (
        kind == "exception" and transition.worker_group and transition.worker_id
    ):
        worker_group, worker_id = transition.worker_group, transition.worker_id
        body["workerGroup"] = worker_group
        body["workerId"] = worker_id
    if kind == "running":
        body["takenUntil"] = transition.taken_until
    key = routing_key(
        task_id=transition.task_id,
        run_id=transition.run_id if kind != "defined" else None,
        worker_group=worker_group,
        worker_id=worker_id,
        provisioner_id=status["provisionerId"],
        worker_type=status["workerType"],
        scheduler_id=status["schedulerId"],
        task_group_id=status["taskGroupId"],
    )
    return PulseMessage(
        exchange=exchange_name(kind),
        routing_key=key,
        cc=tuple(f"route.{route}" for route in transition.routes),
        body=body,
    )


def simulated_messages(config: SimConfig, *, ci_seconds: float | None = None) -> list[PulseMessage]:
    """Every message a world publishes from its first push on, without HTTP or broker.

    For benchmarks and tests that need many real-format messages: runs `ci_seconds` of CI
    time (default: until every push's tasks are resolved, deadlines excluded).
    """
    world = World(config)
    messages: list[PulseMessage] = []
    world.listeners.append(lambda transition: messages.append(build_message(transition)))
    if ci_seconds is not None:
        world.advance_to(world.events.now + ci_seconds)
        return messages
    last_push = world.pushes[-1].date
    while (due := world.events.next_time()) is not None:
        if due > last_push and world.active_runs == 0:
            break  # only deadlines of tasks stuck behind failures remain
        world.advance_to(due)
    return messages
