"""Hostile messages the parser must reject, found by the chaos suite's generator
(a boolean runs[].runId passed as the run's number, False == 0; fixed in 24cfe17)."""

from __future__ import annotations

import json

import pytest

from chaos.hostile import has_bool_run_id
from mozci_monitor.core.messages import MalformedMessage, parse_message

pytestmark = [pytest.mark.chaos]

GROUP = "FjJITctnT-ekJ7fkoxcfvA"
TASK = "a0TOSbM-S_mOpQrbLVIxXg"


def _running(run_id: object) -> bytes:
    body = {
        "version": 1,
        "runId": 0,
        "workerGroup": "wg",
        "workerId": "wid",
        "takenUntil": "2024-03-01T13:00:00.000Z",
        "status": {
            "taskId": TASK,
            "taskGroupId": GROUP,
            "provisionerId": "prov",
            "workerType": "wtype",
            "schedulerId": "sched",
            "deadline": "2024-03-02T12:00:00.000Z",
            "retriesLeft": 5,
            "state": "running",
            "runs": [{"runId": run_id, "state": "running", "reasonCreated": "scheduled"}],
        },
    }
    return json.dumps(body).encode()


KEY = f"primary.{TASK}.0.wg.wid.prov.wtype.sched.{GROUP}._"
EXCHANGE = "exchange/taskcluster-queue/v1/task-running"


def test_a_real_run_id_is_accepted() -> None:
    assert parse_message(EXCHANGE, KEY, _running(0)).status.runs[0].run_id == 0
    assert not has_bool_run_id(_running(0))


def test_a_boolean_run_id_is_rejected() -> None:
    assert has_bool_run_id(_running(False))
    with pytest.raises(MalformedMessage, match="runId"):
        parse_message(EXCHANGE, KEY, _running(False))
