"""Contract check: the project's own source clients read and drive the simulator."""

from __future__ import annotations

import aiohttp
import pytest

from mozci_monitor.sim import Simulator

clients = pytest.importorskip("mozci_monitor.sources.clients")
actions = pytest.importorskip("mozci_monitor.sources.actions")


async def test_source_clients_against_the_simulator(sim: Simulator) -> None:
    push = sim.pushes[1]
    test = next(t for t in sim.tasks_of(push) if t.kind == "test")
    settings = clients.SourceSettings(
        taskcluster_root_url=sim.root_url, treeherder_url=sim.treeherder_url, hg_url=sim.hg_url
    )
    async with aiohttp.ClientSession() as session:
        sources = clients.create_clients(session, settings)
        assert await sources.hgmo.last_push_id("autoland") == sim.pushes[-1].push_id
        assert (await sources.hgmo.push_for_revision("autoland", push.revision)).id == push.push_id
        decision = await sources.taskcluster.find_decision_task("autoland", push.revision)
        assert decision == push.decision_task_id
        members = await sources.taskcluster.list_task_group(decision)
        assert {m.task_id for m in members} == {t.task_id for t in sim.tasks_of(push)}
        th_push = await sources.treeherder.push("autoland", push.revision)
        jobs = await sources.treeherder.jobs(th_push.id)
        assert {j.task_id for j in jobs} == {t.task_id for t in sim.tasks_of(push)}
        actions_json = await sources.taskcluster.artifact_json(decision, "public/actions.json")
        call = actions.render_action(
            actions_json,
            "retrigger",
            decision,
            test.task_id,
            {"times": 1},
            task_tags=test.definition["tags"],
        )
        action_task = await sources.taskcluster.trigger_hook(
            call.hook_group_id, call.hook_id, call.payload
        )
    assert action_task is not None and sim.task(action_task).kind == "action-callback"
    assert sim.stats.action_calls == {("retrigger", test.task_id): 1}
