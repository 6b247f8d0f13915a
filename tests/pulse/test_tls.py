"""amqps:// as on real Pulse: TLS with certificate checks, through a local TLS proxy.

The proxy terminates TLS with a certificate from a throwaway CA (trustme) and forwards to
the test broker's plain AMQP port, so the consumer's TLS path (including decrypted bytes
that select() cannot see) runs against a real broker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from broker import HOST, PORT, RabbitMQ, publish, publish_many, unique_queue_name

from mozci_monitor.pulse import (
    ConsumerSettings,
    Delivery,
    PulseConnectError,
    PulseConsumer,
    task_group_binding,
)

pytestmark = pytest.mark.rabbitmq

PENDING = "exchange/taskcluster-queue/v1/task-pending"


def _slugid() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _routing_key(group: str) -> str:
    return f"primary.{_slugid()}.0._._.proj-gecko.b-linux.gecko-level-3.{group}._"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def tls_proxy(cert: trustme.LeafCert) -> AsyncIterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(HOST, PORT)
        pipes = asyncio.gather(_pipe(client_r, broker_w), _pipe(broker_r, client_w))
        tasks.add(pipes)  # type: ignore[arg-type]
        await pipes

    server = await asyncio.start_server(handle, HOST, 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def test_consumes_over_tls(rabbitmq: RabbitMQ, ca: trustme.CA, ca_file: str) -> None:
    group = _slugid()
    queue = unique_queue_name("tls")
    async with tls_proxy(ca.issue_cert(HOST)) as port:
        settings = ConsumerSettings(
            url=f"amqps://guest:guest@{HOST}:{port}//",
            queue_name=queue,
            routing_keys=(task_group_binding(group),),
            tls_ca_file=ca_file,
            start_timeout=20,
        )
        consumer = PulseConsumer(settings)
        await consumer.start()
        try:
            # Many small frames and one large body: TLS records then hold several frames,
            # and the consumer must read the decrypted rest without waiting for the socket.
            total = 500
            messages = ((_routing_key(group), b"{}") for _ in range(total))
            publish_many(rabbitmq.url, PENDING, messages)
            publish(rabbitmq.url, PENDING, _routing_key(group), b"x" * 300_000)
            got: list[Delivery] = []
            deadline = time.monotonic() + 60
            while len(got) < total + 1 and time.monotonic() < deadline:
                batch = await consumer.get_batch(200, max_wait=0.5)
                got += batch
                consumer.ack(batch)
            assert len(got) == total + 1
            assert max(len(d.body) for d in got) == 300_000
            for _ in range(600):
                if consumer.health.acked == total + 1:
                    break
                await asyncio.sleep(0.05)
            assert consumer.health.acked == total + 1
        finally:
            await consumer.stop(grace=5)
    assert rabbitmq.queue_depth(queue) == 0
    rabbitmq.delete_queue(queue)


async def test_untrusted_certificate_fails_start(rabbitmq: RabbitMQ) -> None:
    stranger = trustme.CA()  # the consumer only trusts the system CAs
    async with tls_proxy(stranger.issue_cert(HOST)) as port:
        consumer = PulseConsumer(
            ConsumerSettings(
                url=f"amqps://guest:guest@{HOST}:{port}//",
                queue_name=unique_queue_name("tls"),
                start_timeout=20,
            )
        )
        with pytest.raises(PulseConnectError, match=r"(?i)certificate"):
            await consumer.start()
        await consumer.stop(grace=1)
