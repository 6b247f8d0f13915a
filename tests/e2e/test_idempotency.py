"""Exactly once, counted at the simulator: crashes around an action, and duplicate messages.

A crash is played by stopping a daemon and starting a fresh one on the same store: the
first daemon either had no actuator (the decision is committed in the outbox, the action
never ran) or performed the action and "died" before recording it (the entry is put back
to started-but-not-done, as a crash would leave it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.brokers import Broker
from support.ci import live_push_ci
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.clock import utc_now
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.core.model import RequestState
from mozci_monitor.ports.store import OutboxEntry
from mozci_monitor.sim import PulseMessage, PulsePublisher

# outcome planted on run 0 -> the remedy it calls for
REMEDIES = {"internal-error": "rerun", "superseded": "add-new-jobs"}


def _performed(sc: Scene, kind: str) -> int:
    stats = sc.sim.stats
    return stats.reruns if kind == "rerun" else stats.hook_triggers.get(kind, 0)


def _only_action(sc: Scene, request_id: str) -> OutboxEntry:
    (entry,) = sc.outbox(request_id=request_id)
    return entry


@pytest.mark.parametrize("outcome", sorted(REMEDIES))
async def test_action_decided_before_a_crash_is_performed_once_after_restart(
    broker: Broker, tmp_path: Path, outcome: str
) -> None:
    kind = REMEDIES[outcome]
    async with scene(broker, tmp_path, daemon=False) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: outcome})
        campaign, request = sc.watch(label)
        await sc.start_daemon(acting=False)  # decides and commits, never acts
        await sc.start(campaign, request)
        sc.go()
        await until(lambda: len(sc.outbox(request_id=request.request_id)) == 1, "action queued")
        await sc.stop_daemon()

        queued = _only_action(sc, request.request_id)
        assert (queued.action.kind.value, queued.state, queued.attempts) == (kind, "pending", 0)
        assert queued.started_at is None
        assert _performed(sc, kind) == 0

        await sc.start_daemon()
        finished = await sc.finished(campaign.campaign_id)

        assert finished.state is CampaignState.FINISHED
        assert sc.request(request.request_id).state is RequestState.COMPLETED
        done = _only_action(sc, request.request_id)
        assert (done.key, done.state, done.attempts) == (queued.key, "done", 1)
        assert done.result is not None and "confirmed" not in done.result
        assert _performed(sc, kind) == 1
        stats = sc.sim.stats
        assert sum(stats.hook_triggers.values()) + stats.reruns == 1


async def test_rerun_performed_before_a_crash_is_confirmed_not_repeated(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path, daemon=False) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "internal-error"})
        campaign, request = sc.watch(label)
        await sc.start_daemon(acting=False)
        await sc.start(campaign, request)
        sc.go()
        await until(lambda: len(sc.outbox(request_id=request.request_id)) == 1, "rerun queued")
        await sc.stop_daemon()

        # What the actuator does before a crash: mark started, perform; then it dies.
        queued = _only_action(sc, request.request_id)
        sc.reader.mark_action_started(queued.key, utc_now())
        (task,) = sc.tasks(label)
        sc.sim.world.rerun(task.task_id)
        assert sc.sim.stats.reruns == 1

        await sc.start_daemon()
        finished = await sc.finished(campaign.campaign_id)

        assert finished.state is CampaignState.FINISHED
        assert sc.request(request.request_id).state is RequestState.COMPLETED
        done = _only_action(sc, request.request_id)
        assert (done.state, done.attempts) == ("done", 2)
        assert done.result is not None and "confirmed" in done.result
        stats = sc.sim.stats
        assert (stats.reruns, stats.hook_triggers) == (1, {})
        assert [run["reasonCreated"] for run in task.runs] == ["scheduled", "rerun"]


async def test_hook_triggered_before_a_crash_is_confirmed_not_repeated(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path) as sc:
        label = sc.scheduled_tests[0]
        sc.plant(label, {0: "superseded"})
        campaign, request = sc.watch(label)
        await sc.start(campaign, request)
        sc.go()
        await until(
            lambda: [e.state for e in sc.outbox(request_id=request.request_id)] == ["done"],
            "add-new-jobs performed",
        )
        await sc.stop_daemon()
        assert sc.sim.stats.hook_triggers == {"add-new-jobs": 1}

        # The crash came after the hook was triggered, before the entry was marked done.
        key = _only_action(sc, request.request_id).key
        with contextlib.closing(sqlite3.connect(sc.store_path)) as db, db:
            db.execute(
                "UPDATE outbox SET state = 'pending', done_at = NULL, result = NULL WHERE key = ?",
                (key,),
            )
        pending = _only_action(sc, request.request_id)
        assert (pending.state, pending.attempts) == ("pending", 1)
        assert pending.started_at is not None

        await sc.start_daemon()
        await until(
            lambda: _only_action(sc, request.request_id).state == "done",
            "the in-doubt entry settled",
        )
        finished = await sc.finished(campaign.campaign_id)

        assert finished.state is CampaignState.FINISHED
        assert sc.request(request.request_id).state is RequestState.COMPLETED
        done = _only_action(sc, request.request_id)
        assert (done.state, done.attempts) == ("done", 2)
        assert done.result is not None and "confirmed" in done.result
        stats = sc.sim.stats
        assert stats.hook_triggers == {"add-new-jobs": 1}
        assert stats.action_calls == {("add-new-jobs", label): 1}
        assert stats.reruns == 0


@contextlib.asynccontextmanager
async def _publishing_twice_shuffled(sc: Scene, seed: int) -> AsyncIterator[None]:
    """Publish every message of the simulator twice, each task's copies in shuffled order.

    Messages are gathered for a tenth of a second; each window's messages of one task
    (two copies of each) are published in random order, so a task's later state often
    arrives before an earlier one, and every state arrives twice.
    """
    rng = random.Random(seed)
    gathered: list[PulseMessage] = []
    sc.sim.add_message_listener(gathered.append)
    publisher = PulsePublisher(sc.broker_url)
    await asyncio.to_thread(publisher.start)

    def flush() -> None:
        by_task: dict[str, list[PulseMessage]] = defaultdict(list)
        for message in gathered:
            by_task[message.body["status"]["taskId"]] += [message, message]
        gathered.clear()
        for copies in by_task.values():
            rng.shuffle(copies)
            for message in copies:
                publisher.publish(message)

    async def pump() -> None:
        while True:
            await asyncio.sleep(0.1)
            flush()

    pumping = asyncio.create_task(pump())
    try:
        yield
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        await asyncio.to_thread(publisher.drain)
        await asyncio.to_thread(publisher.close)


async def test_duplicated_and_shuffled_messages_change_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    # The simulator publishes nothing itself: the test republishes its messages.
    async with scene(broker, tmp_path, live_push_ci(None)) as sc:
        tests = sc.scheduled_tests
        sc.plant(tests[0], {0: "internal-error"})
        sc.plant(tests[1], {0: "superseded"})
        sc.plant(tests[2], {0: "failed"})
        never = sc.unscheduled_tests()[0]
        watched = [
            sc.watch(tests[0]),
            sc.watch(tests[1]),
            sc.watch(tests[2], require_green=True),
            sc.watch(never),
        ]
        async with _publishing_twice_shuffled(sc, sc.sim.config.seed):
            for campaign, request in watched:
                await sc.start(campaign, request)
            await sc.bound()  # every message goes through the broker, none only through REST
            sc.go()
            for campaign, _ in watched:
                finished = await sc.finished(campaign.campaign_id)
                assert finished.state is CampaignState.FINISHED, finished
        assert sc.daemon is not None
        counters = sc.daemon.health.counters
        # Both really happened: copies were recognised, and later states came first.
        assert counters.get("duplicates", 0) > 0
        assert counters.get("stale", 0) > 0

        for _, request in watched:
            assert sc.request(request.request_id).state is RequestState.COMPLETED
            assert [(e.state, e.attempts) for e in sc.outbox(request_id=request.request_id)] == [
                ("done", 1)
            ]
        (internal_error,) = sc.tasks(tests[0])
        orange = sc.tasks(tests[2])[0]
        stats = sc.sim.stats
        assert stats.reruns == 1
        assert stats.hook_triggers == {"add-new-jobs": 2, "retrigger-multiple": 1}
        assert stats.action_calls == {
            ("add-new-jobs", tests[1]): 1,
            ("add-new-jobs", never): 1,
            ("retrigger-multiple", orange.label): 1,
        }
        assert [run["reasonCreated"] for run in internal_error.runs] == ["scheduled", "rerun"]
        campaigns = sorted(campaign.campaign_id for campaign, _ in watched)
        assert sorted(n.campaign_id for n in sc.recorder.sent) == campaigns
