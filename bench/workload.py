"""Real-format Taskcluster queue Pulse messages and the requests that watch them.

A trimmed copy of tests/store/pulse_builder.py's `FakeTask` (benchmarks must not import
tests): every message carries the full status snapshot of its moment, its exchange and its
primary routing key, exactly as the queue publishes them. Ids are valid v4 slugids.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.model import EXCHANGE_PREFIX, Push, RemedyPolicy, Request
from tests.support.task_messages import PROVISIONER, SCHEDULER, WORKER_TYPE, task_routing_key

REPO = "autoland"
_EXCHANGE_OF_STATE = {
    "pending": "task-pending",
    "running": "task-running",
    "completed": "task-completed",
    "failed": "task-failed",
    "exception": "task-exception",
}


def slug(n: int) -> str:
    """A deterministic valid v4 slugid for `n`."""
    value = uuid.UUID(int=n, version=4)
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Message:
    exchange: str
    routing_key: str
    body: bytes
    task_id: str


@dataclass
class FakeTask:
    task_id: str
    group: str
    label: str
    retries_left: int = 5
    runs: list[dict[str, Any]] = field(default_factory=list)

    def defined(self) -> Message:
        return self._message("task-defined", None)

    def pending(self, reason_created: str = "scheduled") -> Message:
        run_id = len(self.runs)
        self.runs.append(
            {
                "runId": run_id,
                "state": "pending",
                "reasonCreated": reason_created,
                "scheduled": f"2026-11-22T10:00:{run_id:02d}.000Z",
            }
        )
        return self._message("task-pending", run_id)

    def running(self) -> Message:
        run = self.runs[-1]
        run.update(
            state="running",
            started="2026-11-22T10:01:00.000Z",
            workerGroup="us-east-1",
            workerId=f"i-{run['runId']:016x}",
            takenUntil="2026-11-22T10:21:00.000Z",
        )
        return self._message("task-running", run["runId"])

    def resolve(self, state: str, reason: str | None = None) -> Message:
        run = self.runs[-1]
        reason = reason or state
        if state == "exception" and reason in ("claim-expired", "worker-shutdown"):
            self.retries_left -= 1  # the queue spends a retry on these
        run.update(state=state, reasonResolved=reason, resolved="2026-11-22T10:30:00.000Z")
        run.pop("takenUntil", None)
        return self._message(_EXCHANGE_OF_STATE[state], run["runId"])

    def status(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "provisionerId": PROVISIONER,
            "workerType": WORKER_TYPE,
            "schedulerId": SCHEDULER,
            "taskGroupId": self.group,
            "deadline": "2026-11-23T10:00:00.000Z",
            "expires": "2027-11-22T10:00:00.000Z",
            "retriesLeft": self.retries_left,
            "state": self.runs[-1]["state"] if self.runs else "unscheduled",
            "runs": copy.deepcopy(self.runs),
        }

    def _message(self, kind: str, run_id: int | None) -> Message:
        payload: dict[str, Any] = {"version": 1, "status": self.status()}
        if run_id is not None:
            payload["runId"] = run_id
        payload["task"] = {"tags": {"label": self.label, "kind": "test"}}
        worker = self.runs[run_id] if run_id is not None else {}
        key = task_routing_key(self.task_id, self.group, run_id, worker)
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Message(EXCHANGE_PREFIX + kind, key, body, self.task_id)


@dataclass
class Workload:
    """Requests to register first, then the messages to publish, in publishing order."""

    requests: list[Request]
    messages: list[Message]
    groups: list[str]
    tasks: dict[str, FakeTask] = field(default_factory=dict)


def label_of(index: int) -> str:
    return f"test-linux1804-64/opt-mochitest-browser-chrome-e10s-{index + 1}"


def watched_request(request_id: str, group: str, label: str, wanted: int) -> Request:
    return Request(
        request_id=request_id,
        push=Push(REPO, hashlib.sha1(group.encode()).hexdigest(), group),
        label=label,
        wanted=wanted,
        remedy=RemedyPolicy.WATCH,
        max_actions=3,
    )


def lifecycle_workload(requests: int, *, labels_per_group: int = 10, seed: int = 0) -> Workload:
    """`requests` WATCH requests (wanted=2), 10 messages each, interleaved across tasks.

    Per request: task A goes defined → pending → running → completed; task B is pending →
    running → exception/worker-shutdown (the queue retries it) → pending(retry) →
    running → completed. Every message moves a watched task forward, so each one is a
    real transition the daemon commits. Messages are interleaved round-robin (every
    task's first step, then every task's second…), which keeps each task in order.
    """
    groups = [
        slug(10_000_000 + seed * 100_000 + g) for g in range(-(-requests // labels_per_group))
    ]
    made: list[Request] = []
    steps: list[list[Message]] = []
    tasks: dict[str, FakeTask] = {}
    for index in range(requests):
        group = groups[index // labels_per_group]
        label = label_of(index % labels_per_group)
        made.append(watched_request(f"bench-{seed}-{index:06d}", group, label, wanted=2))
        a = FakeTask(slug(20_000_000 + seed * 1_000_000 + 2 * index), group, label)
        b = FakeTask(slug(20_000_000 + seed * 1_000_000 + 2 * index + 1), group, label)
        tasks[a.task_id], tasks[b.task_id] = a, b
        steps.append([a.defined(), a.pending(), a.running(), a.resolve("completed")])
        steps.append(
            [
                b.pending(),
                b.running(),
                b.resolve("exception", "worker-shutdown"),
                b.pending("retry"),
                b.running(),
                b.resolve("completed"),
            ]
        )
    messages: list[Message] = []
    for position in range(max(len(s) for s in steps)):
        messages.extend(s[position] for s in steps if position < len(s))
    return Workload(made, messages, groups, tasks)


def bindings(groups: list[str]) -> set[str]:
    from mozci_monitor.pulse import task_group_binding

    return {task_group_binding(group) for group in groups}
