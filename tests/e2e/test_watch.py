"""Watch campaigns end to end: the simulator plants a problem, the daemon sets it right.

Each test plants one scenario on the push that is arriving, watches one label and checks
what a user would: the request's final state, its timeline, the outbox and — counted at
the simulator — exactly the intents the monitor should have performed, no more.
"""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.daemon import SHERIFF
from support.scene import Scene, scene
from support.waiting import until

from e2e.harness import actions_taken, final_state, phases
from mozci_monitor.config import ActionsSettings
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import FailureKind, RequestState


def _notified_once(sc: Scene, campaign_id: str, outcome: str) -> None:
    """One notification per campaign: through every sink, once, saying how it ended."""
    notes = [n for n in sc.recorder.sent if n.campaign_id == campaign_id]
    assert [n.outcome for n in notes] == [outcome]
    notify = [e for e in sc.outbox(campaign_id=campaign_id) if e.action.kind.value == "notify"]
    assert [(e.key, e.state) for e in notify] == [(f"campaign:{campaign_id}:finished", "done")]
    mails = [n for n in sc.sim.notifications if n.payload.get("address") == SHERIFF]
    assert len(mails) == 1
    assert outcome in mails[0].payload["subject"]


async def test_orange_is_recorded_and_left_alone(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "failed"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FAILED
        final = sc.request(request.request_id)
        assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.ORANGE)
        (task,) = sc.tasks(label)
        assert final.task_ids == (task.task_id,)
        timeline = sc.timeline(request.request_id)
        assert timeline[0].kind == "registered"
        assert [e.task_id for e in timeline if e.kind == "task-seen"] == [task.task_id]
        assert phases(timeline, task.task_id)[-1] == ("orange", 0, "scheduled")
        assert actions_taken(timeline) == []
        assert final_state(timeline) == {
            "state": "failed",
            "failure": "orange",
            "reason": "1 of 1 runs failed",
        }
        assert sc.outbox(request_id=request.request_id) == []
        stats = sc.sim.stats
        assert (stats.hook_triggers, stats.reruns) == ({}, 0)
        _notified_once(sc, campaign.campaign_id, "failed")


async def test_orange_with_green_required_is_retriggered_until_green(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "failed"})
        campaign, request, finished = await sc.watch_to_the_end(label, require_green=True)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        orange, green = sc.tasks(label)
        assert final.task_ids == (orange.task_id, green.task_id)
        timeline = sc.timeline(request.request_id)
        assert phases(timeline, orange.task_id)[-1] == ("orange", 0, "scheduled")
        assert phases(timeline, green.task_id)[-1] == ("completed", 0, "scheduled")
        assert actions_taken(timeline) == [("retrigger", "orange, green runs required")]
        assert final_state(timeline) == {"state": "completed"}
        (entry,) = sc.outbox(request_id=request.request_id)
        assert (entry.action.kind.value, entry.action.task_id, entry.state, entry.attempts) == (
            "retrigger",
            orange.task_id,
            "done",
            1,
        )
        # Treeherder's route for a retriggerable test: retrigger-multiple, by label
        assert entry.result is not None
        assert entry.result.startswith("retrigger-multiple via hook")
        stats = sc.sim.stats
        assert stats.hook_triggers == {"retrigger-multiple": 1}
        assert stats.action_calls == {("retrigger-multiple", label): 1}
        assert stats.reruns == 0
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_infrastructure_exception_is_rerun_once(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "internal-error"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        (task,) = sc.tasks(label)
        assert final.task_ids == (task.task_id,)
        timeline = sc.timeline(request.request_id)
        seen = phases(timeline, task.task_id)
        assert ("exception", 0, "scheduled") in seen
        assert seen[-1] == ("completed", 1, "rerun")
        assert actions_taken(timeline) == [("rerun", "infrastructure exception: internal-error")]
        assert final_state(timeline) == {"state": "completed"}
        (entry,) = sc.outbox(request_id=request.request_id)
        assert (entry.action.kind.value, entry.action.task_id, entry.state) == (
            "rerun",
            task.task_id,
            "done",
        )
        assert entry.result == f"rerun: task {task.task_id} now has 2 runs"
        stats = sc.sim.stats
        assert (stats.hook_triggers, stats.reruns) == ({}, 1)
        assert [run["reasonCreated"] for run in task.runs] == ["scheduled", "rerun"]
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_auto_retried_exception_is_left_to_the_queue(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "claim-expired"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        (task,) = sc.tasks(label)
        assert [run["reasonCreated"] for run in task.runs] == ["scheduled", "retry"]
        timeline = sc.timeline(request.request_id)
        seen = phases(timeline, task.task_id)
        assert any(run == 1 and created == "retry" for _, run, created in seen)
        assert seen[-1] == ("completed", 1, "retry")
        assert actions_taken(timeline) == []
        assert final_state(timeline) == {"state": "completed"}
        assert sc.outbox(request_id=request.request_id) == []
        stats = sc.sim.stats
        assert (stats.hook_triggers, stats.reruns) == ({}, 0)
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_coalesced_task_is_scheduled_again_once(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "superseded"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        coalesced, fresh = sc.tasks(label)
        assert final.task_ids == (coalesced.task_id, fresh.task_id)
        assert final.replaced == (coalesced.task_id,)
        timeline = sc.timeline(request.request_id)
        assert phases(timeline, coalesced.task_id)[-1] == ("coalesced", 0, "scheduled")
        assert phases(timeline, fresh.task_id)[-1] == ("completed", 0, "scheduled")
        assert actions_taken(timeline) == [("add-new-jobs", "coalesced (superseded)")]
        assert final_state(timeline) == {"state": "completed"}
        (entry,) = sc.outbox(request_id=request.request_id)
        assert (entry.action.kind.value, entry.action.labels, entry.state) == (
            "add-new-jobs",
            (label,),
            "done",
        )
        stats = sc.sim.stats
        assert stats.hook_triggers == {"add-new-jobs": 1}
        assert stats.action_calls == {("add-new-jobs", label): 1}
        assert stats.reruns == 0
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_label_never_scheduled_is_added_once(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        builds = {label for label in sc.scheduled if label.startswith("build-")}
        label = next(
            label
            for label in sc.unscheduled_tests()
            if sc.sim.world.graph.dependencies(label).get("build") in builds
        )
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        (task,) = sc.tasks(label)
        assert final.task_ids == (task.task_id,)
        timeline = sc.timeline(request.request_id)
        assert actions_taken(timeline) == [("add-new-jobs", "never scheduled")]
        assert phases(timeline, task.task_id)[-1] == ("completed", 0, "scheduled")
        assert final_state(timeline) == {"state": "completed"}
        (entry,) = sc.outbox(request_id=request.request_id)
        assert (entry.action.kind.value, entry.action.labels, entry.state) == (
            "add-new-jobs",
            (label,),
            "done",
        )
        stats = sc.sim.stats
        assert stats.hook_triggers == {"add-new-jobs": 1}
        assert stats.action_calls == {("add-new-jobs", label): 1}
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_budget_exhausted_gives_up_after_one_rerun(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "internal-error", 1: "internal-error"})
        campaign, request, finished = await sc.watch_to_the_end(label, max_actions=1)

        assert finished.state is CampaignState.GAVE_UP
        final = sc.request(request.request_id)
        assert (final.state, final.failure) == (RequestState.FAILED, FailureKind.BUDGET)
        assert final.reason == "per-request budget of 1 tasks spent"
        (task,) = sc.tasks(label)
        timeline = sc.timeline(request.request_id)
        assert actions_taken(timeline) == [("rerun", "infrastructure exception: internal-error")]
        gave_up = [e.detail for e in timeline if e.kind == "gave-up"]
        assert gave_up == [{"wanted": "rerun", "why": "per-request budget of 1 tasks spent"}]
        assert phases(timeline, task.task_id)[-1] == ("exception", 1, "rerun")
        assert final_state(timeline)["failure"] == "budget"
        assert [
            (e.action.kind.value, e.state) for e in sc.outbox(request_id=request.request_id)
        ] == [("rerun", "done")]
        stats = sc.sim.stats
        assert (stats.hook_triggers, stats.reruns) == ({}, 1)
        _notified_once(sc, campaign.campaign_id, "gave-up")


async def test_dry_run_decides_every_remedy_and_performs_none(
    broker: Broker, tmp_path: Path
) -> None:
    dry = ActionsSettings(dry_run=True, max_per_request=3)
    async with scene(broker, tmp_path, actions=dry) as sc:
        tests = sc.scheduled_tests
        sc.plant(tests[0], {0: "internal-error"})
        sc.plant(tests[1], {0: "failed"})
        sc.plant(tests[2], {0: "superseded"})
        never = sc.unscheduled_tests()[0]
        wanted = {
            tests[0]: ("rerun", {}),
            tests[1]: ("retrigger", {"require_green": True}),
            tests[2]: ("add-new-jobs", {}),
            never: ("add-new-jobs", {}),
        }
        requests = {}
        for label, (_, options) in wanted.items():
            campaign, request = sc.watch(label, **options)
            await sc.start(campaign, request)
            requests[label] = request.request_id
        sc.go()

        def all_decided() -> bool:
            return all(
                [e.state for e in sc.outbox(request_id=rid)] == ["done"]
                for rid in requests.values()
            )

        await until(all_decided, "every dry-run action marked done")
        for label, (kind, _) in wanted.items():
            (entry,) = sc.outbox(request_id=requests[label])
            assert entry.action.kind.value == kind
            assert entry.result is not None and entry.result.startswith("dry-run: would "), entry
            assert kind in entry.result
        stats = sc.sim.stats
        assert (stats.hook_triggers, stats.action_calls, stats.reruns) == ({}, {}, 0)
        # Nothing was performed, so what the requests wait for never comes.
        for rid in requests.values():
            assert not sc.request(rid).is_final


async def test_fewer_runs_than_wanted_are_retriggered_in_one_action(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        campaign, request, finished = await sc.watch_to_the_end(label, wanted=3)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        first, *more = sc.tasks(label)
        assert len(more) == 2
        assert final.task_ids[0] == first.task_id
        assert sorted(final.task_ids) == sorted(t.task_id for t in (first, *more))
        timeline = sc.timeline(request.request_id)
        assert actions_taken(timeline) == [("retrigger", "2 more run(s) wanted")]
        assert final_state(timeline) == {"state": "completed"}
        (entry,) = sc.outbox(request_id=request.request_id)
        assert (entry.action.kind.value, entry.action.times, entry.state) == (
            "retrigger",
            2,
            "done",
        )
        stats = sc.sim.stats
        assert stats.hook_triggers == {"retrigger-multiple": 1}
        assert stats.action_calls == {("retrigger-multiple", label): 1}
        assert sc.sim.hook_triggers[0].input == {"requests": [{"tasks": [label], "times": 2}]}
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_deadline_exceeded_is_replaced_by_a_retrigger(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "deadline-exceeded"})
        campaign, request, finished = await sc.watch_to_the_end(label)

        assert finished.state is CampaignState.FINISHED
        final = sc.request(request.request_id)
        assert final.state is RequestState.COMPLETED
        expired, fresh = sc.tasks(label)
        assert final.replaced == (expired.task_id,)
        timeline = sc.timeline(request.request_id)
        assert phases(timeline, expired.task_id)[-1] == ("exception", 0, "scheduled")
        assert phases(timeline, fresh.task_id)[-1] == ("completed", 0, "scheduled")
        assert actions_taken(timeline) == [("retrigger", "exception: deadline-exceeded")]
        stats = sc.sim.stats
        assert stats.hook_triggers == {"retrigger-multiple": 1}
        assert stats.action_calls == {("retrigger-multiple", label): 1}
        assert stats.reruns == 0
        _notified_once(sc, campaign.campaign_id, "finished")


async def test_daily_repository_budget_caps_tasks_across_campaigns(
    broker: Broker, tmp_path: Path
) -> None:
    one_a_day = ActionsSettings(max_per_request=3, max_per_repo_day=1)
    async with scene(broker, tmp_path, actions=one_a_day) as sc:
        tests = sc.scheduled_tests
        sc.plant(tests[0], {0: "internal-error"})
        sc.plant(tests[1], {0: "internal-error"})
        watched = [sc.watch(tests[0]), sc.watch(tests[1])]
        for campaign, request in watched:
            await sc.start(campaign, request)
        sc.go()
        states = sorted([(await sc.finished(c.campaign_id)).state.value for c, _ in watched])

        assert states == ["finished", "gave-up"]
        refused = [
            sc.request(r.request_id)
            for _, r in watched
            if sc.request(r.request_id).failure is FailureKind.BUDGET
        ]
        assert [r.reason for r in refused] == [f"daily task budget for {sc.push.repo} spent"]
        stats = sc.sim.stats
        assert (stats.reruns, stats.hook_triggers) == (1, {})


async def test_watch_started_after_the_push_ran_catches_up_and_acts(
    broker: Broker, tmp_path: Path
) -> None:
    # Pulse never says anything about a push that ran before the campaign: the daemon
    # learns it all from the queue's REST API and still sets things right.
    async with scene(broker, tmp_path) as sc:
        tests = sc.scheduled_tests
        sc.plant(tests[0], {0: "internal-error"})
        sc.plant(tests[1], {0: "superseded"})
        never = sc.unscheduled_tests()[0]
        sc.go()
        await until(
            lambda: (
                all(
                    task.state in ("completed", "exception")
                    for label in sc.scheduled
                    for task in sc.tasks(label)
                )
                and bool(sc.tasks(tests[0]))
            ),
            "the push ran to the end",
        )
        watched = [sc.watch(tests[0]), sc.watch(tests[1]), sc.watch(never)]
        for campaign, request in watched:
            await sc.start(campaign, request)
        for campaign, _ in watched:
            assert (await sc.finished(campaign.campaign_id)).state is CampaignState.FINISHED

        for _, request in watched:
            assert sc.request(request.request_id).state is RequestState.COMPLETED
        (rerun,) = sc.tasks(tests[0])
        stats = sc.sim.stats
        assert stats.reruns == 1
        assert stats.action_calls == {("add-new-jobs", tests[1]): 1, ("add-new-jobs", never): 1}
        assert [run["reasonCreated"] for run in rerun.runs] == ["scheduled", "rerun"]
