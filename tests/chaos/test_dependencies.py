"""What the daemon depends on fails: Taskcluster answers 5xx, 429, nothing or a reset; the
SQLite store cannot be written."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from broker import RabbitMQ
from support.waiting import until

from chaos.rig import FULL_RATE, DaemonRun, Knobs, Outcome, Watched, assert_same_as_baseline, rig
from chaos.table import ChaosTable

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]

Q = "/api/queue/v1"
FAILED = "background task failed"
HOOK_TRIGGER = r"^/api/hooks/v1/hooks/.+/trigger$"
# (path, kind, count, retry_after, method): spread over the endpoints the actions need, few
# enough in a row that the circuit breaker (5 consecutive failures) stays closed.
SOURCE_FAULTS = [
    (HOOK_TRIGGER, "500", 1, None, "POST"),
    (HOOK_TRIGGER, "429", 1, 1.0, "POST"),
    (HOOK_TRIGGER, "reset", 1, None, "POST"),
    (rf"^{Q}/task/[^/]+/rerun$", "500", 1, None, "POST"),
    (rf"^{Q}/task/[^/]+/rerun$", "reset", 1, None, "POST"),
    (rf"^{Q}/task/[^/]+$", "timeout", 1, None, "GET"),  # a task definition, before retrigger
    (rf"^{Q}/task-group/[^/]+/list$", "500", 1, None, "GET"),
    (r"/artifacts/public/actions\.json$", "429", 1, 1.0, "GET"),
    (r"^/api/notify/v1/email$", "500", 1, None, "POST"),
]


def _outbox(r: Any) -> list[Any]:
    """The outbox entries of the watched campaigns and their requests, as stored."""
    return [
        e
        for item in r.watched
        for e in r.sc.reader.actions_of(campaign_id=item.campaign.campaign_id)
        + r.sc.reader.actions_of(request_id=item.request.request_id)
    ]


async def test_source_faults_are_retried_and_no_action_is_performed_twice(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path) as r:
        # The "timeout" answers just after the client's 30 s per-attempt limit: late enough to
        # be a timeout, early enough not to hold the simulator's shutdown for a minute.
        r.sc.sim.faults.timeout_seconds = 31.0
        faults = [
            r.sc.sim.faults.add(path, kind, count=count, retry_after=retry_after, method=method)  # type: ignore[arg-type]
            for path, kind, count, retry_after, method in SOURCE_FAULTS
        ]
        r.plant_standard()
        run = await r.start()
        started = time.monotonic()
        await r.launch(run)
        r.go()
        await r.until_finished(within=150.0)  # one fault is a 30 s client timeout
        settled = time.monotonic() - started
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        assert outcome.notifications == baseline.notifications  # failed sends reached no one
        fired = {f"{f.method} {f.pattern.pattern} {f.kind}": f.hits for f in faults}
        assert all(hits == 1 for hits in fired.values()), fired
        # Read from the outbox, not the log: none abandoned, and some needed a second attempt.
        entries = _outbox(r)
        assert entries and all(e.state == "done" for e in entries)  # the outbox drained
        assert any(e.attempts > 1 for e in entries), "no action needed a second attempt"
        chaos_table.add(
            "7 source faults (5xx/429/timeout/reset)",
            messages=r.messages_published(),
            faults=sum(fired.values()),
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=settled,
            notes=f"recover: campaigns recorded to all finished (one 30 s client timeout);"
            f" {sum(e.attempts - 1 for e in entries)} action attempts failed and were retried,"
            f" max attempts of an entry {max(e.attempts for e in entries)}",
        )


@contextlib.contextmanager
def unwritable_after(record: Callable[[], None], db: Path) -> Iterator[None]:
    """Run `record` (a store write) and freeze the store at once, with no await between."""
    record()
    with unwritable(db):
        yield


def _chattr(flag: str, *paths: Path) -> None:
    for path in paths:
        if path.exists():
            subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@contextlib.contextmanager
def unwritable(db: Path) -> Iterator[None]:
    """Make the store unwritable even for root: the database and its WAL immutable.

    (Not the -shm file: SQLite maps it, and a write to a mapped immutable file is SIGBUS.)
    """
    files = (db, db.with_name(db.name + "-wal"))
    _chattr("+i", *files)
    try:
        yield
    finally:
        _chattr("-i", *files)


def _queue_counts(rabbitmq: RabbitMQ, queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of the queue."""
    out = rabbitmq.ctl(
        "list_queues", "-q", "--formatter", "json", "name", "messages_ready",
        "messages_unacknowledged",
    )  # fmt: skip
    for row in json.loads(out):
        if row["name"] == queue:
            return int(row["messages_ready"]), int(row["messages_unacknowledged"])
    raise AssertionError(f"queue {queue} not found")


async def _readyz_is(run: DaemonRun, status: int) -> bool:
    return await run.readyz() == status


async def _drained(rabbitmq: RabbitMQ, queue: str) -> bool:
    return await asyncio.to_thread(_queue_counts, rabbitmq, queue) == (0, 0)


async def test_unwritable_store_holds_the_batch_unacked_and_resumes(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, baseline: Outcome, chaos_table: ChaosTable
) -> None:
    if shutil.which("chattr") is None or not rabbitmq.can_control:
        pytest.skip("needs chattr (tests run as root) and rabbitmqctl")
    async with rig(rabbitmq.url, queue, tmp_path) as r:
        r.plant_standard()
        run = await r.start()
        await r.launch(run)
        # The catch-up's decisions (runs missing, never scheduled) performed first: this
        # scenario is about the Pulse path (test_store_error_in_background_work for the other).
        await until(
            lambda: sum(e.state == "done" for e in _outbox(r)) >= 2, "the catch-up's remedies done"
        )
        assert await run.readyz() == 200
        with unwritable(r.store_path):
            r.go(FULL_RATE / 4)
            await until(lambda: bool(run.events("store not writable; holding the batch unacked")),
                        "the daemon noticed")  # fmt: skip
            # Read once a commit begun after the freeze has failed, not as soon as chattr
            # returns: a commit whose WAL frames were written just before the freeze still
            # completes afterwards (the -shm index is not frozen) and shows up late. The
            # store's writes are serialized on one thread (one connection on SQLite), so
            # none is in flight any more once one has failed.
            before = {
                t.task_id: t.phase for t in r.sc.reader.tasks_in_group(r.sc.push.task_group_id)
            }
            await until(lambda: _readyz_is(run, 503), "reported not ready")
            await asyncio.sleep(2.0)  # more messages arrive meanwhile
            await r.pause()
            ready, unacked = await asyncio.to_thread(_queue_counts, rabbitmq, queue)
            assert unacked > 0  # the held batch, never acked
            still = {
                t.task_id: t.phase for t in r.sc.reader.tasks_in_group(r.sc.push.task_group_id)
            }
            assert still == before  # nothing committed
            assert run.running
            held = ready + unacked
        writable = time.monotonic()
        await until(lambda: bool(run.events("store writable again")), "the daemon resumed")
        resumed = time.monotonic() - writable
        assert await run.readyz() == 200
        await until(lambda: _drained(rabbitmq, queue), "the queue drained")
        r.go(FULL_RATE)
        await r.until_finished()
        code, _ = await r.terminate()
        assert code == 0
        outcome = assert_same_as_baseline(r, baseline)
        chaos_table.add(
            "8 store unwritable (chattr +i)",
            messages=r.messages_published(),
            faults=1,
            lost=len(outcome.lost_against(baseline)),
            duplicated=outcome.duplicated_against(baseline),
            recover_s=resumed,
            notes=f"{held} messages held ({unacked} delivered, unacked) while unwritable;"
            " /readyz 503 meanwhile; recover: writable to the batch committed",
        )


async def test_store_error_in_background_work_is_retried_when_writable(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path
) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr (tests run as root)")
    # A slow bindings refresh: the campaigns are recorded and the store frozen well before
    # the daemon looks, so its catch-up is the one that meets the unwritable store.
    knobs = Knobs(bindings_refresh=3.0, reconcile_interval=300.0)
    async with rig(rabbitmq.url, queue, tmp_path, knobs=knobs) as r:
        sc = r.sc
        pairs = [sc.watch(sc.scheduled_tests[0], wanted=3), sc.watch(sc.unscheduled_tests()[0])]
        r.watched = [Watched(c, q) for c, q in pairs]
        run = await r.start()
        r.go()
        await until(r.decision_done, "the push's decision task done")
        await r.pause()
        refreshes = len(run.events("bindings changed"))
        with unwritable_after(r.register, r.store_path):
            if len(run.events("bindings changed")) != refreshes:
                pytest.skip("the daemon refreshed its bindings before the store froze")
            await until(
                lambda: any(
                    e.get("task") == "catch-up"
                    for e in run.events("background work failed; retrying")
                ),
                "the catch-up met the unwritable store",
            )
        r.go()
        await r.until_finished()
