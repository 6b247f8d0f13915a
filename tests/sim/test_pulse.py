"""Pulse messages: exchanges, routing keys, CC routes and bodies, over kombu's memory://
transport (and a real RabbitMQ for the CC header); every message validates against the
queue's message schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest

from mozci_monitor.sim import PulseMessage, PulsePublisher, Simulator, simulated_messages
from mozci_monitor.sim.pulse_messages import TASK_EXCHANGES, exchange_name

from .conftest import small_config

PREFIX = "exchange/taskcluster-queue/v1/"


class Binding:
    """A private queue bound to one exchange, read synchronously (no timing involved)."""

    def __init__(self, url: str, exchange: str, routing_key: str) -> None:
        self.connection = kombu.Connection(url)
        queue = kombu.Queue(
            f"queue/sim-test/{uuid.uuid4().hex[:10]}",
            exchange=kombu.Exchange(exchange, type="topic", durable=True),
            routing_key=routing_key,
            auto_delete=True,
        )
        self.queue = queue(self.connection.default_channel)
        self.queue.declare()

    def drain(self) -> list[Any]:
        messages = []
        while (message := self.queue.get(no_ack=True)) is not None:
            messages.append(message)
        return messages

    def close(self) -> None:
        self.connection.release()


@pytest.fixture
def bindings() -> Iterator[Callable[..., Binding]]:
    made: list[Binding] = []

    def bind(exchange: str, routing_key: str = "#", url: str = "memory://") -> Binding:
        binding = Binding(url, exchange, routing_key)
        made.append(binding)
        return binding

    yield bind
    for binding in made:
        binding.close()


async def test_each_exchange_receives_its_messages(make_sim: Any, bindings: Any) -> None:
    sim: Simulator = await make_sim(broker_url="memory://", intermittent_rate=0.3)
    sim.force_outcome("build-linux64/opt", 0, "internal-error")
    built: list[PulseMessage] = []
    sim.add_message_listener(built.append)
    queues = {suffix: bindings(PREFIX + suffix, "primary.#") for suffix in TASK_EXCHANGES}
    await sim.advance(4 * 3600)
    await sim.flush()
    for suffix, binding in queues.items():
        received = binding.drain()
        expected = [m for m in built if m.exchange == PREFIX + suffix]
        assert received, f"nothing on {suffix}"
        assert [m.delivery_info["routing_key"] for m in received] == [
            m.routing_key for m in expected
        ]
        assert [m.payload for m in received] == [json.loads(json.dumps(m.body)) for m in expected]
        assert all(m.content_type == "application/json" for m in received)
    assert sim.stats.messages_published == {
        PREFIX + suffix: sum(1 for m in built if m.exchange == PREFIX + suffix)
        for suffix in TASK_EXCHANGES
    }


async def test_routing_keys_follow_the_queue_format(sim: Simulator, collected: list[Any]) -> None:
    await sim.advance(3 * 3600)
    for message in collected:
        fields = message.routing_key.split(".")
        assert len(fields) == 10
        assert fields[0] == "primary"
        status = message.body["status"]
        assert fields[1] == status["taskId"]
        assert fields[5:9] == [
            status["provisionerId"],
            status["workerType"],
            status["schedulerId"],
            status["taskGroupId"],
        ]
        assert fields[9] == "_"
        kind = message.exchange.removeprefix(PREFIX)
        if kind == "task-defined":
            assert fields[2:5] == ["_", "_", "_"]
        elif kind == "task-pending":
            assert fields[2] == str(message.body["runId"]) and fields[3:5] == ["_", "_"]
        elif kind in ("task-running", "task-completed", "task-failed"):
            assert fields[3:5] == [message.body["workerGroup"], message.body["workerId"]]
        task = sim.task(status["taskId"])
        assert message.cc == tuple(f"route.{r}" for r in task.definition["routes"])


async def test_route_bindings_receive_cc_copies(make_sim: Any, bindings: Any) -> None:
    sim: Simulator = await make_sim(broker_url="memory://")
    await sim.advance(1)
    push = sim.pushes[-1]
    route = f"route.tc-treeherder.v2.autoland.{push.revision}.#"
    treeherder = bindings(PREFIX + "task-completed", route)
    await sim.advance(6 * 3600)
    await sim.flush()
    received = treeherder.drain()
    task_ids = {m.payload["status"]["taskId"] for m in received}
    completed = {t.task_id for t in sim.tasks_of(push) if t.state == "completed"}
    assert task_ids == completed
    assert all(m.delivery_info["routing_key"].startswith("route.tc-treeherder.") for m in received)


async def test_every_message_conforms_to_the_schemas(
    make_sim: Any, validate: Callable[[str, Any], None]
) -> None:
    sim: Simulator = await make_sim(
        intermittent_rate=0.2,
        claim_expired_rate=0.1,
        worker_shutdown_rate=0.05,
        superseded_rate=0.05,
        deadline_exceeded_rate=0.05,
        retries=1,
    )
    sim.force_outcome("build-win64/debug", 0, "claim-expired")
    sim.force_outcome("build-win64/debug", 1, "claim-expired")  # retries exhausted: final
    messages: list[PulseMessage] = []
    sim.add_message_listener(messages.append)
    await sim.advance(1)
    sim.world.cancel(sim.pushes[-1].decision_task_id)  # a canceled exception too
    await sim.run_until_idle(limit=30 * 3600)
    kinds = {m.exchange.removeprefix(PREFIX) for m in messages}
    assert kinds == set(TASK_EXCHANGES)
    reasons = {
        m.body["status"]["runs"][m.body["runId"]].get("reasonResolved")
        for m in messages
        if m.exchange.endswith("task-exception")
    }
    assert {"canceled", "claim-expired"} <= reasons
    for message in messages:
        validate(f"{message.exchange.removeprefix(PREFIX)}-message.json", message.body)


async def test_bodies_carry_the_same_keys_as_real_messages(
    sim: Simulator, collected: list[PulseMessage], reference_dir: Path
) -> None:
    real = json.loads(
        (reference_dir / "treeherder" / "taskcluster_pulse_messages.json").read_text()
    )
    real_keys: dict[str, set[str]] = {}
    for sample in real.values():
        real_keys.setdefault(sample["exchange"], set()).update(sample["payload"])
        assert len(sample["routes"].split(".")) == 10
    await sim.advance(3 * 3600)
    for exchange, keys in real_keys.items():
        ours = [m for m in collected if m.exchange == exchange]
        assert ours, exchange
        for message in ours:
            # the 2019 samples predate `task` in pending messages; everything else matches
            assert keys <= set(message.body) | {"task"}
            assert set(message.body) - keys <= {"task"}


def test_publisher_works_without_the_simulator(bindings: Any) -> None:
    binding = bindings(exchange_name("pending"), "route.index.#")
    publisher = PulsePublisher("memory://")
    publisher.start()
    try:
        message = PulseMessage(
            exchange=exchange_name("pending"),
            routing_key="primary.abc.0._._.p.w.s.g._",
            cc=("route.index.example",),
            body={"version": 1},
        )
        for _ in range(50):
            publisher.publish(message)
        publisher.drain()
    finally:
        publisher.close()
    assert len(binding.drain()) == 50
    assert publisher.counts() == {exchange_name("pending"): 50}


def test_publisher_reports_an_unusable_broker() -> None:
    publisher = PulsePublisher("amqp://guest:guest@127.0.0.1:1//", connect_retries=1)
    with pytest.raises(Exception):  # noqa: B017 - kombu raises transport-specific errors
        publisher.start()


@pytest.mark.rabbitmq
async def test_cc_header_routes_on_rabbitmq(rabbitmq: Any, bindings: Any) -> None:
    sim = Simulator(small_config(broker_url=rabbitmq.url))
    await sim.start()
    try:
        await sim.advance(1)
        push = sim.pushes[-1]
        primary = bindings(PREFIX + "task-pending", "primary.#", url=rabbitmq.url)
        routed = bindings(
            PREFIX + "task-pending",
            f"route.tc-treeherder.v2.autoland.{push.revision}.#",
            url=rabbitmq.url,
        )
        both = bindings(PREFIX + "task-pending", "#", url=rabbitmq.url)
        await sim.advance(3600)
        await sim.flush()
    finally:
        await sim.stop()
    primary_ids = [m.payload["status"]["taskId"] for m in primary.drain()]
    routed_ids = [m.payload["status"]["taskId"] for m in routed.drain()]
    both_ids = [m.payload["status"]["taskId"] for m in both.drain()]
    assert routed_ids and set(routed_ids) <= set(primary_ids)
    # one copy per queue even when several of its bindings match, like real Pulse
    assert sorted(both_ids) == sorted(primary_ids)


def test_simulated_messages_without_server_or_broker(
    validate: Callable[[str, Any], None],
) -> None:
    config = small_config(history_pushes=0, pushes=3, intermittent_rate=0.2)
    messages = simulated_messages(config)
    assert messages == simulated_messages(config)  # deterministic
    per_task: dict[str, list[str]] = {}
    for message in messages:
        validate(f"{message.exchange.removeprefix(PREFIX)}-message.json", message.body)
        per_task.setdefault(message.body["status"]["taskId"], []).append(message.exchange)
    # every task ends resolved (or is stuck behind a failed build), in order
    for exchanges in per_task.values():
        assert exchanges[0].endswith("task-defined")
        if len(exchanges) > 1:
            assert exchanges[-1].rsplit("-", 1)[1] in ("completed", "failed", "exception")
    assert len(simulated_messages(config, ci_seconds=600)) < len(messages)
