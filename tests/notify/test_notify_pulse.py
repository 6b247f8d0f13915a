"""PulseSink on kombu's in-process memory:// transport, and on the real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import kombu
import pytest

from mozci_monitor.notify import Notification, NotificationError, PulseSink
from mozci_monitor.notify.pulse_sink import exchange_name, message_body, routing_key


def _user() -> str:
    # memory:// keeps its exchanges and queues for the whole process: one user per test.
    return f"mozci-test-{uuid.uuid4().hex[:8]}"


def _declare(channel: Any, exchange: str) -> None:
    # The same declaration as the sink's; the raw channel.exchange_declare of py-amqp would
    # default to auto_delete=True, which the broker then refuses as inequivalent.
    kombu.Exchange(exchange, type="topic", durable=True)(channel).declare()


class Listener:
    """A queue bound to one of our exchanges, read without consuming callbacks."""

    def __init__(self, connection: kombu.Connection, exchange: str, binding: str) -> None:
        self.queue = kombu.Queue(
            f"queue/{exchange}/{uuid.uuid4().hex[:8]}",
            kombu.Exchange(exchange, type="topic", durable=True),
            routing_key=binding,
        )
        self.queue = self.queue(connection.default_channel)
        self.queue.declare()

    def get(self) -> kombu.Message | None:
        message = self.queue.get(no_ack=True)
        return message


@pytest.fixture
def memory() -> Iterator[kombu.Connection]:
    with kombu.Connection("memory://") as connection:
        yield connection


@pytest.fixture
async def sink_factory() -> AsyncIterator[Callable[..., PulseSink]]:
    made: list[PulseSink] = []

    def make(*args: Any, **kwargs: Any) -> PulseSink:
        sink = PulseSink(*args, **kwargs)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        await sink.aclose()


def test_names() -> None:
    note = Notification(
        key="k",
        campaign_id="bisect.v2.17",
        kind="bisect",
        outcome="budget-exhausted",
        title="t",
        text="",
    )
    assert exchange_name("mozci", "bisect") == "exchange/mozci/mozci-monitor/v1/bisect"
    assert routing_key(note) == "bisect.budget-exhausted.bisect_v2_17"
    assert routing_key(replace(note, campaign_id="")) == "bisect.budget-exhausted._"
    with pytest.raises(ValueError):
        exchange_name("evil/user", "bisect")
    with pytest.raises(ValueError):
        exchange_name("", "bisect")


async def test_message_arrives_with_routing_key_and_body(
    memory: kombu.Connection, sink_factory: Callable[..., PulseSink], notification: Notification
) -> None:
    user = _user()
    exchange = f"exchange/{user}/mozci-monitor/v1/until-fail"
    _declare(memory.default_channel, exchange)
    gave_up = Listener(memory, exchange, "*.gave-up.#")
    satisfied = Listener(memory, exchange, "*.satisfied.#")

    sink = sink_factory("memory://", user=user)
    await sink.send(notification)

    message = gave_up.get()
    assert message is not None
    assert message.delivery_info["routing_key"] == "until-fail.gave-up.c-42_7"
    assert message.delivery_info["exchange"] == exchange
    assert message.content_type == "application/json"
    assert message.properties["message_id"] == notification.key
    assert message.properties["delivery_mode"] == 2  # persistent
    body = json.loads(message.body)
    assert body == message_body(notification)
    assert body["version"] == 1
    assert body["campaignId"] == "c-42.7"
    assert body["details"]["tasks"] == ["TaskA", "TaskB"]
    assert gave_up.get() is None  # exactly one
    assert satisfied.get() is None  # the topic binding filters by outcome


async def test_one_exchange_per_kind_and_connection_reused(
    memory: kombu.Connection, sink_factory: Callable[..., PulseSink], notification: Notification
) -> None:
    user = _user()
    channel = memory.default_channel
    listeners = {}
    for kind in ("until-fail", "backfill"):
        exchange = f"exchange/{user}/mozci-monitor/v1/{kind}"
        _declare(channel, exchange)
        listeners[kind] = Listener(memory, exchange, "#")

    sink = sink_factory("memory://", user=user)
    await sink.send(notification)
    await sink.send(replace(notification, kind="backfill", outcome="satisfied", key="k2"))
    await sink.send(replace(notification, key="k3"))

    until_fail = [listeners["until-fail"].get(), listeners["until-fail"].get()]
    backfill = listeners["backfill"].get()
    assert [m.properties["message_id"] for m in until_fail if m] == [notification.key, "k3"]
    assert backfill is not None
    assert backfill.delivery_info["routing_key"] == "backfill.satisfied.c-42_7"
    assert sink.connections_opened == 1


async def test_unreachable_broker_raises_then_reconnects(
    memory: kombu.Connection, sink_factory: Callable[..., PulseSink], notification: Notification
) -> None:
    user = _user()
    exchange = f"exchange/{user}/mozci-monitor/v1/until-fail"
    _declare(memory.default_channel, exchange)
    listener = Listener(memory, exchange, "#")
    # First connection goes to a port where no broker listens; the next ones work.
    urls = iter(["amqp://guest:hunter2@127.0.0.1:9//", "memory://"])

    def factory() -> kombu.Connection:
        return kombu.Connection(
            next(urls),
            connect_timeout=1,
            transport_options={"max_retries": 0, "interval_start": 0},
        )

    sink = sink_factory(user=user, connection_factory=factory, max_retries=0)
    with pytest.raises(NotificationError) as caught:
        await sink.send(notification)
    message = str(caught.value)
    assert message.startswith("pulse sink could not deliver notification")
    assert f"publish to {exchange} (until-fail.gave-up.c-42_7)" in message
    assert "hunter2" not in message  # the broker password is masked

    await sink.send(notification)
    assert sink.connections_opened == 2
    delivered = listener.get()
    assert delivered is not None and delivered.properties["message_id"] == notification.key


def test_needs_url_or_factory() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PulseSink(user="u")
    with pytest.raises(ValueError, match="exactly one"):
        PulseSink("memory://", user="u", connection_factory=lambda: kombu.Connection("memory://"))


# -- the real broker (tests/broker.py) ------------------------------------------------------


def _close_connection_named(rabbitmq: Any, connection_name: str) -> int:
    """Closes, from the broker's side, the connections carrying this client name."""
    # The tab-separated form, not JSON: close_connection only accepts the pid as printed
    # there (<rabbit@host.1.2.3>), not as the JSON formatter renders it (#PID<1.2.3>).
    out = rabbitmq.ctl("list_connections", "-q", "--no-table-headers", "pid", "client_properties")
    closed = 0
    for line in out.splitlines():
        pid, _, properties = line.partition("\t")
        if f'"{connection_name}"' in properties:
            rabbitmq.ctl("close_connection", pid, "test: simulated broker restart")
            closed += 1
    return closed


@pytest.mark.rabbitmq
async def test_real_broker_delivery_and_reconnect(
    rabbitmq: Any, sink_factory: Callable[..., PulseSink], notification: Notification
) -> None:
    user = _user()
    exchange = f"exchange/{user}/mozci-monitor/v1/until-fail"
    sink_name = f"pulse-{user}"
    with kombu.Connection(rabbitmq.url, connect_timeout=5) as connection:
        channel = connection.channel()
        _declare(channel, exchange)
        queue = kombu.Queue(
            f"queue/{user}/notifications",
            kombu.Exchange(exchange, type="topic", durable=True),
            routing_key="until-fail.#",
            auto_delete=True,
        )(channel)
        queue.declare()
        try:
            sink = sink_factory(rabbitmq.url, user=user, name=sink_name)
            await sink.send(notification)
            first = queue.get(no_ack=True)
            assert first is not None
            assert first.delivery_info["routing_key"] == "until-fail.gave-up.c-42_7"
            assert json.loads(first.body) == message_body(notification)
            assert first.properties["message_id"] == notification.key

            if not rabbitmq.can_control:
                pytest.skip("rabbitmqctl unavailable: cannot drop the sink's connection")
            # The broker drops our connection (restart, PulseGuardian, network). With
            # publisher confirms the next publish notices it, and kombu reconnects and
            # publishes again within the same send: nothing is silently lost.
            assert _close_connection_named(rabbitmq, f"mozci-monitor {sink_name}") == 1
            second_note = replace(notification, key="campaign:c-42.7:again")
            await sink.send(second_note)
            second = queue.get(no_ack=True)
            assert second is not None
            assert second.properties["message_id"] == second_note.key
        finally:
            queue.delete()


async def test_send_after_close_raises(notification: Notification) -> None:
    sink = PulseSink("memory://", user=_user())
    await sink.send(notification)
    await sink.aclose()
    await sink.aclose()  # idempotent
    with pytest.raises(NotificationError, match="the sink is closed"):
        await sink.send(notification)
