"""Backfill end to end: a label fails for good from a known push; find it.

The simulator plants the regression in its history; the campaign is planned against the
simulator's pushlog and queue (as the CLI does) and watched by the daemon. The answer is
known exactly: the regression is permanent and nothing else fails.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from support.brokers import Broker
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import FailureKind
from sheriff.harness import intended, performed
from sheriff.scenarios import PlantedRegression, plant_never_passed, plant_regression


def _fills(sc: Scene, label: str, indexes: tuple[int, ...]) -> dict[tuple[str, str, str], int]:
    """add-new-jobs on each push (the route when gecko's backfill is not used)."""
    return {("add-new-jobs", sc.pushes[i].task_group_id, label): 1 for i in indexes}


def _backfilled(sc: Scene, failing: int, label: str, indexes: tuple[int, ...]) -> None:
    """One in-tree backfill from the failing push; its `-bk` tasks on every push filled."""
    assert performed(sc.sim) == {("backfill", sc.pushes[failing].task_group_id, label): 1}
    for index in indexes:
        marked = [
            task
            for task in sc.sim.tasks_of(sc.pushes[index], label)
            if task.definition["extra"]["treeherder"]["symbol"].endswith("-bk")
        ]
        assert len(marked) == 1, (index, [t.definition["extra"] for t in marked])
        assert marked[0].definition["tags"]["action"] == "backfill-task"
        assert marked[0].state in ("completed", "failed")  # watched to its end


def _assert_right_answer(sc: Scene, campaign_id: str, case: PlantedRegression) -> None:
    final = sc.campaign(campaign_id)
    assert final.state is CampaignState.FINISHED, final.outcome
    answer = final.summary["answer"]
    culprit, before = sc.pushes[case.culprit], sc.pushes[case.culprit - 1]
    assert answer["last_good"] == {"push_id": before.push_id, "revision": before.revision}
    assert answer["first_bad"] == {"push_id": culprit.push_id, "revision": culprit.revision}
    assert final.outcome == (
        f"last good {before.revision[:12]} (push {before.push_id}),"
        f" first bad {culprit.revision[:12]} (push {culprit.push_id})"
    )
    # every push from the last good one known before the campaign to the failing one
    verdicts = {p["push_id"]: p["verdict"] for p in answer["pushes"]}
    expected = {
        sc.pushes[i].push_id: ("passed" if i < case.culprit else "failed")
        for i in range(case.last_good, case.failing + 1)
    }
    assert verdicts == expected


async def test_backfill_finds_the_planted_culprit(broker: Broker, tmp_path: Path) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        # the range reaches back before the simulator's first push
        plan = await sc.plan_backfill(case.failing, case.label, max_revisions=HISTORY_PLUS)
        assert [r.push.task_group_id for r in plan.requests] == [
            sc.pushes[i].task_group_id for i in case.to_fill
        ]
        assert all(r.label == case.label and r.wanted == 1 for r in plan.requests)
        assert plan.campaign.push.revision == sc.pushes[case.failing].revision

        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        _assert_right_answer(sc, plan.campaign.campaign_id, case)
        # one backfill reached each push where the label had not run, nothing else
        _backfilled(sc, case.failing, case.label, case.to_fill)
        assert intended(sc.acts(plan.campaign.campaign_id)) == performed(sc.sim)
        assert sc.sim.stats.reruns == 0
        sc.notified_once(plan.campaign.campaign_id)


HISTORY_PLUS = 20  # more revisions than the simulator has: the range starts before it


async def test_backfill_falls_back_to_add_new_jobs_where_backfill_is_not_offered(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    config = replace(case.config, withheld_actions=("backfill",))
    async with scene(broker, tmp_path, config) as sc:
        plan = await sc.plan_backfill(case.failing, case.label, max_revisions=HISTORY_PLUS)
        assert plan.campaign.params["backfill_depth"] > 0
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        _assert_right_answer(sc, plan.campaign.campaign_id, case)
        # the backfill could not be rendered: each push got add-new-jobs instead, once
        assert performed(sc.sim) == _fills(sc, case.label, case.to_fill)
        (backfill,) = [e for e in sc.acts(plan.campaign.campaign_id) if e.key.endswith(":backfill")]
        assert backfill.state == "failed"
        assert "backfill" in (backfill.last_error or "")
        for request in sc.requests(plan.campaign.campaign_id):
            kinds = [e.kind for e in sc.reader.timeline(request.request_id)]
            assert "action-failed" in kinds
        sc.notified_once(plan.campaign.campaign_id)


async def test_backfill_reports_a_label_that_never_passed(broker: Broker, tmp_path: Path) -> None:
    case = plant_never_passed(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(case.failing, case.label, max_revisions=HISTORY_PLUS)
        not_run = tuple(i for i in range(case.failing) if i not in case.ran)
        assert [r.push.task_group_id for r in plan.requests] == [
            sc.pushes[i].task_group_id for i in not_run
        ]
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED
        answer = final.summary["answer"]
        first = sc.pushes[0]
        assert answer["last_good"] is None
        assert answer["first_bad"] == {"push_id": first.push_id, "revision": first.revision}
        assert final.outcome == (
            f"never passed in the {case.failing + 1} pushes analysed;"
            f" earliest failure {first.revision[:12]}"
        )
        assert {p["verdict"] for p in answer["pushes"]} == {"failed"}
        _backfilled(sc, case.failing, case.label, not_run)
        sc.notified_once(plan.campaign.campaign_id)


async def test_backfill_skips_a_push_without_decision_task(broker: Broker, tmp_path: Path) -> None:
    case = plant_regression(broker.url, spare_fill=True)
    async with scene(broker, tmp_path, case.config) as sc:
        # a push to fill the answer does not depend on loses its index entry (a 404)
        lost = next(i for i in case.to_fill if i not in (case.culprit - 1, case.culprit))
        sc.drop_decision_index(lost)
        plan = await sc.plan_backfill(case.failing, case.label, max_revisions=HISTORY_PLUS)
        filled = tuple(i for i in case.to_fill if i != lost)
        assert [r.push.task_group_id for r in plan.requests] == [
            sc.pushes[i].task_group_id for i in filled
        ]
        (skipped,) = plan.campaign.params["skipped"]
        assert skipped["push_id"] == sc.pushes[lost].push_id
        assert skipped["note"] == "no decision task"
        assert skipped["task_group_id"] is None

        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED
        answer = final.summary["answer"]
        row = next(p for p in answer["pushes"] if p["push_id"] == sc.pushes[lost].push_id)
        assert (row["verdict"], row["note"]) == ("skipped", "no decision task")
        assert answer["last_good"]["push_id"] == sc.pushes[case.culprit - 1].push_id
        assert answer["first_bad"]["push_id"] == sc.pushes[case.culprit].push_id
        _backfilled(sc, case.failing, case.label, filled)
        sc.notified_once(plan.campaign.campaign_id)


async def test_backfill_campaign_budget_holds(broker: Broker, tmp_path: Path) -> None:
    case = plant_regression(broker.url, min_fill=2)
    async with scene(broker, tmp_path, case.config) as sc:
        budget = len(case.to_fill) - 1
        plan = await sc.plan_backfill(
            case.failing,
            case.label,
            max_revisions=HISTORY_PLUS,
            campaign_budget=budget,
            backfill_action=False,  # one action per push: the budget runs out
        )
        assert len(plan.requests) == len(case.to_fill) > budget
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.GAVE_UP
        assert final.actions <= budget
        assert sum(sc.sim.stats.hook_triggers.values()) == budget
        assert sum(performed(sc.sim).values()) == budget
        refused = [
            r for r in sc.requests(plan.campaign.campaign_id) if r.failure is FailureKind.BUDGET
        ]
        assert len(refused) == len(case.to_fill) - budget
        sc.notified_once(plan.campaign.campaign_id)


async def test_backfill_resumes_after_a_restart_without_repeating(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url, min_fill=2)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(
            case.failing, case.label, max_revisions=HISTORY_PLUS, backfill_action=False
        )
        campaign_id = plan.campaign.campaign_id
        sc.gate.close_after(1)  # one push filled, the others held back (429)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await until(lambda: sc.gate.passed == 1 and sc.gate.refused >= 1, "one fill, one held")
        await sc.stop_daemon()
        assert sum(performed(sc.sim).values()) == 1
        assert not sc.campaign(campaign_id).is_final

        sc.gate.release()
        await sc.start_daemon()
        await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        _assert_right_answer(sc, campaign_id, case)
        assert performed(sc.sim) == _fills(sc, case.label, case.to_fill)
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        sc.notified_once(campaign_id)


async def test_backfill_with_the_daemon_dry_run_performs_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    case = plant_regression(broker.url)
    async with scene(broker, tmp_path, case.config) as sc:
        plan = await sc.plan_backfill(
            case.failing,
            case.label,
            max_revisions=HISTORY_PLUS,
            dry_run=True,
            backfill_action=False,
        )
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await until(
            lambda: (
                len(sc.acts(plan.campaign.campaign_id)) == len(case.to_fill)
                and all(e.state == "done" for e in sc.acts(plan.campaign.campaign_id))
            ),
            "every fill decided and dry-run",
        )
        assert all(
            (e.result or "").startswith("dry-run") for e in sc.acts(plan.campaign.campaign_id)
        )
        assert sc.sim.stats.hook_triggers == {}
