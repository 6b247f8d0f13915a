"""Failed upstreams block a request instead of spending retriggers (core.upstream)."""

from __future__ import annotations

import pytest

from core.builders import TASK_A, record, request
from mozci_monitor.core.actions import ActionKind, Allowance
from mozci_monitor.core.machine import settle
from mozci_monitor.core.model import FailureKind, Phase, RemedyPolicy, RequestState
from mozci_monitor.core.upstream import Upstream, judge_upstreams

BUILD = Upstream("Aan3dsW3T7CXNeZvRE-LKQ", "build-linux64/opt", "failed", "failed")
BUILD_OK = Upstream("Aan3dsW3T7CXNeZvRE-LKQ", "build-linux64/opt", "completed", "completed")
BUILD_INFRA = Upstream(
    "Aan3dsW3T7CXNeZvRE-LKQ", "build-linux64/opt", "exception", "worker-shutdown"
)
BUILD_RUNNING = Upstream("Aan3dsW3T7CXNeZvRE-LKQ", "build-linux64/opt", "running")
IMAGE = Upstream("OtherGroupImageTaskAAA", "docker-image-ubuntu", "completed")

EXPIRED = record(Phase.EXCEPTION, reason="deadline-exceeded")
WAITING = record(Phase.SCHEDULED)


def watched(**fields: object) -> object:
    values: dict[str, object] = {
        "remedy": RemedyPolicy.WATCH,
        "max_actions": 3,
        "task_ids": (TASK_A,),
    }
    values.update(fields)
    return request(**values)  # type: ignore[arg-type]


# (the request's task, its dependencies) -> "blocked" | "retrigger" | "wait"
TABLE = [
    (WAITING, [BUILD], "blocked"),
    (WAITING, [IMAGE, BUILD_INFRA], "blocked"),
    (WAITING, [BUILD_RUNNING], "wait"),
    (WAITING, [BUILD_OK], "wait"),  # it will be scheduled
    (EXPIRED, [BUILD], "blocked"),
    (EXPIRED, [IMAGE, BUILD_OK], "retrigger"),
    (EXPIRED, [], "retrigger"),
    (EXPIRED, [BUILD_RUNNING], "wait"),
]


@pytest.mark.parametrize("task, upstreams, verdict", TABLE)
def test_judge(task, upstreams, verdict):
    decision = judge_upstreams(watched(), task, upstreams)  # type: ignore[arg-type]
    final = decision.request
    if verdict == "wait":
        assert not decision.changed
    elif verdict == "blocked":
        failed = next(u for u in upstreams if u.state in ("failed", "exception"))
        assert final.state is RequestState.BLOCKED and final.is_final
        assert final.reason == f"blocked by {failed.label} ({failed.task_id}): {failed.result}"
        assert decision.actions == () and final.actions == 0  # no retrigger spent
        (blocked,) = [e for e in decision.timeline if e.kind == "blocked"]
        assert blocked.detail["upstream"] == failed.task_id
    else:
        (action,) = decision.actions
        assert (action.kind, action.task_id) == (ActionKind.RETRIGGER, TASK_A)
        assert final.replaced == (TASK_A,) and final.expected_new == 1 and final.actions == 1


def test_result_names_the_reason():
    assert BUILD.result == "failed"
    assert BUILD_INFRA.result == "exception (worker-shutdown)"


def test_a_record_only_request_is_left_alone():
    req = watched(remedy=RemedyPolicy.RECORD)
    assert not judge_upstreams(req, EXPIRED, [BUILD]).changed  # type: ignore[arg-type]


def test_no_budget_no_retrigger():
    req = watched(actions=1, tasks=3)
    decision = judge_upstreams(req, EXPIRED, [BUILD_OK], Allowance())  # type: ignore[arg-type]
    assert decision.actions == ()
    assert decision.request.failure is FailureKind.BUDGET


def test_an_expired_task_keeps_an_acting_request_open_until_judged():
    # settle() alone would have called it failed (exception); the judgement decides.
    acting = settle(watched(), [EXPIRED])  # type: ignore[arg-type]
    assert not acting.is_final
    recording = settle(watched(remedy=RemedyPolicy.RECORD), [EXPIRED])  # type: ignore[arg-type]
    assert (recording.state, recording.failure) == (RequestState.FAILED, FailureKind.EXCEPTION)


def test_blocked_is_final_and_stays():
    blocked = judge_upstreams(watched(), WAITING, [BUILD]).request  # type: ignore[arg-type]
    assert not judge_upstreams(blocked, EXPIRED, [BUILD_OK]).changed
    assert settle(blocked, [EXPIRED]) == blocked
