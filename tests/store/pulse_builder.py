"""Build Taskcluster queue Pulse messages the way the queue publishes them, for store/engine tests.

A `FakeTask` walks one task through its life (`pending()`, `running()`, `resolve(...)`,
`pending("retry")` for a new run); every step returns a `Message` holding the full status
snapshot of that moment, its exchange and its primary routing key. Ids are valid v4 slugids.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from support.task_messages import PROVISIONER, SCHEDULER, WORKER_TYPE, task_routing_key

from mozci_monitor.core.messages import is_slug_id, parse_message
from mozci_monitor.core.model import EXCHANGE_PREFIX, Push, Request, TaskEvent

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-e10s-1"
OTHER_LABEL = "test-windows10-64/debug-xpcshell-3"
_EXCHANGE_OF_STATE = {
    "pending": "task-pending",
    "running": "task-running",
    "completed": "task-completed",
    "failed": "task-failed",
    "exception": "task-exception",
}


def slug(n: int) -> str:
    """A deterministic valid v4 slugid for `n` (what slugid.v4() would give for that UUID)."""
    value = uuid.UUID(int=n, version=4)
    text = base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")
    assert is_slug_id(text), text
    return text


GROUP = slug(1_000)
OTHER_GROUP = slug(2_000)


@dataclass(frozen=True)
class Message:
    exchange: str
    routing_key: str
    payload: dict[str, Any]

    def event(self) -> TaskEvent:
        return parse_message(self.exchange, self.routing_key, self.payload)

    def jsonl(self) -> str:
        """One line of the `mozci-monitor replay` input format."""
        return json.dumps(
            {"exchange": self.exchange, "routing_key": self.routing_key, "payload": self.payload}
        )


@dataclass
class FakeTask:
    task_id: str
    group: str = GROUP
    label: str | None = LABEL  # None: messages carry no `task` (as in older Pulse messages)
    retries_left: int = 5
    runs: list[dict[str, Any]] = field(default_factory=list)

    def defined(self) -> Message:
        assert not self.runs
        return self._message("task-defined", None)

    def pending(self, reason_created: str = "scheduled") -> Message:
        assert not self.runs or self.runs[-1]["state"] not in ("pending", "running")
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
        assert run["state"] == "pending"
        run.update(
            state="running",
            started="2026-11-22T10:01:00.000Z",
            workerGroup="us-east-1",
            workerId=f"i-{run['runId']:016x}",
            takenUntil="2026-11-22T10:21:00.000Z",
        )
        return self._message("task-running", run["runId"])

    def resolve(self, state: str, reason: str | None = None) -> Message:
        """Resolve the last run: completed, failed, or exception with its reason."""
        run = self.runs[-1]
        assert run["state"] in ("pending", "running")
        reason = reason or state
        if state == "exception" and reason in ("claim-expired", "worker-shutdown"):
            self.retries_left -= 1  # the queue spends a retry on these
        run.update(state=state, reasonResolved=reason, resolved="2026-11-22T10:30:00.000Z")
        run.pop("takenUntil", None)
        return self._message(_EXCHANGE_OF_STATE[state], run["runId"])

    def lifecycle(self, final: str = "completed", reason: str | None = None) -> list[Message]:
        return [self.pending(), self.running(), self.resolve(final, reason)]

    def _message(self, kind: str, run_id: int | None) -> Message:
        status = {
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
        payload: dict[str, Any] = {"version": 1, "status": status}
        if run_id is not None:
            payload["runId"] = run_id
        if self.label is not None:
            payload["task"] = {"tags": {"label": self.label, "kind": "test"}}
        worker = self.runs[run_id] if run_id is not None else {}
        key = task_routing_key(self.task_id, self.group, run_id, worker)
        return Message(EXCHANGE_PREFIX + kind, key, payload)


def make_request(
    request_id: str = "req-1",
    *,
    label: str = LABEL,
    group: str = GROUP,
    wanted: int = 1,
    task_ids: tuple[str, ...] = (),
    **fields: Any,
) -> Request:
    return Request(
        request_id=request_id,
        push=Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", group),
        label=label,
        wanted=wanted,
        task_ids=task_ids,
        **fields,
    )


def events(messages: list[Message]) -> list[TaskEvent]:
    return [message.event() for message in messages]
