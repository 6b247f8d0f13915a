"""The simulator's actions.json and callbacks against real Firefox CI (tests/fixtures/actions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mozci_monitor.core.action_routes import callback_of, choose_retrigger
from mozci_monitor.sim import Simulator
from mozci_monitor.sim.actions import _BY_CB

from .helpers import fetch_artifact

REAL = Path(__file__).parent.parent / "fixtures" / "actions" / "autoland-treeherder-sherlock.json"


def _routes(actions_json: Any) -> list[tuple[str, str]]:
    return [(a["name"], callback_of(a)) for a in actions_json["actions"]]


async def test_shared_entries_come_in_the_real_order_with_the_real_contexts(
    sim: Simulator,
) -> None:
    real = json.loads(REAL.read_text())
    ours = await fetch_artifact(sim, sim.pushes[0].decision_task_id, "public/actions.json")
    shared = set(_routes(real)) & set(_routes(ours))
    assert {
        ("retrigger", "retrigger-decision"),
        ("retrigger", "retrigger"),
        ("retrigger", "retrigger-disabled"),
        ("retrigger-multiple", "retrigger-multiple"),
        ("add-new-jobs", "add-new-jobs"),
        ("backfill", "backfill"),
        ("rerun", "rerun"),
        ("cancel", "cancel"),
        ("confirm-failures", "confirm-failures"),
    } <= shared
    in_real_order = [r for r in _routes(real) if r in shared]
    in_our_order = [r for r in _routes(ours) if r in shared]
    # add-new-jobs and cancel share an order (100): only the retrigger family's order and
    # retrigger-multiple being last matter to a client
    assert in_our_order[:3] == in_real_order[:3]
    assert in_our_order[-1] == in_real_order[-1] == ("retrigger-multiple", "retrigger-multiple")
    real_contexts = {_key(a): a["context"] for a in real["actions"]}
    for action in ours["actions"]:
        if _key(action) in shared and _key(action)[1] != "retrigger-decision":
            assert action["context"] == real_contexts[_key(action)], _key(action)
    # gecko still publishes the malformed retrigger-multiple schema: so does the simulator
    published = next(a for a in ours["actions"] if a["name"] == "retrigger-multiple")["schema"]
    assert "properties" not in published["properties"]["requests"]["items"]


def _key(action: Any) -> tuple[str, str]:
    return (action["name"], callback_of(action))


async def test_a_build_gets_no_new_task_from_retrigger_multiple(sim: Simulator) -> None:
    """gecko's retrigger-multiple reruns a non-retriggerable label's failed tasks only."""
    push = sim.world.pushes[0]
    build = next(t for t in sim.tasks_of(push) if t.kind == "build")
    assert build.definition["tags"]["retrigger"] == "false"
    before = len(sim.tasks_of(push, build.label))
    task = sim.actions.start_action(
        _BY_CB["retrigger-multiple"],
        push,
        task_id=None,
        task_group_id=push.task_group_id,
        action_input={"requests": [{"tasks": [build.label], "times": 2}]},
    )
    await sim.advance(3600)
    assert task.state == "completed"  # the action task succeeds...
    assert len(sim.tasks_of(push, build.label)) == before  # ...and creates nothing
    # which is why the monitor sends builds to add-new-jobs
    choice = choose_retrigger(
        await fetch_artifact(sim, push.decision_task_id, "public/actions.json"),
        label=build.label,
        task_id=build.task_id,
        tags=build.definition["tags"],
        times=2,
    )
    assert choice.route == "add-new-jobs"


async def test_retrigger_disabled_without_force_fails_its_action_task(sim: Simulator) -> None:
    push = sim.world.pushes[0]
    build = next(t for t in sim.tasks_of(push) if t.kind == "build")
    task = sim.actions.start_action(
        _BY_CB["retrigger-disabled"],
        push,
        task_id=build.task_id,
        task_group_id=push.task_group_id,
        action_input={"times": 1},
    )
    await sim.advance(3600)
    assert task.state == "failed"
    assert len(sim.tasks_of(push, build.label)) == 1
