"""The daemon process dies or is stopped: kill -9 mid-campaign, downtime with a purged queue,
SIGTERM in a busy stream. Each run is compared with the fault-free run of the same seed."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import threading
import time
from pathlib import Path

import pytest
from broker import RabbitMQ, publish_many
from support.waiting import until

from chaos.rig import FULL_RATE, SEED, Knobs, Outcome, Rig, assert_same_as_baseline, rig
from chaos.table import ChaosTable
from mozci_monitor.sim import PulseMessage

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]

KILLS = int(os.environ.get("CHAOS_KILLS", "20"))
# CI seconds per wall second while a daemon is up between kills: the campaigns (about
# 2.5 CI hours with their remedies) then spread over all the kills.
KILL_RATE = 9000.0 / (KILLS * 0.6)


def _pending(r: Rig) -> int:
    """Outbox entries not yet done (decided, maybe in doubt, not settled)."""
    return sum(
        1
        for item in r.watched
        for entry in r.sc.reader.actions_of(campaign_id=item.campaign.campaign_id)
        + r.sc.reader.actions_of(request_id=item.request.request_id)
        if entry.state == "pending"
    )


def _in_doubt(r: Rig) -> int:
    """Outbox entries a crash left started but not done."""
    return sum(
        1
        for item in r.watched
        for entry in r.sc.reader.actions_of(campaign_id=item.campaign.campaign_id)
        + r.sc.reader.actions_of(request_id=item.request.request_id)
        if entry.state == "pending" and entry.started_at is not None
    )


async def test_kill_9_at_random_points_of_a_campaign(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    rng = random.Random(SEED)
    in_doubt = during_startup = 0
    restarts: list[float] = []  # seconds from SIGKILL to the next daemon consuming
    # A named instance, as a single daemon under a supervisor would be configured: with the
    # default (<hostname>-<pid>) the entries a killed process had claimed wait out their
    # lease (test_crash_claims.py).
    knobs = Knobs(instance="chaos-daemon")
    async with rig(rabbitmq.url, queue, tmp_path, knobs=knobs) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        for _ in range(KILLS):
            r.go(KILL_RATE)
            await asyncio.sleep(rng.uniform(0.05, 1.1))
            await r.kill()
            killed = time.monotonic()
            await r.pause()  # the next daemon starts where this one died
            in_doubt += _in_doubt(r)
            if rng.random() < 0.2:  # some deaths come while starting: reconciling, binding
                run = await r.start(wait_started=False)
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                if run.running:
                    await r.kill()
                    during_startup += 1
            await r.start()
            restarts.append(time.monotonic() - killed)
        r.go(FULL_RATE)
        await r.until_finished()
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "1 kill -9 mid-campaign",
            messages=r.messages_published(),
            faults=KILLS + during_startup,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=max(restarts),
            notes="recover: slowest kill to consuming again"
            f" (median {statistics.median(restarts):.2f} s);"
            f" {KILLS} kills while running, {during_startup} while starting;"
            f" {in_doubt} outbox entries left in doubt by a kill;"
            f" {outcome.notifications - baseline.notifications} duplicate notifications",
        )


async def test_downtime_with_a_purged_queue_is_caught_up_by_reconciliation(
    rabbitmq: RabbitMQ,
    queue: str,
    tmp_path: Path,
    baseline: Outcome,
    chaos_table: ChaosTable,
) -> None:
    # The default [store] instance (<hostname>-<pid>): a restart is a new owner of leases.
    async with rig(rabbitmq.url, queue, tmp_path) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        code, _ = await r.terminate()
        assert code == 0
        # Down while every task of the push runs and ends; the queue keeps what Pulse says.
        r.go(FULL_RATE)
        await asyncio.sleep(2.0)
        await r.pause()
        sim_tasks = [t for item in r.watched for t in r.sc.tasks(item.label)]
        assert sim_tasks and all(t.state in ("completed", "failed", "exception") for t in sim_tasks)
        purged = await asyncio.to_thread(rabbitmq.purge_queue, queue)
        assert purged > 0
        started = time.monotonic()
        run = await r.start()
        r.go(FULL_RATE)
        await r.until_finished()  # its bound is a fifth of the 300 s timer: the catch-up did it
        recovered = time.monotonic() - started
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        caught_up = sum(int(e.get("caught_up") or 0) for e in run.events("reconciled task group"))
        assert caught_up > 0
        chaos_table.add(
            "4 downtime + queue purged",
            messages=r.messages_published(),
            faults=purged,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=recovered,
            notes=f"{purged} messages purged while down; {caught_up} task states caught up"
            " through listTaskGroup",
        )


async def test_sigterm_in_a_busy_stream_commits_acks_and_exits_in_grace(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    grace = 5.0
    burst = 6000
    seen: list[PulseMessage] = []
    async with rig(rabbitmq.url, queue, tmp_path, knobs=Knobs(shutdown_grace=grace)) as r:
        r.plant_standard()
        r.sc.sim.add_message_listener(seen.append)
        run = await r.start()
        await r.launch(run)
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        r.go(FULL_RATE / 4)
        await asyncio.sleep(0.5)  # the push is in flight
        await r.pause()
        await until(
            lambda: _pending(r) == 0 and rabbitmq.queue_depth(queue) == 0,
            "the daemon caught up and acted",
        )
        code, _ = await r.terminate()
        assert code == 0
        group = r.sc.push.task_group_id
        ours = [m for m in seen if m.body["status"]["taskGroupId"] == group]
        assert ours
        before = len(seen)
        run = await r.start()  # a fresh daemon: its counters are the burst's alone
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "a quiet queue")

        # A stream of real (already seen) messages of the watched group; SIGTERM mid-way.
        half = threading.Event()

        def stream() -> None:
            messages = [
                (ours[i % len(ours)].routing_key, ours[i % len(ours)].body) for i in range(burst)
            ]
            exchanges = [ours[i % len(ours)].exchange for i in range(burst)]
            for start in range(0, burst, 500):
                by_exchange: dict[str, list[tuple[str, object]]] = {}
                for exchange, message in zip(
                    exchanges[start : start + 500], messages[start : start + 500], strict=True
                ):
                    by_exchange.setdefault(exchange, []).append(message)
                for exchange, batch in by_exchange.items():
                    publish_many(rabbitmq.url, exchange, batch)  # type: ignore[arg-type]
                if start >= burst // 2:
                    half.set()

        publishing = asyncio.create_task(asyncio.to_thread(stream))
        await until(half.is_set, "half the stream published")
        code, took = await r.terminate()
        await publishing
        assert code == 0, run.tail()
        assert took < grace
        (stopped,) = run.events("daemon stopped")
        consumed = int(stopped.get("messages", 0))
        sent = burst + sum(1 for m in seen[before:] if m.body["status"]["taskGroupId"] == group)
        # Nothing handed out was left unacked (it would be back in the queue, counted twice)
        # and nothing was acked unconsumed: what the daemon consumed plus what is left is
        # exactly what was sent. (The last publishes may still be on their way into the
        # queue when the publisher has closed: the depth is read until it settles.)
        depths: list[int] = []

        async def accounted() -> bool:
            depths.append(await asyncio.to_thread(rabbitmq.queue_depth, queue))
            return consumed + depths[-1] == sent

        try:
            await until(accounted, "consumed + left == sent")
        except AssertionError:
            raise AssertionError(f"consumed {consumed}, left {depths[-5:]}, sent {sent}") from None
        left = depths[-1]
        assert 0 < consumed < sent
        assert not run.events("pulse.stop_with_unacked")

        restarted = time.monotonic()
        await r.start()
        r.go(FULL_RATE)
        await r.until_finished()
        recovered = time.monotonic() - restarted
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "9 SIGTERM in a busy stream",
            messages=r.messages_published() + burst,
            faults=1,
            lost=len(outcome.lost_against(baseline)) + (sent - consumed - left),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=recovered,
            notes=f"exit 0 after {took:.2f} s (grace {grace:.0f} s); {consumed} consumed and"
            f" acked, {left} left in the queue",
        )
