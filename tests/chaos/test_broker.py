"""The broker misbehaves: stopped and started, frozen, the queue deleted under the consumer.

The broker is shared with other test sessions: `rabbitmq_chaos` puts it back (thawed, app
started) after each test, and every wait here tolerates someone else's outage on top of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from broker import RabbitMQ, amqp_answers
from support.waiting import until

from chaos.rig import FULL_RATE, Knobs, Outcome, Rig, assert_same_as_baseline, rig, store_behind_sim
from chaos.table import ChaosTable
from mozci_monitor.pulse import task_group_binding
from mozci_monitor.sim import PulseMessage

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


async def in_step(r: Rig, when: str, within: float = 30.0) -> None:
    try:
        await until(lambda: not store_behind_sim(r), f"the store in step {when}", within=within)
    except AssertionError as error:
        raise AssertionError(f"{error}: {store_behind_sim(r)}") from None


def under_way(r: Rig) -> list[str]:
    return [
        task.task_id
        for item in r.watched
        for task in r.sc.tasks(item.label)
        if task.state in ("pending", "running")
    ]


def consuming_generations(r: Rig) -> list[int]:
    return [int(e.get("generation") or 0) for e in r.events("pulse.consuming")]


async def test_broker_stopped_and_started_mid_stream(
    rabbitmq_chaos: RabbitMQ,
    queue: str,
    tmp_path: Path,
    baseline: Outcome,
    chaos_table: ChaosTable,
) -> None:
    async with rig(rabbitmq_chaos.url, queue, tmp_path, knobs=Knobs(heartbeat=2.0)) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        r.go(FULL_RATE / 4)
        await asyncio.sleep(0.6)  # the push's tasks are on their way
        await r.pause()  # the simulated queue cannot publish while the broker is down either
        before = max(consuming_generations(r))
        await asyncio.to_thread(rabbitmq_chaos.stop_app)
        await until(lambda: bool(run.events("pulse.connection_lost")), "the daemon saw it")
        await asyncio.sleep(2.0)  # down for a while: the daemon keeps retrying
        back = time.monotonic()
        await asyncio.to_thread(rabbitmq_chaos.start_app)
        await until(
            lambda: max(consuming_generations(r)) > before,
            "the daemon consuming again",
            within=60.0,
        )
        reconnected = time.monotonic() - back
        assert run.running, run.tail()  # reconnected by itself: no exit, no restart
        r.go(FULL_RATE)
        await r.until_finished()
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "2 broker stop_app/start_app",
            messages=r.messages_published(),
            faults=1,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=reconnected,
            notes="recover: start_app to consuming again;"
            f" {len(run.events('pulse.connection_lost'))} connection losses seen",
        )


async def test_frozen_broker_is_detected_within_two_heartbeats(
    rabbitmq_chaos: RabbitMQ,
    queue: str,
    tmp_path: Path,
    baseline: Outcome,
    chaos_table: ChaosTable,
) -> None:
    heartbeat = 2.0
    async with rig(rabbitmq_chaos.url, queue, tmp_path, knobs=Knobs(heartbeat=heartbeat)) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        r.go(FULL_RATE / 4)
        await asyncio.sleep(0.6)
        await r.pause()
        await asyncio.to_thread(rabbitmq_chaos.beam_pid)  # needs a live node: ask first
        rabbitmq_chaos.freeze()
        frozen, frozen_at = time.monotonic(), datetime.now(UTC)
        try:
            # The daemon must not sit idle looking healthy: it exits for its supervisor.
            code = await run.wait(within=8 * heartbeat)
        finally:
            rabbitmq_chaos.thaw()
        exited = time.monotonic() - frozen
        assert code == 3, run.tail()
        (stalled,) = run.events("pulse consumer stalled; exiting for the supervisor to restart us")
        detected = (_utc(stalled["timestamp"]) - frozen_at).total_seconds()
        assert detected < 4 * heartbeat  # about two heartbeats, plus the checks' period

        # Its supervisor starts it again; the campaign goes on as if nothing happened.
        restarted = time.monotonic()
        await until(lambda: amqp_answers(timeout=1.0), "the broker answering", within=60)
        await r.start()
        r.go(FULL_RATE)
        await r.until_finished()
        recovered = time.monotonic() - restarted
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "2b broker frozen (SIGSTOP)",
            messages=r.messages_published(),
            faults=1,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=detected,
            notes=f"recover: freeze to the stall reported (heartbeat {heartbeat:.0f} s);"
            f" exit code 3 after {exited:.2f} s;"
            f" restarted, campaigns finished {recovered:.2f} s later",
        )


def _utc(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


@contextlib.contextmanager
def dropping_publications(r: Rig) -> Iterator[list[PulseMessage]]:
    """Messages the simulator publishes meanwhile reach no queue (they are recorded)."""
    publisher = r.sc.sim._publisher
    assert publisher is not None
    dropped: list[PulseMessage] = []
    original = publisher.publish
    publisher.publish = dropped.append  # type: ignore[method-assign]
    try:
        yield dropped
    finally:
        publisher.publish = original  # type: ignore[method-assign]


async def test_queue_deleted_under_the_consumer_is_recreated_and_caught_up(
    rabbitmq: RabbitMQ,
    queue: str,
    tmp_path: Path,
    baseline: Outcome,
    chaos_table: ChaosTable,
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path) as r:  # reconcile timer: 300 s
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        binding = task_group_binding(r.sc.push.task_group_id)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        r.go(FULL_RATE / 4)
        await until(lambda: bool(under_way(r)), "the watched tests under way")
        await r.pause()
        await in_step(r, "before the fault")

        # PulseGuardian deletes the queue. What the queue service publishes until it is back
        # reaches no queue; the window is made deterministic by dropping those messages at
        # the simulator's publisher, around the deletion.
        with dropping_publications(r) as dropped:
            await r.sc.sim.advance(900.0)
            behind = store_behind_sim(r)  # nobody told the daemon yet
            await asyncio.to_thread(rabbitmq.delete_queue, queue)
        deleted = time.monotonic()
        watched_ids = {t.task_id for item in r.watched for t in r.sc.tasks(item.label)}
        missed = [m for m in dropped if m.body["status"]["taskId"] in watched_ids]
        assert missed and behind, "no watched task moved while the queue was gone"

        await until(lambda: bool(run.events("pulse.queue_recreated")), "the queue re-declared")
        await in_step(r, "after the missed transitions")
        recovered = time.monotonic() - deleted
        assert run.events("pulse.consumer_cancelled_by_broker")
        assert run.events("consumer reconnected or queue re-created; reconciling")
        bindings = await asyncio.to_thread(rabbitmq.list_bindings, queue)
        assert {b.routing_key for b in bindings} == {binding}
        assert len(bindings) == 6  # the six task exchanges

        r.go(FULL_RATE)
        await r.until_finished()
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "3 queue deleted under the consumer",
            messages=r.messages_published() + len(dropped),
            faults=len(missed),
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=recovered,
            notes=f"{len(dropped)} messages published while the queue was gone,"
            f" {len(missed)} of watched tasks ({len(behind)} left the store behind);"
            " recover: deletion to the store in step (REST reconciliation)",
        )
