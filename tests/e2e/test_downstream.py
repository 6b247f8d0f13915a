"""A downstream campaign end to end: a build finishes, its optimised-away tests are added."""

from __future__ import annotations

from pathlib import Path

from support.brokers import Broker
from support.daemon import SHERIFF
from support.scene import scene

from e2e.harness import actions_taken
from mozci_monitor.config import ActionsSettings
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import RequestState


async def test_tests_optimised_away_from_a_finished_build_are_added_in_one_action(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path) as sc:
        builds = [label for label in sc.scheduled if label.startswith("build-")]
        build = max(builds, key=lambda b: len(sc.unscheduled_tests(b)))
        missing = sc.unscheduled_tests(build)
        assert missing, "the simulated push optimised away no test of any build"
        campaign, build_request = sc.downstream(build)
        await sc.start(campaign, build_request)
        sc.go()
        finished = await sc.finished(campaign.campaign_id)

        assert finished.state is CampaignState.FINISHED
        assert finished.params["expanded_builds"] == [build]
        requests = sc.reader.campaign_requests(campaign.campaign_id)
        by_label = {r.label: r for r in requests}
        assert sorted(by_label) == sorted([build, *missing])
        assert len(requests) == len(missing) + 1  # one request per missing test
        assert {r.state for r in requests} == {RequestState.COMPLETED}
        for label in missing:
            (task,) = sc.tasks(label)
            assert by_label[label].task_ids == (task.task_id,)
            # The tests were added by the campaign, not by their own requests.
            assert actions_taken(sc.timeline(by_label[label].request_id)) == []

        outbox = sc.outbox(campaign_id=campaign.campaign_id)
        assert [(e.key, e.action.kind.value, e.state) for e in outbox] == [
            (f"{campaign.campaign_id}/downstream/{build}", "add-new-jobs", "done"),
            (f"campaign:{campaign.campaign_id}:finished", "notify", "done"),
        ]
        assert sorted(outbox[0].action.labels) == missing
        stats = sc.sim.stats
        assert stats.hook_triggers == {"add-new-jobs": 1}
        assert stats.action_calls == {("add-new-jobs", ",".join(missing)): 1}
        assert stats.reruns == 0
        (trigger,) = sc.sim.hook_triggers
        assert sorted(trigger.input["tasks"]) == missing

        assert [(n.kind, n.outcome) for n in sc.recorder.sent] == [("downstream", "finished")]
        mails = [n for n in sc.sim.notifications if n.payload.get("address") == SHERIFF]
        assert len(mails) == 1


async def test_downstream_respects_the_daily_repository_budget(
    broker: Broker, tmp_path: Path
) -> None:
    one_a_day = ActionsSettings(max_per_request=3, max_per_repo_day=1)
    async with scene(broker, tmp_path, actions=one_a_day) as sc:
        builds = [label for label in sc.scheduled if label.startswith("build-")]
        build = max(builds, key=lambda b: len(sc.unscheduled_tests(b)))
        never = next(
            label for label in sc.unscheduled_tests() if label not in sc.unscheduled_tests(build)
        )
        # The day's one action: a label the push never scheduled, added.
        watch, watch_request = sc.watch(never)
        await sc.start(watch, watch_request)
        sc.go()
        await sc.finished(watch.campaign_id)
        assert sc.sim.stats.hook_triggers == {"add-new-jobs": 1}

        campaign, build_request = sc.downstream(build)
        await sc.start(campaign, build_request)
        finished = await sc.finished(campaign.campaign_id)

        assert sc.sim.stats.hook_triggers == {"add-new-jobs": 1}, "the budget was used up"
        assert finished.state is CampaignState.GAVE_UP
