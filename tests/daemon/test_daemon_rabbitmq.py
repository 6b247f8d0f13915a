"""The spine end to end: real RabbitMQ → kombu thread → parse → SQLite commit → ack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from broker import RabbitMQ, publish_many, unique_queue_name
from store.pulse_builder import GROUP, LABEL, FakeTask, Message, make_request, slug
from support.daemon import assemble_daemon, run_daemon, wait_started
from support.waiting import until

from mozci_monitor.config import DaemonSettings, PulseSettings, Settings
from mozci_monitor.core.model import FailureKind, RequestState
from mozci_monitor.daemon import EXIT_OK, Daemon
from mozci_monitor.engine import Engine
from mozci_monitor.pulse import ConsumerHealth, ConsumerSettings, Delivery, PulseConsumer
from mozci_monitor.store.sqlite import SqliteStore

pytestmark = pytest.mark.rabbitmq

AT = "2026-11-22T12:00:00.000Z"


def _settings(url: str, queue: str, store: Path) -> Settings:
    return Settings(
        pulse=PulseSettings(url=url, queue=queue, heartbeat=10.0, prefetch=200),
        daemon=DaemonSettings(batch_max=100, batch_wait=0.05, bindings_refresh=0.2),
    )


def _consumer(url: str, queue: str) -> PulseConsumer:
    return PulseConsumer(ConsumerSettings(url=url, queue_name=queue, heartbeat=10.0))


def _publish(url: str, messages: Sequence[Message]) -> None:
    # In order, one by one: grouping by exchange would reorder a task's messages.
    for message in messages:
        publish_many(url, message.exchange, [(message.routing_key, message.payload)])


class _Running:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> _Running:
        self.task = run_daemon(self.daemon)
        await wait_started(self.daemon, self.task)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.daemon.request_stop()
        assert self.task is not None
        assert await asyncio.wait_for(self.task, 30) == EXIT_OK


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    async with _Running(daemon):
        yield daemon


def _state(store_path: Path, request_id: str = "req-1") -> Any:
    store = SqliteStore(store_path)
    try:
        return store.get_request(request_id)
    finally:
        store.close()


def _daemon_watching_one_request(
    rabbitmq: RabbitMQ, tmp_path: Path, queue_prefix: str
) -> tuple[Daemon, str, Path]:
    """A daemon on its own queue and a store holding one open request ("req-1")."""
    queue = unique_queue_name(queue_prefix)
    store_path = tmp_path / "state.sqlite3"
    Engine(SqliteStore(store_path)).register(make_request(), AT)
    daemon = assemble_daemon(
        _settings(rabbitmq.url, queue, store_path),
        store=SqliteStore(store_path),
        consumer=_consumer(rabbitmq.url, queue),
    )
    return daemon, queue, store_path


async def test_messages_drive_a_request_to_completed_and_are_acked(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    daemon, queue, store_path = _daemon_watching_one_request(rabbitmq, tmp_path, "daemon")
    task = FakeTask(slug(1))
    other_group = FakeTask(slug(2), group=slug(3))
    async with running(daemon):
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
        _publish(rabbitmq.url, [*other_group.lifecycle(), *task.lifecycle()])
        await until(
            lambda: _state(store_path).state is RequestState.COMPLETED,
            "_state(store_path).state is RequestState.COMPLETED",
        )
        await until(
            lambda: daemon.health.counters.get("applied", 0) >= 3,
            'daemon.health.counters.get("applied", 0) >= 3',
        )
    request = _state(store_path)
    assert request.task_ids == (task.task_id,)
    store = SqliteStore(store_path)
    kinds = [
        (e.kind, e.detail.get("phase") or e.detail.get("state")) for e in store.timeline("req-1")
    ]
    assert kinds == [
        ("registered", None),
        ("task-seen", None),
        ("task-phase", "pending"),
        ("state", "pending"),
        ("task-phase", "running"),
        ("state", "running"),
        ("task-phase", "completed"),
        ("state", "completed"),
    ]
    # The other group was never bound, so its messages never reached the queue.
    assert store.get_task(other_group.task_id) is None
    assert rabbitmq.queue_depth(queue) == 0


async def test_each_batch_logs_one_summary_line_and_transitions_only_at_debug(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    daemon, queue, store_path = _daemon_watching_one_request(rabbitmq, tmp_path, "daemon")
    task = FakeTask(slug(1))
    steps = task.lifecycle()
    with structlog.testing.capture_logs() as logged:
        async with running(daemon):
            await until(lambda: rabbitmq.queue_depth(queue) == 0, "queue_depth(queue) == 0")
            _publish(rabbitmq.url, steps)
            await until(
                lambda: _state(store_path).state is RequestState.COMPLETED,
                "_state(store_path).state is RequestState.COMPLETED",
            )
    summaries = [e for e in logged if e["event"] == "batch committed"]
    assert {e["log_level"] for e in summaries} == {"info"}
    assert sum(e["messages"] for e in summaries) == len(steps)
    assert sum(e["applied"] for e in summaries) == len(steps)
    assert sum(e["requests_finished"] for e in summaries) == 1
    changes = [e for e in logged if e["event"] == "request changed"]
    assert [e["state"] for e in changes][-1] == "completed"
    assert {e["log_level"] for e in changes} == {"debug"}


async def test_malformed_messages_are_recorded_acked_and_do_not_stop_the_daemon(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    daemon, queue, store_path = _daemon_watching_one_request(rabbitmq, tmp_path, "daemon-bad")
    task = FakeTask(slug(1))
    messages = task.lifecycle("failed")
    bad_key = f"primary.{slug(9)}.0._._.p.w.s.{GROUP}._"
    async with running(daemon):
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
        publish_many(rabbitmq.url, messages[0].exchange, [(bad_key, b"{not json")])
        publish_many(rabbitmq.url, messages[0].exchange, [(bad_key, {"version": 2})])
        _publish(rabbitmq.url, messages)
        await until(
            lambda: _state(store_path).state is RequestState.FAILED,
            "_state(store_path).state is RequestState.FAILED",
        )
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
    assert _state(store_path).failure is FailureKind.ORANGE
    store = SqliteStore(store_path)
    assert store.count_rejections() == 2
    reasons = sorted(r[3] for r in store.rejections())
    assert reasons[0].startswith("body is not JSON")
    assert reasons[1] == "version must be 1, got 2"
    assert daemon.health.counters["rejected"] == 2


class _CrashBeforeAck:
    """A consumer whose acks never reach the broker: a crash between commit and ack."""

    def __init__(self, inner: PulseConsumer) -> None:
        self.inner = inner
        self.held: list[Delivery] = []

    async def start(self) -> None:
        await self.inner.start()

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        return await self.inner.get_batch(max_items, max_wait)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self.held.extend(deliveries)

    def set_bindings(self, routing_keys: set[str]) -> None:
        self.inner.set_bindings(routing_keys)

    @property
    def health(self) -> ConsumerHealth:
        return self.inner.health

    def is_stalled(self, now: float) -> bool:
        return self.inner.is_stalled(now)

    async def stop(self, grace: float) -> None:
        await self.inner.stop(0.5)


async def test_restart_redelivers_unacked_messages_and_applies_nothing_twice(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    queue = unique_queue_name("daemon-restart")
    store_path = tmp_path / "state.sqlite3"
    Engine(SqliteStore(store_path)).register(make_request(wanted=2), AT)
    settings = _settings(rabbitmq.url, queue, store_path)
    first, second = FakeTask(slug(1)), FakeTask(slug(2))

    crashing = _CrashBeforeAck(_consumer(rabbitmq.url, queue))
    daemon = assemble_daemon(settings, store=SqliteStore(store_path), consumer=crashing)
    async with running(daemon):
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
        _publish(rabbitmq.url, first.lifecycle())
        await until(lambda: len(crashing.held) == 3, "len(crashing.held) == 3")
    # Committed but never acked: the broker kept them for the next consumer.
    await until(lambda: rabbitmq.queue_depth(queue) == 3, "rabbitmq.queue_depth(queue) == 3")
    store = SqliteStore(store_path)
    timeline_before = store.timeline("req-1")
    # 1 of 2 runs done and nothing open: waiting for the second task to appear.
    assert _state(store_path).state is RequestState.SCHEDULED
    _publish(rabbitmq.url, second.lifecycle())

    daemon = assemble_daemon(
        settings, store=SqliteStore(store_path), consumer=_consumer(rabbitmq.url, queue)
    )
    async with running(daemon):
        await until(
            lambda: _state(store_path).state is RequestState.COMPLETED,
            "_state(store_path).state is RequestState.COMPLETED",
        )
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
    # The redelivered three change nothing: pending and running are behind the stored
    # completed (stale), completed is the same (duplicate).
    assert daemon.health.counters["stale"] == 2
    assert daemon.health.counters["duplicates"] == 1
    assert daemon.health.counters["applied"] == 3  # the second task's three
    timeline_after = store.timeline("req-1")
    assert timeline_after[: len(timeline_before)] == timeline_before
    seen = [e.task_id for e in timeline_after if e.kind == "task-seen"]
    assert seen == [first.task_id, second.task_id]
    phases = [(e.task_id, e.detail["phase"]) for e in timeline_after if e.kind == "task-phase"]
    assert len(phases) == len(set(phases)) == 6


async def test_sigterm_like_stop_commits_and_acks_in_flight_work(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    queue = unique_queue_name("daemon-stop")
    store_path = tmp_path / "state.sqlite3"
    Engine(SqliteStore(store_path)).register(make_request(wanted=50, label=LABEL), AT)
    daemon = assemble_daemon(
        _settings(rabbitmq.url, queue, store_path),
        store=SqliteStore(store_path),
        consumer=_consumer(rabbitmq.url, queue),
    )
    tasks = [FakeTask(slug(100 + n)) for n in range(50)]
    messages = [m for task in tasks for m in task.lifecycle()]
    async with running(daemon):
        await until(lambda: rabbitmq.queue_depth(queue) == 0, "rabbitmq.queue_depth(queue) == 0")
        await asyncio.to_thread(_publish, rabbitmq.url, messages)
        await until(
            lambda: daemon.health.counters.get("messages", 0) > 0,
            'daemon.health.counters.get("messages", 0) > 0',
        )
    # Stopped mid-stream: whatever was consumed was committed and acked, the rest waits.
    consumed = daemon.health.counters["messages"]
    assert rabbitmq.queue_depth(queue) == len(messages) - consumed
    store = SqliteStore(store_path)
    assert sum(1 for t in tasks if store.get_task(t.task_id)) >= consumed // 3


async def test_bindings_of_requests_that_ended_while_down_are_removed_at_start(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    from mozci_monitor.config import ApiSettings, SourcesSettings, StoreSettings
    from mozci_monitor.core.machine import cancel
    from mozci_monitor.pulse import task_group_binding
    from mozci_monitor.wiring import build_daemon

    queue = unique_queue_name("daemon-stale")
    store_path = tmp_path / "state.sqlite3"
    Engine(SqliteStore(store_path)).register(make_request(), AT)
    settings = Settings(
        pulse=PulseSettings(url=rabbitmq.url, queue=queue, heartbeat=10.0),
        store=StoreSettings(path=str(store_path)),
        daemon=DaemonSettings(batch_wait=0.05, bindings_refresh=0.2, reconcile_interval=3600),
        # Nothing answers there: reconciliation fails and is only logged.
        sources=SourcesSettings(taskcluster_root_url="http://127.0.0.1:9"),
        # Any free port: the default 8787 may be taken by another daemon on this machine.
        api=ApiSettings(port=0),
    )
    daemon = build_daemon(settings)
    async with running(daemon):
        await until(
            lambda: any(
                b.routing_key == task_group_binding(GROUP) for b in rabbitmq.list_bindings(queue)
            ),
            "the queue bound to the group",
        )
    # The request ends while no daemon runs; the durable queue keeps its binding.
    store = SqliteStore(store_path)
    request = store.get_request("req-1")
    assert request is not None
    with store.transaction():
        store.save_request(cancel(request, "done elsewhere").request, AT)
    assert any(b.routing_key == task_group_binding(GROUP) for b in rabbitmq.list_bindings(queue))

    daemon = build_daemon(settings)
    async with running(daemon):
        await until(
            lambda: (
                not any(
                    b.routing_key == task_group_binding(GROUP)
                    for b in rabbitmq.list_bindings(queue)
                )
            ),
            "the group unbound from the queue",
        )
