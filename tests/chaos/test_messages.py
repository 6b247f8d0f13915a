"""What arrives is not what Taskcluster meant: every message twice and out of order, and
1,000 malformed or hostile messages among the real ones."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import RabbitMQ
from support.waiting import until

from chaos.hostile import hostile_messages
from chaos.relay import Raw, raw, relaying, twice_shuffled
from chaos.rig import FULL_RATE, SEED, Outcome, assert_same_as_baseline, rig, store_behind_sim
from chaos.table import ChaosTable
from mozci_monitor.sim import PulseMessage, SimConfig, simulated_messages

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]

HOSTILE = 1000


async def test_every_message_twice_and_shuffled_changes_nothing(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path, sim_publishes=False) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        async with relaying(
            r.sc.sim, rabbitmq.url, twice_shuffled(random.Random(SEED)), notes=r.notes
        ) as wire:
            r.go()
            await r.until_finished()
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        (stopped,) = run.events("daemon stopped")
        assert int(stopped.get("duplicates", 0)) > 0
        chaos_table.add(
            "5 every message twice, shuffled",
            messages=wire.sent,
            faults=wire.sent // 2,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=None,
            notes=f"{stopped.get('duplicates')} duplicates and {stopped.get('stale')} stale"
            " messages recognised",
        )


def _bases(group: str) -> list[PulseMessage]:
    """Real-format messages moved to `group` (the bases hostile ones are mutated from)."""
    bases = []
    config = SimConfig(seed=SEED, pushes=1, history_pushes=0, broker_url=None)
    for message in simulated_messages(config)[:200]:
        body = json.loads(json.dumps(message.body))
        body["status"]["taskGroupId"] = group
        parts = message.routing_key.split(".")
        parts[8] = group
        bases.append(PulseMessage(message.exchange, ".".join(parts), (), body))
    return bases


def _interleaving(hostile: list[Raw], per_window: int) -> Iterator[list[Raw]]:
    for start in range(0, len(hostile), per_window):
        yield hostile[start : start + per_window]


async def test_a_thousand_hostile_messages_are_rejected_counted_and_logged(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path, sim_publishes=False) as r:
        group = r.sc.push.task_group_id
        generating = asyncio.create_task(
            asyncio.to_thread(hostile_messages, _bases(group), group, HOSTILE)
        )
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        hostile = await generating
        assert len(hostile) == HOSTILE
        expected = HOSTILE  # every one invalid by construction, so every one rejected
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        chunks = _interleaving(hostile, per_window=100)

        def mixed(messages: list[PulseMessage]) -> list[Raw]:
            # Real messages in order, hostile ones before, between and after them.
            bad = next(chunks, [])
            slots = len(messages) + 1
            out: list[Raw] = list(bad[0::slots])
            for index, message in enumerate(messages, start=1):
                out.append(raw(message))
                out += bad[index::slots]
            return out

        async with relaying(r.sc.sim, rabbitmq.url, mixed, notes=r.notes) as wire:
            # Slow CI time while the hostile stream flows: the campaigns (and so the queue's
            # binding to the group) must outlast it.
            r.go(FULL_RATE / 4)
            await until(
                lambda: r.sc.reader.count_rejections() >= expected, "every hostile message counted"
            )
            assert next(chunks, None) is None
            # No valid message waits behind the hostile ones: once CI time stops, the store
            # comes in step with the simulator (how long it took is a figure of the table).
            await r.pause()
            in_step = await until(lambda: not store_behind_sim(r), "valid messages applied")
            r.go(FULL_RATE)
            await r.until_finished()
        assert run.running, run.tail()  # stayed up
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        assert r.sc.reader.count_rejections() == expected
        reasons = [reason for _, _, _, reason in r.sc.reader.rejections(limit=HOSTILE)]
        assert len(reasons) == expected and all(reasons)
        logged = run.events("rejected message")
        assert len(logged) == expected and all(e.get("reason") for e in logged)
        kinds = {reason.split(":")[0] for reason in reasons}
        chaos_table.add(
            "6 1,000 hostile messages",
            messages=wire.sent,
            faults=HOSTILE,
            lost=len(outcome.lost_against(baseline)) + expected - len(reasons),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=in_step,
            notes=f"{len(reasons)} rejected with {len(kinds)} distinct reasons;"
            " daemon never exited; recover: stream paused to the store in step",
        )
