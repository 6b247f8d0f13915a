"""The broker a scene runs over: the in-process one and a real RabbitMQ, each test on both."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from broker import RabbitMQ, unique_queue_name


@dataclass(frozen=True)
class Broker:
    url: str
    queue: str  # this test's own Pulse queue


def both_brokers(prefix: str) -> Callable[..., Any]:
    """A `broker` fixture running each test over memory:// and over RabbitMQ."""

    @pytest.fixture(
        params=[
            pytest.param("memory", id="memory"),
            pytest.param("rabbitmq", id="rabbitmq", marks=pytest.mark.rabbitmq),
        ]
    )
    def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
        queue = unique_queue_name(prefix)
        if request.param == "memory":
            yield Broker("memory://", queue)
            return
        rabbitmq: RabbitMQ = request.getfixturevalue("rabbitmq")
        yield Broker(rabbitmq.url, queue)
        # The queue outlives its consumer (Pulse queues do): do not leave it on the broker.
        with contextlib.suppress(Exception):
            rabbitmq.delete_queue(queue)

    return broker
