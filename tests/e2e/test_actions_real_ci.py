"""Firefox CI's in-tree actions as they really behave (issue 14), end to end.

Builds are tagged `retrigger: "false"`: gecko's retrigger callbacks will not clone them
(retrigger-disabled exits 1, retrigger-multiple only reruns their failed tasks), so the
monitor schedules more runs of a build with add-new-jobs and its action task must succeed.
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.ci import live_push_ci
from support.scene import scene

from e2e.harness import actions_taken, final_state
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import FailureKind, RequestState


async def test_a_build_watched_three_times_gets_its_runs(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        build = next(label for label in sc.scheduled if label.startswith("build-"))
        _, request, finished = await sc.watch_to_the_end(build, wanted=3)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        builds = sc.tasks(build)
        assert len(builds) == 3
        assert [t.definition["tags"]["retrigger"] for t in builds] == ["false"] * 3
        triggers = sc.push_triggers()
        assert [(t.action, t.input) for t in triggers] == [
            ("add-new-jobs", {"tasks": [build], "times": 2})
        ]
        assert all(sc.sim.world.tasks[t.action_task_id].state == "completed" for t in triggers)
        (entry,) = [e for e in sc.outbox(request_id=request.request_id)]
        assert entry.result is not None and entry.result.startswith("add-new-jobs via hook")
        assert "action task" in entry.result
        assert final_state(sc.timeline(request.request_id))["state"] == "completed"


async def test_a_failing_action_task_is_noticed_and_the_request_ends_saying_why(
    broker: Broker, tmp_path: Path
) -> None:
    # Every action task fails (a broken callback): nothing the monitor asks for appears.
    failing = live_push_ci(broker.url, action_task_failure_rate=1.0)
    async with scene(broker, tmp_path, failing) as sc:
        label = sc.scheduled_tests[0]
        campaign, request, finished = await sc.watch_to_the_end(label, wanted=2)

        assert finished.state is CampaignState.GAVE_UP
        final = sc.request(request.request_id)
        assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.ACTION)
        triggers = sc.push_triggers()
        # retrigger-multiple failed, retried once by add-new-jobs, which failed too
        assert [t.action for t in triggers] == ["retrigger-multiple", "add-new-jobs"]
        failed = [t.action_task_id for t in triggers]
        assert all(sc.sim.world.tasks[task_id].state == "failed" for task_id in failed)
        assert final.reason is not None
        assert final.reason.startswith(f"add-new-jobs produced nothing: action task {failed[1]}")
        assert f"/api/queue/v1/task/{failed[1]}/runs/0/artifacts/public/logs/" in final.reason
        timeline = sc.timeline(request.request_id)
        noticed = [e.task_id for e in timeline if e.kind == "action-failed"]
        assert noticed == failed
        assert [a for a, _ in actions_taken(timeline)] == ["retrigger", "add-new-jobs"]
        assert final.actions == 2  # both count in the budget
        # the campaign's notification says why
        (note,) = [n for n in sc.recorder.sent if n.campaign_id == campaign.campaign_id]
        assert note.outcome == "gave-up"
        assert f"action task {failed[1]}" in note.title  # the answer sentence says why


async def test_a_test_blocked_by_a_failed_build_ends_blocked(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        build = sc.sim.world.graph.dependencies(label)["build"]
        sc.plant(build, {0: "failed"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        (build_task,) = sc.tasks(build)
        (test_task,) = sc.tasks(label)
        assert test_task.state == "unscheduled"  # it never ran: its build failed
        final = sc.request(request.request_id)
        assert final.state is RequestState.BLOCKED
        assert final.reason == f"blocked by {build} ({build_task.task_id}): failed"
        assert final.actions == 0
        assert sc.push_triggers() == []
        assert sc.sim.stats.reruns == 0
        assert final_state(sc.timeline(request.request_id))["state"] == "blocked"
        assert finished.state is CampaignState.FAILED
        assert finished.outcome is not None and build_task.task_id in finished.outcome
        (note,) = [n for n in sc.recorder.sent if n.campaign_id == campaign.campaign_id]
        assert f"blocked by {build}" in note.title
