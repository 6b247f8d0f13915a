"""The made-up test task's Taskcluster identity and its Pulse routing key, shared by the
tests' message builder (tests/store/pulse_builder.py) and the benchmarks' workload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mozci_monitor.sim.pulse_messages import routing_key

PROVISIONER = "proj-autophone"
WORKER_TYPE = "gecko-t-linux-large"
SCHEDULER = "gecko-level-3"


def task_routing_key(
    task_id: str, group: str, run_id: int | None, worker: Mapping[str, Any]
) -> str:
    """The key of a status message of the task's run `run_id` (None: no run yet), as the
    queue routes it; `worker` is that run's status (workerGroup, workerId once claimed)."""
    return routing_key(
        task_id=task_id,
        run_id=run_id,
        worker_group=worker.get("workerGroup"),
        worker_id=worker.get("workerId"),
        provisioner_id=PROVISIONER,
        worker_type=WORKER_TYPE,
        scheduler_id=SCHEDULER,
        task_group_id=group,
    )
