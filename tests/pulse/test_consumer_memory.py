"""PulseConsumer over kombu's in-process memory:// transport (no broker, no socket)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import kombu
from broker import unique_queue_name
from support.waiting import until

from mozci_monitor.pulse import ConsumerSettings, Delivery, PulseConsumer


def _exchange_name() -> str:
    return f"exchange/mozci-test/{uuid.uuid4().hex[:8]}"


def _publish(exchange: str, routing_key: str, body: bytes) -> None:
    with kombu.Connection("memory://") as conn:
        producer = conn.Producer(exchange=kombu.Exchange(exchange, type="topic", durable=True))
        producer.publish(
            body,
            routing_key=routing_key,
            content_type="application/octet-stream",
            content_encoding="binary",
        )


async def _collect(consumer: PulseConsumer, count: int, max_rounds: int = 100) -> list[Delivery]:
    got: list[Delivery] = []
    for _ in range(max_rounds):
        got += await consumer.get_batch(count - len(got), max_wait=0.1)
        if len(got) >= count:
            break
    return got


def _settings(exchange: str, keys: tuple[str, ...] = ("#",)) -> ConsumerSettings:
    return ConsumerSettings(
        url="memory://",
        queue_name=unique_queue_name("memory"),
        exchanges=(exchange,),
        routing_keys=keys,
        heartbeat=0,
    )


async def test_deliver_and_ack() -> None:
    exchange = _exchange_name()
    consumer = PulseConsumer(_settings(exchange))
    await consumer.start()
    try:
        assert consumer.health.connected
        _publish(exchange, "primary.a", b"one")
        _publish(exchange, "primary.b", b"two")
        got = await _collect(consumer, 2)
        assert sorted((d.routing_key, d.body) for d in got) == [
            ("primary.a", b"one"),
            ("primary.b", b"two"),
        ]
        assert all(d.exchange == exchange and not d.redelivered for d in got)
        consumer.ack(got)
        consumer.ack(got)  # a second ack of the same deliveries is ignored
        # The acks are performed on the consumer's thread.
        await until(lambda: consumer.health.acked == 2, "both deliveries acked")
        assert consumer.health.delivered == 2
    finally:
        await consumer.stop(grace=2)
    assert not consumer.health.connected


async def test_only_the_deliveries_handed_out_are_settled() -> None:
    exchange = _exchange_name()
    consumer = PulseConsumer(_settings(exchange))
    await consumer.start()
    try:
        _publish(exchange, "primary.a", b"one")
        got = await _collect(consumer, 1)
        consumer.ack([replace(d) for d in got])  # equal copies: not what was handed out
        consumer.reject(got, requeue=False)
        await until(lambda: consumer.health.rejected == 1, "the delivery rejected")
        assert consumer.health.acked == 0
    finally:
        await consumer.stop(grace=2)
    assert not consumer.health.connected


async def test_get_batch_times_out_empty() -> None:
    consumer = PulseConsumer(_settings(_exchange_name()))
    await consumer.start()
    try:
        assert await consumer.get_batch(10, max_wait=0.05) == []
    finally:
        await consumer.stop(grace=2)


async def test_bindings_change_what_arrives() -> None:
    exchange = _exchange_name()
    consumer = PulseConsumer(_settings(exchange, keys=("a.#",)))
    await consumer.start()
    try:
        _publish(exchange, "a.1", b"a")
        _publish(exchange, "b.1", b"b-dropped")
        got = await _collect(consumer, 1)
        assert [d.body for d in got] == [b"a"]
        consumer.ack(got)
        consumer.set_bindings({"b.#"})
        # The binding change is applied on the kombu thread; wait until it shows.
        for _ in range(100):
            _publish(exchange, "b.2", b"b")
            got = await consumer.get_batch(10, max_wait=0.05)
            if got:
                break
        assert got and {d.body for d in got} == {b"b"}
        consumer.ack(got)
        _publish(exchange, "a.2", b"a-dropped")
        assert await consumer.get_batch(10, max_wait=0.2) == []
    finally:
        await consumer.stop(grace=2)


async def test_stop_waits_for_in_flight_acks() -> None:
    exchange = _exchange_name()
    consumer = PulseConsumer(_settings(exchange))
    await consumer.start()
    _publish(exchange, "k", b"x")
    got = await _collect(consumer, 1)
    assert len(got) == 1

    async def finish_work() -> None:
        await asyncio.sleep(0.2)
        consumer.ack(got)

    worker = asyncio.create_task(finish_work())
    await consumer.stop(grace=5)
    await worker
    assert consumer.health.acked == 1
