"""The broker fixture itself: it must really give a working, controllable broker."""

from __future__ import annotations

import kombu
import pytest
from broker import RabbitMQ, publish, unique_queue_name

pytestmark = pytest.mark.rabbitmq

EXCHANGE = "exchange/mozci-test/fixture"


def _bind(url: str, queue: str, keys: list[str]) -> None:
    with kombu.Connection(url) as conn:
        channel = conn.channel()
        exchange = kombu.Exchange(EXCHANGE, type="topic", durable=True)
        exchange(channel).declare()
        q = kombu.Queue(queue, exchange=exchange, routing_key=keys[0], durable=True)
        q(channel).declare()
        for key in keys[1:]:
            channel.queue_bind(queue=queue, exchange=EXCHANGE, routing_key=key)
        channel.close()


def test_publish_routes_by_key_and_cc(rabbitmq: RabbitMQ) -> None:
    queue = unique_queue_name("fixture")
    _bind(rabbitmq.url, queue, ["a.#", "route.x"])
    try:
        publish(rabbitmq.url, EXCHANGE, "a.b", {"n": 1})
        publish(rabbitmq.url, EXCHANGE, "zzz", b"dropped")
        publish(rabbitmq.url, EXCHANGE, "zzz", b"cc", cc=["route.x"])
        assert rabbitmq.queue_depth(queue) == 2
        assert rabbitmq.purge_queue(queue) == 2
        assert rabbitmq.queue_depth(queue) == 0
    finally:
        rabbitmq.delete_queue(queue)
    assert not rabbitmq.queue_exists(queue)


def test_list_bindings(rabbitmq: RabbitMQ) -> None:
    if not rabbitmq.can_control:
        pytest.skip("rabbitmqctl not available")
    queue = unique_queue_name("fixture")
    _bind(rabbitmq.url, queue, ["a.#", "b.*"])
    try:
        keys = {(b.exchange, b.routing_key) for b in rabbitmq.list_bindings(queue)}
        assert keys == {(EXCHANGE, "a.#"), (EXCHANGE, "b.*")}
    finally:
        rabbitmq.delete_queue(queue)


def test_stop_and_start_app(rabbitmq_chaos: RabbitMQ) -> None:
    from broker import amqp_answers

    rabbitmq_chaos.stop_app()
    assert not amqp_answers()
    rabbitmq_chaos.start_app()
    assert amqp_answers()


def test_freeze_and_thaw(rabbitmq_chaos: RabbitMQ) -> None:
    from broker import amqp_answers

    rabbitmq_chaos.freeze()
    assert not amqp_answers(timeout=1.0)
    rabbitmq_chaos.thaw()
    assert amqp_answers()
