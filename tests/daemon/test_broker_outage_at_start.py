"""A broker that is down when the daemon starts does not make it exit: it keeps trying,
serves its API (/readyz answers 503 with the reason) and feeds the watchdog, and starts
consuming once the broker answers. (Under systemd a start-up outage used to end in exit 2
after 30 s and, after five of those, in systemd giving up on the service.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from broker import RabbitMQ, publish_many, unique_queue_name
from store.pulse_builder import FakeTask, make_request, slug
from support.waiting import WITHIN, until

from mozci_monitor.config import ApiSettings, DaemonSettings, PulseSettings, Settings
from mozci_monitor.core.model import RequestState
from mozci_monitor.daemon import EXIT_OK
from mozci_monitor.engine import Engine
from mozci_monitor.pulse import ConsumerSettings, PulseConsumer
from mozci_monitor.store.sqlite import SqliteStore
from mozci_monitor.wiring import build

pytestmark = pytest.mark.rabbitmq

AT = "2026-11-22T12:00:00.000Z"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def forwarding(port: int, target_host: str, target_port: int) -> AsyncIterator[None]:
    """The broker, appearing on `port`: a TCP forwarder to the real one while open."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(target_host, target_port)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def _readyz(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url + "/readyz") as answer:
        return answer.status, await answer.json()


async def test_the_daemon_waits_for_a_broker_absent_at_start(
    rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    real = urlsplit(rabbitmq.url)
    port = _free_port()  # nothing listens here until the broker "appears"
    url = urlunsplit(real._replace(netloc=f"{real.username}:{real.password}@127.0.0.1:{port}"))
    queue = unique_queue_name("outage-at-start")
    store_path = tmp_path / "state.sqlite3"
    Engine(SqliteStore(store_path)).register(make_request(), AT)
    settings = Settings(
        pulse=PulseSettings(url=url, queue=queue, heartbeat=10.0, reconnect_max_delay=1.0),
        daemon=DaemonSettings(batch_wait=0.05, bindings_refresh=0.2),
        api=ApiSettings(port=0),
    )
    attempts: list[PulseConsumer] = []

    def fresh_consumer() -> PulseConsumer:
        # Short start timeouts, so the test sees several failed starts in a few seconds.
        consumer = PulseConsumer(
            ConsumerSettings(
                url=url,
                queue_name=queue,
                heartbeat=10.0,
                connect_timeout=0.5,
                start_timeout=1.0,
                reconnect_max_delay=0.5,
            )
        )
        attempts.append(consumer)
        return consumer

    runtime = build(
        settings, store=SqliteStore(store_path), consumer_factory=fresh_consumer, services=None
    )
    daemon = runtime.daemon
    runner = asyncio.create_task(daemon.run(install_signal_handlers=False))
    try:
        await until(lambda: len(attempts) >= 3, "three failed starts, and the daemon still up")
        assert not runner.done()
        health = daemon.api_health()
        assert health.alive and not health.ready
        assert "broker connected: no" in health.reasons
        api_url = getattr(daemon.api_server, "url")  # noqa: B009 - the port-0 server's URL
        status, document = await _readyz(api_url)
        assert status == 503, document

        async with forwarding(port, real.hostname or "127.0.0.1", real.port or 5672):
            await until(lambda: daemon.health.started, "consuming once the broker appeared")
            assert daemon.api_health().ready
            status, _ = await _readyz(api_url)
            assert status == 200
            # It consumes: a message for the watched group moves the request.
            task = FakeTask(slug(1))
            for message in task.lifecycle():
                publish_many(
                    rabbitmq.url, message.exchange, [(message.routing_key, message.payload)]
                )
            store = SqliteStore(store_path)
            await until(
                lambda: (
                    (r := store.get_request("req-1")) is not None
                    and r.state is RequestState.COMPLETED
                ),
                "the request completed from the broker's messages",
            )
            daemon.request_stop()
            assert await asyncio.wait_for(runner, WITHIN) == EXIT_OK
    finally:
        daemon.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, WITHIN)
        with contextlib.suppress(Exception):
            rabbitmq.delete_queue(queue)


async def test_asked_to_stop_while_waiting_for_the_broker_it_exits_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    settings = Settings(
        pulse=PulseSettings(url=f"amqp://guest:guest@127.0.0.1:{port}//", queue="queue/t/q"),
        api=ApiSettings(enabled=False),
    )
    attempts: list[PulseConsumer] = []

    def fresh_consumer() -> PulseConsumer:
        consumer = PulseConsumer(
            ConsumerSettings(
                url=settings.pulse.url,
                queue_name="queue/t/q",
                start_timeout=0.5,
                connect_timeout=0.2,
            )
        )
        attempts.append(consumer)
        return consumer

    daemon = build(
        settings,
        store=SqliteStore(tmp_path / "state.sqlite3"),
        consumer_factory=fresh_consumer,
        services=None,
    ).daemon
    runner = asyncio.create_task(daemon.run(install_signal_handlers=False))
    await until(lambda: len(attempts) >= 2, "a failed start and a retry")
    daemon.request_stop()
    assert await asyncio.wait_for(runner, WITHIN) == EXIT_OK
