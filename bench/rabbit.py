"""The local RabbitMQ the benchmarks run on, and blocking kombu helpers around it.

The broker comes from tests/broker.py's session logic (reuse a broker answering on
127.0.0.1:5672, else start a private node and stop it afterwards), so the benchmark and
the test suite find and share a broker the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kombu

from bench.workload import Message
from mozci_monitor.pulse import TASK_EXCHANGES

_kombu: Any = kombu


@contextlib.contextmanager
def local_broker(url: str | None = None, *, private: bool = True) -> Iterator[str]:
    """The AMQP URL of a local RabbitMQ for the duration of the block.

    `url` given: that broker. `private` (the default): a node of our own on a free port,
    started like tests/broker.py starts one and stopped afterwards — the shared node on
    5672 is stopped and frozen by the chaos tests of any pytest session running at the
    same time, which would stall a benchmark for seconds. Otherwise the shared node, found
    or started by tests/broker.py's session logic.
    """
    if url is not None:
        yield url
        return
    if private:
        node = _PrivateBenchNode()
        try:
            node.start()
            yield node.url
        finally:
            node.stop()
        return
    from tests.broker import _broker_session

    with _broker_session() as broker:
        yield broker.url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PrivateBenchNode:
    """A throw-away RabbitMQ node: own name, ports and data directory."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="mozci-bench-rabbitmq-"))
        self.port = _free_port()
        self.name = f"mozcibench{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.pid_file = self.base / "pid"
        self.env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(_free_port()),
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError, PermissionError):
                shutil.chown(self.base, user="rabbitmq", group="rabbitmq")
                shutil.chown(self.base / "enabled_plugins", user="rabbitmq", group="rabbitmq")

    def _tool(self, name: str) -> str:
        found = shutil.which(name) or f"/usr/sbin/{name}"
        if not Path(found).exists():
            raise RuntimeError(f"{name} not found: install rabbitmq-server or pass --broker")
        return found

    def start(self) -> None:
        subprocess.run(
            [self._tool("rabbitmq-server"), "-detached"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [
                self._tool("rabbitmqctl"),
                "-n",
                self.name,
                "wait",
                str(self.pid_file),
                "--timeout",
                "60",
            ],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self) -> None:
        if self.pid_file.exists():
            with contextlib.suppress(Exception):
                subprocess.run(
                    [self._tool("rabbitmqctl"), "-n", self.name, "stop", str(self.pid_file)],
                    env=self.env,
                    capture_output=True,
                    timeout=60,
                )
        shutil.rmtree(self.base, ignore_errors=True)


# py-amqp sets TCP_USER_TIMEOUT to 1 s: when a loaded broker stops reading its socket
# (flow control) for longer, the kernel kills the connection (ETIMEDOUT) mid-publish.
_PATIENT = {"socket_settings": {socket.TCP_USER_TIMEOUT: 60_000}}


def connect(url: str) -> Any:
    """A kombu connection that survives a broker pausing its reads for a while."""
    return _kombu.Connection(url, transport_options=_PATIENT)


def redact(url: str) -> str:
    from mozci_monitor.pulse import redact_url

    return redact_url(url)


def queue_name(prefix: str) -> str:
    return f"queue/mozci-bench/{prefix}-{uuid.uuid4().hex[:10]}"


def declare_bound_queue(url: str, name: str, routing_keys: Iterable[str]) -> None:
    """Declare `name` the way PulseConsumer does (durable, no arguments) and bind it."""
    with connect(url) as connection:
        channel = connection.channel()
        for exchange in TASK_EXCHANGES:
            channel.exchange_declare(
                exchange=exchange, type="topic", durable=True, auto_delete=False
            )
        channel.queue_declare(queue=name, durable=True, exclusive=False, auto_delete=False)
        for key in sorted(routing_keys):
            for exchange in TASK_EXCHANGES:
                channel.queue_bind(queue=name, exchange=exchange, routing_key=key)
        channel.close()


def publish_all(url: str, messages: Iterable[Message]) -> int:
    """Publish persistent messages over one channel (publisher confirms off, as Taskcluster)."""
    count = 0
    with connect(url) as connection:
        channel = connection.channel()
        for message in messages:
            channel.basic_publish(
                channel.prepare_message(
                    message.body,
                    priority=0,
                    content_type="application/json",
                    content_encoding="utf-8",
                    properties={"delivery_mode": 2},
                ),
                exchange=message.exchange,
                routing_key=message.routing_key,
            )
            count += 1
        channel.close()
    return count


def queue_depth(url: str, name: str) -> tuple[int, int]:
    """(ready messages, consumers) of a queue, from a passive declare."""
    with connect(url) as connection:
        channel = connection.channel()
        ok = channel.queue_declare(queue=name, passive=True)
        channel.close()
        return int(ok.message_count), int(ok.consumer_count)


def wait_depth(url: str, name: str, expected: int, timeout: float) -> int:
    """Wait until the broker reports `expected` ready messages in the queue (routing done)."""
    deadline = time.monotonic() + timeout
    depth = -1
    while time.monotonic() < deadline:
        depth, _ = queue_depth(url, name)
        if depth >= expected:
            return depth
        time.sleep(0.05)
    raise RuntimeError(f"queue {name} holds {depth} messages, expected {expected}")


def delete_queues(url: str, names: Iterable[str]) -> None:
    with contextlib.suppress(Exception), connect(url) as connection:
        channel = connection.channel()
        for name in names:
            with contextlib.suppress(Exception):
                channel.queue_delete(queue=name)
        channel.close()


def cpu_by_thread() -> dict[str, float]:
    """User + system CPU time of each live Python thread of this process so far, by its
    name (Linux's /proc; threads sharing a name added up, numbered suffixes dropped)."""
    ticks = os.sysconf("SC_CLK_TCK")
    times: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue  # ended while we looked, or no /proc here
        fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
        name = re.sub(r"[_-]\d+$", "", thread.name)
        times[name] = times.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return times


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_drain(
    url: str, name: str, expected: int, *, prefetch: int, timeout: float
) -> tuple[float, float]:
    """A bare kombu consumer: ack each message, no work.

    Returns (seconds from first delivery to last ack, CPU seconds the process spent).
    """
    first: list[float] = []
    last: list[float] = []
    seen = 0

    def on_message(message: Any) -> None:
        nonlocal seen
        if not first:
            first.append(time.perf_counter())
        message.ack()
        seen += 1
        if seen == expected:
            last.append(time.perf_counter())

    queue = _kombu.Queue(name, durable=True, auto_delete=False, no_declare=True)
    cpu_start = cpu_seconds()
    deadline = time.monotonic() + timeout
    with connect(url) as connection:
        channel = connection.channel()
        consumer = _kombu.Consumer(
            # on_message gets the raw message: no deserialisation, the cheapest kombu allows.
            channel,
            queues=[queue],
            on_message=on_message,
            accept=None,
            prefetch_count=prefetch,
        )
        with consumer:
            while seen < expected:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"raw consumer saw {seen}/{expected} before its timeout")
                with contextlib.suppress(TimeoutError, OSError):
                    connection.drain_events(timeout=1.0)
        channel.close()
    return last[0] - first[0], cpu_seconds() - cpu_start
