"""Scheduler behaviour: dependencies, retries, planted regressions, deadlines, time."""

from __future__ import annotations

from typing import Any

from support.waiting import until

from mozci_monitor.sim import ForcedOutcome, PulseMessage, Regression, Simulator

from .helpers import treeherder_jobs


async def _live_push(sim: Simulator) -> Any:
    await sim.advance(1)
    return sim.pushes[-1]


async def test_tasks_wait_for_their_build(sim: Simulator) -> None:
    push = await _live_push(sim)
    await sim.advance(600)  # decision done, builds pending/running
    for task in sim.tasks_of(push):
        if task.kind == "test":
            build = sim.task(task.definition["dependencies"][0])
            if build.state != "completed":
                assert task.state == "unscheduled"
    await sim.run_until_idle()
    assert all(t.state == "completed" for t in sim.tasks_of(push))


async def test_claim_expired_is_retried_with_reason_retry(
    sim: Simulator, collected: list[PulseMessage]
) -> None:
    push = await _live_push(sim)
    await sim.advance(600)
    task_id = next(t.task_id for t in sim.tasks_of(push) if t.kind == "test")
    sim.force_outcome(task_id, 0, "claim-expired")
    await sim.run_until_idle()
    task = sim.task(task_id)
    assert [r["reasonCreated"] for r in task.runs] == ["scheduled", "retry"]
    assert task.runs[0]["state"] == "exception"
    assert task.runs[0]["reasonResolved"] == "claim-expired"
    assert task.runs[1]["state"] == "completed"
    assert task.retries_left == sim.config.retries - 1
    mine = [m for m in collected if m.body["status"]["taskId"] == task_id]
    kinds = [(m.exchange.rsplit("/", 1)[1], m.body.get("runId")) for m in mine]
    # the queue announces the retry's pending run instead of an exception for run 0
    assert kinds == [
        ("task-defined", None),
        ("task-pending", 0),
        ("task-running", 0),
        ("task-pending", 1),
        ("task-running", 1),
        ("task-completed", 1),
    ]
    jobs = [j for j in await treeherder_jobs(sim, push) if j["task_id"] == task_id]
    assert [(j["retry_id"], j["result"]) for j in jobs] == [(0, "retry"), (1, "success")]


async def test_exhausted_retries_end_in_exception(make_sim: Any) -> None:
    sim: Simulator = await make_sim(
        retries=1,
        forced=(
            ForcedOutcome("build-linux64/opt", "worker-shutdown", run_id=0, push=4),
            ForcedOutcome("build-linux64/opt", "worker-shutdown", run_id=1, push=4),
        ),
    )
    await sim.run_until_idle()
    (build,) = sim.tasks_of(sim.world.pushes[4], "build-linux64/opt")
    assert build.state == "exception"
    assert [r["reasonCreated"] for r in build.runs] == ["scheduled", "retry"]
    assert build.runs[1]["reasonResolved"] == "worker-shutdown"
    assert build.retries_left == 0
    # its tests never run and the deadline finally resolves them
    for task in sim.tasks_of(sim.world.pushes[4]):
        if task.definition["dependencies"] == [build.task_id]:
            assert task.state == "exception"
            assert task.runs == [
                {
                    "runId": 0,
                    "state": "exception",
                    "reasonCreated": "exception",
                    "reasonResolved": "deadline-exceeded",
                    "scheduled": task.runs[0]["scheduled"],
                    "resolved": task.runs[0]["resolved"],
                }
            ]


async def test_planted_regression_fails_from_its_push_on(make_sim: Any) -> None:
    label = "test-linux1804-64/opt-xpcshell"
    sim: Simulator = await make_sim(
        scheduled_fraction=1.0, regression=Regression(label=label, from_push=4)
    )
    await sim.run_until_idle()
    states = [sim.tasks_of(push, label)[0].state for push in sim.world.pushes]
    assert states == ["completed"] * 4 + ["failed"] * 2


async def test_deadline_exceeded_and_superseded_outcomes(sim: Simulator) -> None:
    push = await _live_push(sim)
    sim.force_outcome("build-linux64/opt", 0, "deadline-exceeded")
    sim.force_outcome("build-win64/debug", 0, "superseded")
    messages: list[PulseMessage] = []
    sim.add_message_listener(messages.append)
    await sim.run_until_idle()
    linux = sim.tasks_of(push, "build-linux64/opt")[0]
    assert linux.runs[0]["reasonResolved"] == "deadline-exceeded"
    assert "started" not in linux.runs[0] and "workerId" not in linux.runs[0]
    exception = next(
        m
        for m in messages
        if m.exchange.endswith("task-exception") and m.body["status"]["taskId"] == linux.task_id
    )
    assert "workerGroup" not in exception.body
    assert exception.routing_key.split(".")[3:5] == ["_", "_"]
    win = sim.tasks_of(push, "build-win64/debug")[0]
    assert (win.state, win.runs[0]["reasonResolved"]) == ("exception", "superseded")
    jobs = {j["task_id"]: j for j in await treeherder_jobs(sim, push)}
    assert jobs[win.task_id]["result"] == "superseded"
    assert jobs[linux.task_id]["result"] == "exception"


async def test_cancel_shows_as_usercancel(sim: Simulator) -> None:
    push = await _live_push(sim)
    await sim.advance(400)
    pending = next(t for t in sim.tasks_of(push) if t.state in ("pending", "running"))
    sim.world.cancel(pending.task_id)
    await sim.advance(60)
    jobs = {j["task_id"]: j for j in await treeherder_jobs(sim, push)}
    assert jobs[pending.task_id]["result"] == "usercancel"


async def test_auto_advance_runs_ci_time(make_sim: Any) -> None:
    # 0.01 wall seconds per CI hour: a few ticks cover hours of CI time
    sim: Simulator = await make_sim(auto_advance=True, time_scale=0.01, tick_seconds=0.01)
    await until(lambda: sim.now > 3600, "an hour of CI time", interval=0.01)
    assert sim.pushes[-1].index >= 3


async def test_canceling_an_unscheduled_task_creates_an_exception_run(sim: Simulator) -> None:
    push = await _live_push(sim)
    await sim.advance(400)
    waiting = next(t for t in sim.tasks_of(push) if t.state == "unscheduled")
    active = sim.world.active_runs
    sim.world.cancel(waiting.task_id)
    assert sim.world.active_runs == active
    assert waiting.runs == [
        {
            "runId": 0,
            "state": "exception",
            "reasonCreated": "exception",
            "reasonResolved": "canceled",
            "scheduled": waiting.runs[0]["scheduled"],
            "resolved": waiting.runs[0]["resolved"],
        }
    ]
    await sim.run_until_idle()
    assert waiting.state == "exception"  # completing its build does not revive it
    assert sim.world.active_runs == 0
