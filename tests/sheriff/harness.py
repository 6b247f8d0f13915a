"""What the sheriff campaign tests add to the shared scene (tests/support).

Their CI is all history (`support.ci.history_ci`): every push has landed and finished
before the test starts, so planned regressions (`Regression(label, push)`) are already in
the runs a campaign analyses, and nothing arrives while it runs.

Which labels a push schedules depends on the seed (random, so that sessions sharing a
broker never publish for the same task groups); `schedule(config)` reads it without
simulating anything, so a test picks its labels first and plants its regression after.
"""

from __future__ import annotations

from dataclasses import replace

from mozci_monitor.ports.store import OutboxEntry
from mozci_monitor.sim import SimConfig, Simulator
from mozci_monitor.sim.world import World


def schedule(config: SimConfig) -> list[frozenset[str]]:
    """The test labels each push schedules, oldest first (outcomes do not change it)."""
    world = World(replace(config, regression=None, regressions=(), forced=()))
    return [frozenset(p.scheduled_labels) for p in world.pushes]


def performed(sim: Simulator) -> dict[tuple[str, str, str], int]:
    """Hook triggers the simulator ran, by (action, task group, labels it acted on).

    Retriggers count as "retrigger" whichever entry ran them (retrigger-multiple names
    labels, retrigger a task: its label).
    """
    counts: dict[tuple[str, str, str], int] = {}
    for trigger in sim.hook_triggers:
        action = trigger.action
        if action == "backfill-task":
            continue  # triggered by gecko's backfill action task, not by the monitor
        if action == "add-new-jobs":
            target = ",".join(sorted(str(t) for t in trigger.input.get("tasks", [])))
        elif action == "retrigger-multiple":
            action = "retrigger"
            labels = [str(t) for r in trigger.input.get("requests", []) for t in r.get("tasks", [])]
            target = ",".join(sorted(labels))
        elif action in ("retrigger", "backfill"):
            target = sim.task(trigger.task_id or "").label
        else:
            target = trigger.task_id or ""
        key = (action, trigger.task_group_id or "", target)
        counts[key] = counts.get(key, 0) + 1
    return counts


def intended(entries: list[OutboxEntry]) -> dict[tuple[str, str, str], int]:
    """The same count from the outbox: what the monitor decided to do (done entries)."""
    counts: dict[tuple[str, str, str], int] = {}
    for entry in entries:
        action = entry.action
        if action.kind.value not in ("retrigger", "add-new-jobs", "backfill"):
            continue
        if entry.state != "done":
            continue
        group = action.push.task_group_id if action.push else ""
        target = ",".join(sorted(action.labels)) if action.labels else ""
        key = (action.kind.value, group, target)
        counts[key] = counts.get(key, 0) + 1
    return counts
