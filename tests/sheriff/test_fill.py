"""Fill end to end: schedule the jobs of a push's full graph that never ran (filtered).

The expected labels are computed here from the simulator's graph and the push's schedule,
independently of the reconciler: every label of the full graph with no task on the push,
that every --include pattern matches and no --exclude pattern does — but the `-cf` copies,
which only gecko's confirm-failures schedules (the simulator's graph marks them).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from support.brokers import Broker
from support.ci import history_ci
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor import planner
from mozci_monitor.config import Settings
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import RequestState
from sheriff.harness import intended, performed

INCLUDE = ["^test-", "opt"]
EXCLUDE = ["windows", "crashtest"]


def _never_ran(sc: Scene, index: int, include: list[str], exclude: list[str]) -> list[str]:
    push = sc.pushes[index]
    return sorted(
        label
        for label, spec in sc.sim.world.graph.specs.items()
        if label not in push.label_to_taskid
        and not spec.confirm_failure
        and all(re.search(p, label) for p in include)
        and not any(re.search(p, label) for p in exclude)
    )


def _push_with_most_missing(sc: Scene) -> int:
    return max(range(len(sc.pushes)), key=lambda i: len(_never_ran(sc, i, INCLUDE, EXCLUDE)))


async def _check_filled(sc: Scene, index: int, campaign_id: str, expected: list[str]) -> None:
    final = sc.campaign(campaign_id)
    assert final.state is CampaignState.FINISHED, final.outcome
    assert final.summary["added"] == expected
    assert final.outcome == f"all {len(expected)} requests satisfied"
    requests = sc.requests(campaign_id)
    assert sorted(r.label for r in requests) == expected
    assert all(r.state is RequestState.COMPLETED for r in requests)
    group = sc.pushes[index].task_group_id
    # one add-new-jobs with exactly those labels, once
    assert performed(sc.sim) == {("add-new-jobs", group, ",".join(expected)): 1}
    assert intended(sc.acts(campaign_id)) == performed(sc.sim)
    for label in expected:
        (task,) = sc.tasks_at(index, label)
        assert task.runs[-1]["state"] == "completed"
    # labels the filters left out are still not there
    for label in _never_ran(sc, index, [], []):
        if label not in expected:
            assert sc.tasks_at(index, label) == []
    sc.notified_once(campaign_id)


async def test_fill_adds_exactly_the_never_run_labels_matching_the_filters(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        index = _push_with_most_missing(sc)
        expected = _never_ran(sc, index, INCLUDE, EXCLUDE)
        assert len(expected) >= 2
        plan = planner.plan_fill(sc.push_at(index), include=INCLUDE, exclude=EXCLUDE)
        assert plan.requests == ()
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)
        await _check_filled(sc, index, plan.campaign.campaign_id, expected)


async def test_fill_with_nothing_matching_adds_nothing(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        plan = planner.plan_fill(sc.push_at(0), include=["no-such-suite"])
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED
        assert final.outcome == "nothing was missing"
        assert final.summary["added"] == []
        assert sc.requests(plan.campaign.campaign_id) == []
        assert sc.sim.stats.hook_triggers == {}
        sc.notified_once(plan.campaign.campaign_id)


async def test_fill_resumes_after_a_restart_without_repeating(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        index = _push_with_most_missing(sc)
        expected = _never_ran(sc, index, INCLUDE, EXCLUDE)
        plan = planner.plan_fill(sc.push_at(index), include=INCLUDE, exclude=EXCLUDE)
        campaign_id = plan.campaign.campaign_id
        sc.gate.close_after(0)  # the graph is expanded, the add-new-jobs is held back (429)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        await until(lambda: sc.gate.refused >= 1, "the fill attempted and held")
        await sc.stop_daemon()
        assert sc.sim.stats.hook_triggers == {}
        assert sorted(r.label for r in sc.requests(campaign_id)) == expected

        sc.gate.release()
        await sc.start_daemon()
        await sc.finished(campaign_id)
        await sc.settled(campaign_id)
        await _check_filled(sc, index, campaign_id, expected)


async def test_a_fill_on_a_push_already_watched_is_planned_at_once(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The periodic catch-up an hour away: only starting the campaign can read the graph.
    hourly = Scene.settings

    def settings(self: Scene) -> Settings:
        base = hourly(self)
        return replace(base, daemon=replace(base.daemon, reconcile_interval=3600.0))

    monkeypatch.setattr(Scene, "settings", settings)
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        index = _push_with_most_missing(sc)
        first = planner.plan_fill(sc.push_at(index), include=INCLUDE, exclude=EXCLUDE)
        sc.gate.close_after(0)  # its add-new-jobs held back: the push stays watched
        await sc.start(first.campaign)
        sc.go()
        await until(lambda: sc.gate.refused >= 1, "the first fill expanded and held")

        others = ["^test-", "debug"]
        expected = _never_ran(sc, index, others, [])
        assert expected
        second = planner.plan_fill(sc.push_at(index), include=others)
        await sc.start(second.campaign)
        await until(
            lambda: sorted(r.label for r in sc.requests(second.campaign.campaign_id)) == expected,
            "the second fill expanded without waiting for the reconcile timer",
        )
        sc.gate.release()
        await sc.finished(first.campaign.campaign_id)
        await sc.finished(second.campaign.campaign_id)


# A pattern with catastrophic backtracking in a backtracking engine: on a label of 40 word
# characters, Python's `re` would try about 2**40 paths. RE2 matches in linear time.
EVIL = r"^([\w/-]|[\w/-])*!"


async def test_fill_with_an_evil_pattern_completes(broker: Broker, tmp_path: Path) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        index = _push_with_most_missing(sc)
        assert _never_ran(sc, index, [], []), "labels for the pattern to be tried on"
        plan = planner.plan_fill(sc.push_at(index), include=[EVIL])
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)

        # No label of the graph has a "!": nothing matches, and matching ended.
        assert final.state is CampaignState.FINISHED
        assert final.outcome == "nothing was missing"
        assert sc.sim.stats.hook_triggers == {}
        sc.notified_once(plan.campaign.campaign_id)


async def test_a_stored_pattern_re2_refuses_fails_its_campaign_instead_of_replaying(
    broker: Broker, tmp_path: Path
) -> None:
    """A fill stored before submissions were checked with RE2 (a look-ahead, here) ends
    failed with the reason, once; it is not retried at every reconciliation."""
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        plan = planner.plan_fill(sc.push_at(0), include=["xpcshell"])
        stored = replace(plan.campaign, params={**plan.campaign.params, "include": ["(?=x)"]})
        await sc.start(stored)
        sc.go()
        final = await sc.finished(stored.campaign_id)

        assert final.state is CampaignState.FAILED
        assert final.outcome is not None
        assert "cannot be filled" in final.outcome and "(?=x)" in final.outcome
        assert sc.requests(stored.campaign_id) == []
        assert sc.sim.stats.hook_triggers == {}
        sc.notified_once(stored.campaign_id)
