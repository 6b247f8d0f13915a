"""PulseConsumer against a real RabbitMQ: acks, redelivery, bindings, reconnects, chaos."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from broker import RabbitMQ, publish, publish_many, unique_queue_name
from support.waiting import until

from mozci_monitor.pulse import (
    TASK_EXCHANGES,
    ConsumerSettings,
    Delivery,
    PulseConnectError,
    PulseConsumer,
    task_group_binding,
)

pytestmark = pytest.mark.rabbitmq

PENDING = "exchange/taskcluster-queue/v1/task-pending"
COMPLETED = "exchange/taskcluster-queue/v1/task-completed"


def slugid() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def routing_key(task_group_id: str, task_id: str | None = None) -> str:
    task_id = task_id or slugid()
    return f"primary.{task_id}.0._._.proj-gecko.b-linux.gecko-level-3.{task_group_id}._"


async def collect(consumer: PulseConsumer, count: int, within: float = 30.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        got += await consumer.get_batch(count - len(got), max_wait=0.2)
    return got


@pytest.fixture
def queue_name(rabbitmq: RabbitMQ) -> Iterator[str]:
    name = unique_queue_name("consumer")
    yield name
    with contextlib.suppress(Exception):
        rabbitmq.delete_queue(name)


def make_settings(url: str, queue: str, *keys: str, **overrides: object) -> ConsumerSettings:
    values: dict[str, object] = {
        "url": url,
        "queue_name": queue,
        "routing_keys": keys,
        "reconnect_initial_delay": 0.2,
        "reconnect_max_delay": 1.0,
        "start_timeout": 20.0,
    }
    values.update(overrides)
    return ConsumerSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(settings: ConsumerSettings, grace: float = 5.0) -> AsyncIterator[PulseConsumer]:
    consumer = PulseConsumer(settings)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop(grace=grace)


async def test_round_trip_acks_on_the_broker(rabbitmq: RabbitMQ, queue_name: str) -> None:
    group = slugid()
    async with running(make_settings(rabbitmq.url, queue_name, task_group_binding(group))) as c:
        assert c.health.connected
        keys = [routing_key(group) for _ in range(3)]
        for key in keys:
            publish(rabbitmq.url, PENDING, key, {"status": {"taskId": key.split(".")[1]}})
        publish(rabbitmq.url, PENDING, routing_key(slugid()), b"other group: not bound")
        got = await collect(c, 3)
        assert sorted(d.routing_key for d in got) == sorted(keys)
        assert all(d.exchange == PENDING and not d.redelivered for d in got)
        assert b'"taskId"' in got[0].body
        assert await c.get_batch(10, max_wait=0.3) == []
        c.ack(got)
        await until(lambda: c.health.acked == 3, "c.health.acked == 3")
    # Acked for real: nothing comes back to a new consumer of the same queue.
    assert rabbitmq.queue_depth(queue_name) == 0


async def test_unacked_deliveries_are_redelivered(rabbitmq: RabbitMQ, queue_name: str) -> None:
    group = slugid()
    settings = make_settings(rabbitmq.url, queue_name, task_group_binding(group))
    keys = sorted(routing_key(group) for _ in range(5))
    async with running(settings, grace=1.0) as first:
        publish_many(rabbitmq.url, COMPLETED, [(key, b"{}") for key in keys])
        got = await collect(first, 5)
        assert sorted(d.routing_key for d in got) == keys
        first.ack(got[:2])
        await until(lambda: first.health.acked == 2, "first.health.acked == 2")
        # Stopping with 3 handed-out deliveries unacked: they stay with the broker.
    await until(
        lambda: rabbitmq.queue_depth(queue_name) == 3, "rabbitmq.queue_depth(queue_name) == 3"
    )
    async with running(settings) as second:
        again = await collect(second, 3)
        assert sorted(d.routing_key for d in again) == sorted(d.routing_key for d in got[2:])
        assert all(d.redelivered for d in again)
        second.ack(again)
        await until(lambda: second.health.acked == 3, "second.health.acked == 3")
    assert rabbitmq.queue_depth(queue_name) == 0


async def test_a_later_batch_acked_first_leaves_the_earlier_one_with_the_broker(
    rabbitmq: RabbitMQ, queue_name: str
) -> None:
    """Acks go out as one multiple ack per batch, which must never cover a batch that is
    still in flight: ack the second batch, stop, and only the first comes back."""
    group = slugid()
    settings = make_settings(rabbitmq.url, queue_name, task_group_binding(group))
    keys = [routing_key(group) for _ in range(6)]
    async with running(settings, grace=1.0) as first:
        publish_many(rabbitmq.url, COMPLETED, [(key, b"{}") for key in keys])
        got = await collect(first, 6)
        earlier, later = got[:3], got[3:]
        first.ack(later)
        await until(lambda: first.health.acked == 3, "first.health.acked == 3")
    await until(
        lambda: rabbitmq.queue_depth(queue_name) == 3, "rabbitmq.queue_depth(queue_name) == 3"
    )
    async with running(settings) as second:
        again = await collect(second, 3)
        assert sorted(d.routing_key for d in again) == sorted(d.routing_key for d in earlier)
        second.ack(again)
        await until(lambda: second.health.acked == 3, "second.health.acked == 3")
    assert rabbitmq.queue_depth(queue_name) == 0


async def test_bindings_add_and_remove(rabbitmq: RabbitMQ, queue_name: str) -> None:
    group_a, group_b = slugid(), slugid()
    binding_a, binding_b = task_group_binding(group_a), task_group_binding(group_b)
    async with running(make_settings(rabbitmq.url, queue_name, binding_a)) as c:
        c.set_bindings({binding_a, binding_b})
        await until(
            lambda: (
                {b.routing_key for b in rabbitmq.list_bindings(queue_name)}
                == {binding_a, binding_b}
            ),
            "bound to groups a and b",
        )
        assert {b.exchange for b in rabbitmq.list_bindings(queue_name)} == set(TASK_EXCHANGES)
        publish(rabbitmq.url, PENDING, routing_key(group_b), b"b")
        got = await collect(c, 1)
        assert [d.body for d in got] == [b"b"]
        c.ack(got)

        c.set_bindings({binding_b})
        await until(
            lambda: {b.routing_key for b in rabbitmq.list_bindings(queue_name)} == {binding_b},
            "bound to group b only",
        )
        publish(rabbitmq.url, PENDING, routing_key(group_a), b"a: unbound now")
        publish(rabbitmq.url, PENDING, routing_key(group_b), b"b again")
        got = await collect(c, 1)
        assert [d.body for d in got] == [b"b again"]
        c.ack(got)
        assert await c.get_batch(10, max_wait=0.3) == []


async def test_two_thousand_messages_flow_with_prefetch_200(
    rabbitmq: RabbitMQ, queue_name: str
) -> None:
    group = slugid()
    total = 2000
    settings = make_settings(rabbitmq.url, queue_name, task_group_binding(group), prefetch=200)
    async with running(settings) as c:
        publish_many(rabbitmq.url, PENDING, ((routing_key(group), b"{}") for _ in range(total)))
        seen = 0
        deadline = time.monotonic() + 120
        while seen < total and time.monotonic() < deadline:
            batch = await c.get_batch(100, max_wait=1.0)
            assert len(batch) <= 100
            seen += len(batch)
            c.ack(batch)  # acking each batch is what lets the next 200 in
        assert seen == total
        await until(lambda: c.health.acked == total, "c.health.acked == total")
        assert c.health.delivered == total
    assert rabbitmq.queue_depth(queue_name) == 0


async def test_start_fails_clearly_on_bad_credentials(rabbitmq: RabbitMQ, queue_name: str) -> None:
    url = rabbitmq.url.replace("guest:guest", "guest:wrong-secret")
    consumer = PulseConsumer(make_settings(url, queue_name, start_timeout=10))
    with pytest.raises(PulseConnectError) as excinfo:
        await consumer.start()
    assert "wrong-secret" not in str(excinfo.value)
    await consumer.stop(grace=1)


async def test_reconnects_after_broker_restart(rabbitmq_chaos: RabbitMQ, queue_name: str) -> None:
    rabbitmq = rabbitmq_chaos
    group = slugid()
    binding = task_group_binding(group)
    async with running(make_settings(rabbitmq.url, queue_name, binding)) as c:
        publish(rabbitmq.url, PENDING, routing_key(group), b"before")
        publish(rabbitmq.url, PENDING, routing_key(group), b"not handed out")
        await until(lambda: c.health.delivered == 2, "c.health.delivered == 2")
        before = await c.get_batch(1, max_wait=1)
        assert [d.body for d in before] == [b"before"]
        generation = c.health.generation

        rabbitmq.stop_app()
        await until(lambda: not c.health.connected, "not c.health.connected")
        rabbitmq.start_app()
        await until(
            lambda: c.health.connected and c.health.reconnects == 1,
            "c.health.connected and c.health.reconnects == 1",
            60,
        )
        assert c.health.generation > generation
        assert not c.is_stalled(time.monotonic())

        # The ack of a delivery from the old connection is dropped; the broker redelivers it.
        c.ack(before)
        await until(lambda: c.health.stale_acks == 1, "c.health.stale_acks == 1")
        # The delivery still waiting from the old connection is not handed out: only the
        # broker's redeliveries are.
        again = await collect(c, 2)
        assert sorted((d.body, d.redelivered) for d in again) == [
            (b"before", True),
            (b"not handed out", True),
        ]
        c.ack(again)

        # Bindings still hold after the restart.
        publish(rabbitmq.url, PENDING, routing_key(group), b"after")
        after = await collect(c, 1)
        assert [d.body for d in after] == [b"after"]
        c.ack(after)
        await until(lambda: c.health.acked == 3, "c.health.acked == 3")
        assert {b.routing_key for b in rabbitmq.list_bindings(queue_name)} == {binding}


async def test_deleted_queue_is_declared_again_with_bindings(
    rabbitmq: RabbitMQ, queue_name: str
) -> None:
    group = slugid()
    binding = task_group_binding(group)
    async with running(make_settings(rabbitmq.url, queue_name, binding)) as c:
        rabbitmq.delete_queue(queue_name)  # what PulseGuardian does to an overgrown queue
        await until(lambda: c.health.queue_recreations == 1, "c.health.queue_recreations == 1")
        await until(lambda: rabbitmq.queue_exists(queue_name), "rabbitmq.queue_exists(queue_name)")
        assert c.health.connected and c.health.reconnects == 0
        assert {b.routing_key for b in rabbitmq.list_bindings(queue_name)} == {binding}
        await until(
            lambda: rabbitmq.consumer_count(queue_name) == 1,
            "rabbitmq.consumer_count(queue_name) == 1",
        )
        publish(rabbitmq.url, PENDING, routing_key(group), b"after deletion")
        got = await collect(c, 1)
        assert [d.body for d in got] == [b"after deletion"]
        c.ack(got)
        await until(lambda: c.health.acked == 1, "c.health.acked == 1")


async def test_frozen_broker_is_reported_as_stalled(
    rabbitmq_chaos: RabbitMQ, queue_name: str
) -> None:
    rabbitmq = rabbitmq_chaos
    heartbeat = 2.0
    group = slugid()
    settings = make_settings(
        rabbitmq.url, queue_name, task_group_binding(group), heartbeat=heartbeat
    )
    async with running(settings) as c:
        await asyncio.sleep(heartbeat)  # a few idle loop passes with heartbeats
        assert not c.is_stalled(time.monotonic())
        rabbitmq.freeze()
        try:
            # About 2.5 heartbeats: the link is judged dead after 1 silent heartbeat (the
            # broker sends them every half), then the timestamp has to age 2 more.
            await until(
                lambda: c.is_stalled(time.monotonic()),
                "c.is_stalled(time.monotonic())",
                6 * heartbeat,
            )
            # It stays stalled while frozen: dropping the dead link and reconnect attempts
            # that time out do not count as a live loop.
            await asyncio.sleep(3 * heartbeat)
            assert c.is_stalled(time.monotonic())
        finally:
            rabbitmq.thaw()
        await until(
            lambda: c.health.connected and not c.is_stalled(time.monotonic()),
            "c.health.connected and not c.is_stalled(time.monotonic())",
            60,
        )
        publish(rabbitmq.url, PENDING, routing_key(group), b"thawed")
        got = await collect(c, 1)
        assert [d.body for d in got] == [b"thawed"]
        c.ack(got)


async def test_reject_requeues_or_drops(rabbitmq: RabbitMQ, queue_name: str) -> None:
    group = slugid()
    async with running(make_settings(rabbitmq.url, queue_name, task_group_binding(group))) as c:
        publish(rabbitmq.url, PENDING, routing_key(group), b"retry me")
        first = await collect(c, 1)
        c.reject(first)  # requeue
        again = await collect(c, 1)
        assert [(d.body, d.redelivered) for d in again] == [(b"retry me", True)]
        c.reject(again, requeue=False)
        await until(lambda: c.health.rejected == 2, "c.health.rejected == 2")
        assert await c.get_batch(10, max_wait=0.3) == []
        assert c.health.acked == 0

        publish(rabbitmq.url, PENDING, routing_key(group), b"fails once")
        batch = await collect(c, 1)
        with pytest.raises(RuntimeError), c.processing(batch):
            raise RuntimeError("store unavailable")
        batch = await collect(c, 1)
        assert [(d.body, d.redelivered) for d in batch] == [(b"fails once", True)]
        with c.processing(batch):
            pass
        await until(
            lambda: c.health.acked == 1 and c.health.rejected == 3,
            "c.health.acked == 1 and c.health.rejected == 3",
        )
    assert rabbitmq.queue_depth(queue_name) == 0


async def test_passive_exchanges_as_on_real_pulse(rabbitmq: RabbitMQ, queue_name: str) -> None:
    missing = f"exchange/mozci-test/missing-{slugid()}"
    consumer = PulseConsumer(
        make_settings(rabbitmq.url, queue_name, exchanges=(missing,), declare_exchanges=False)
    )
    with pytest.raises(PulseConnectError, match=r"NOT_FOUND|NotFound|404"):
        await consumer.start()
    await consumer.stop(grace=1)

    group = slugid()
    publish(rabbitmq.url, PENDING, routing_key(group), b"declares the exchange")
    settings = make_settings(
        rabbitmq.url,
        queue_name,
        task_group_binding(group),
        exchanges=(PENDING,),
        declare_exchanges=False,
    )
    async with running(settings) as c:
        publish(rabbitmq.url, PENDING, routing_key(group), b"passive")
        got = await collect(c, 1)
        assert [d.body for d in got] == [b"passive"]
        c.ack(got)
