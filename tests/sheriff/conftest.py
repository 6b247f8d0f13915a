"""Every sheriff campaign test runs over the in-process broker and over a real RabbitMQ."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from broker import RabbitMQ, unique_queue_name

from sheriff.harness import Broker


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    queue = unique_queue_name("sheriff")
    if request.param == "memory":
        yield Broker("memory://", queue)
        return
    rabbitmq: RabbitMQ = request.getfixturevalue("rabbitmq")
    yield Broker(rabbitmq.url, queue)
    # The queue outlives its consumer (Pulse queues do): do not leave it on the shared broker.
    with contextlib.suppress(Exception):
        rabbitmq.delete_queue(queue)
