"""Same seed + same steps -> same world and the same messages; another seed differs."""

from __future__ import annotations

from mozci_monitor.sim import PulseMessage, Simulator

from .conftest import small_config
from .helpers import trigger_action


async def _run(seed: int) -> tuple[list[PulseMessage], list[str], list[str]]:
    sim = Simulator(small_config(seed=seed, intermittent_rate=0.2, claim_expired_rate=0.05))
    messages: list[PulseMessage] = []
    sim.add_message_listener(messages.append)
    for _ in range(12):
        await sim.advance(600)
    revisions = [push.revision for push in sim.world.pushes]
    states = [f"{t.task_id}:{t.label}:{t.state}:{len(t.runs)}" for t in sim.world.tasks.values()]
    return messages, revisions, states


async def test_same_seed_same_messages_and_state() -> None:
    first = await _run(3)
    second = await _run(3)
    assert first[0], "the scenario should publish messages"
    assert first == second


async def test_other_seed_other_world() -> None:
    first = await _run(3)
    other = await _run(4)
    assert first[1] != other[1]
    assert first[0] != other[0]


def test_revisions_and_ids_have_real_shapes() -> None:
    sim = Simulator(small_config())
    for push in sim.world.pushes:
        assert len(push.revision) == 40
        int(push.revision, 16)
    ids = list(sim.world.tasks)
    assert len(ids) == len(set(ids))
    assert all(len(task_id) == 22 for task_id in ids)


async def test_same_steps_through_http_give_the_same_messages() -> None:
    async def scenario() -> list[PulseMessage]:
        sim = Simulator(small_config(seed=11, intermittent_rate=0.1))
        messages: list[PulseMessage] = []
        sim.add_message_listener(messages.append)
        await sim.start()
        try:
            await sim.advance(1200)
            push = sim.pushes[0]
            test = next(t for t in sim.tasks_of(push) if t.kind == "test")
            await trigger_action(sim, push, "retrigger", task_id=test.task_id, action_input={})
            await sim.advance(3 * 3600)
        finally:
            await sim.stop()
        return messages

    first = await scenario()
    assert any(m.body["task"]["tags"].get("action") == "retrigger-task" for m in first)
    assert first == await scenario()
