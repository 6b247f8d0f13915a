"""systemd integration through a fake NOTIFY_SOCKET: READY, WATCHDOG only while alive,
STATUS on change, STOPPING — alone with scripted health, then around the real daemon."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support.daemon import assemble_daemon, connected_health

from mozci_monitor.api import HealthView
from mozci_monitor.config import DaemonSettings, Settings
from mozci_monitor.daemon import EXIT_STALLED, Daemon
from mozci_monitor.pulse import ConsumerHealth, Delivery
from mozci_monitor.sdnotify import SystemdNotifier
from mozci_monitor.service import run_systemd_integration
from mozci_monitor.store.sqlite import SqliteStore


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: AF_UNIX paths are limited to ~107 bytes.
    directory = tempfile.mkdtemp(prefix="sdn-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(directory)


def drain(sock: socket.socket) -> list[str]:
    received = []
    while True:
        try:
            received.append(sock.recv(4096).decode())
        except BlockingIOError:
            return received


class RecordingNotifier(SystemdNotifier):
    """The real notifier, also keeping what it sent (to know what came before an event)."""

    def __init__(self, path: str) -> None:
        super().__init__({"NOTIFY_SOCKET": path})
        self.sent: list[str] = []

    def notify(self, *assignments: str) -> bool:
        self.sent.append("\n".join(assignments))
        return super().notify(*assignments)


async def test_ready_watchdog_status_stopping_follow_health(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    stale = HealthView(alive=False, ready=False, reasons=("consumer loop stale",))
    script: list[HealthView] = [
        HealthView(alive=False, ready=False),  # starting: nothing sent yet
        HealthView(alive=False, ready=False),
        HealthView(alive=True, ready=True),
        HealthView(alive=True, ready=True),
        HealthView(alive=True, ready=True, status="watching 2 pushes"),
        stale,
        stale,
        stale,
    ]
    stop = asyncio.Event()
    calls = 0

    def health() -> HealthView:
        nonlocal calls
        view = script[min(calls, len(script) - 1)]
        calls += 1
        if calls == len(script):
            stop.set()
        return view

    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    await run_systemd_integration(notifier, health, stop, watchdog_interval=0.02)
    notifier.close()

    assert drain(sock) == [
        "READY=1\nSTATUS=ready",
        "WATCHDOG=1",
        "WATCHDOG=1",
        "STATUS=watching 2 pushes",
        "WATCHDOG=1",
        # The consumer went stale: the status says so and the pings stop.
        "STATUS=not ready: consumer loop stale",
        "STOPPING=1\nSTATUS=stopping",
    ]


async def test_watchdog_off_still_reports_ready_and_stopping(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    stop = asyncio.Event()
    seen: list[int] = []

    def health() -> HealthView:
        seen.append(1)
        if len(seen) == 3:
            stop.set()
        return HealthView(alive=True, ready=True)

    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    await run_systemd_integration(notifier, health, stop, watchdog_interval=0, status_interval=0.01)
    notifier.close()
    assert drain(sock) == ["READY=1\nSTATUS=ready", "STOPPING=1\nSTATUS=stopping"]


async def test_the_interval_comes_from_watchdog_usec(
    notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = notify_socket
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # what systemd sets for WatchdogSec=
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    stop = asyncio.Event()
    seen: list[int] = []

    def health() -> HealthView:
        seen.append(1)
        if len(seen) == 2:
            stop.set()
        return HealthView(alive=True, ready=True)

    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    await run_systemd_integration(notifier, health, stop)
    notifier.close()
    assert drain(sock) == [
        "READY=1\nSTATUS=ready",
        "WATCHDOG=1",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=stopping",
    ]


# -- around the real daemon -----------------------------------------------------------------


class SilentConsumer:
    """A consumer that delivers nothing; `stalled` plays a kombu loop hung on its broker."""

    def __init__(self) -> None:
        self.stalled = False
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        await asyncio.sleep(max_wait)
        return []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    @property
    def health(self) -> ConsumerHealth:
        return connected_health()

    def set_bindings(self, routing_keys: set[str]) -> None:
        pass

    def is_stalled(self, now: float) -> bool:
        return self.stalled

    async def stop(self, grace: float) -> None:
        self.started = False


def daemon_health(daemon: Daemon, consumer: SilentConsumer) -> Callable[[], HealthView]:
    """What the lead's backend derives from the daemon (see api/wiring_proposal.md)."""

    def health() -> HealthView:
        stalled = consumer.is_stalled(time.monotonic())
        reasons = []
        if not daemon.health.started:
            reasons.append("not started")
        if stalled:
            reasons.append("consumer loop stale")
        if not daemon.health.store_writable:
            reasons.append("store not writable")
        return HealthView(
            alive=daemon.health.started and not stalled,
            ready=daemon.health.ready and not stalled,
            reasons=tuple(reasons),
        )

    return health


async def test_the_daemon_is_restarted_when_its_consumer_hangs(
    notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = notify_socket
    consumer = SilentConsumer()
    settings = Settings(daemon=DaemonSettings(stall_timeout=0.2, shutdown_grace=1.0))
    daemon = assemble_daemon(settings, store=SqliteStore(tmp_path / "s.sqlite3"), consumer=consumer)
    notifier = RecordingNotifier(path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def run_daemon() -> int:
        try:
            return await daemon.run(install_signal_handlers=False)
        finally:
            stop.set()

    daemon_task = asyncio.create_task(run_daemon())
    integration = asyncio.create_task(
        run_systemd_integration(
            notifier, daemon_health(daemon, consumer), stop, watchdog_interval=0.04
        )
    )

    async def next_message() -> str:
        return (await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)).decode()

    assert await next_message() == "READY=1\nSTATUS=ready"
    assert [await next_message() for _ in range(3)] == ["WATCHDOG=1"] * 3

    consumer.stalled = True
    hung_at = len(notifier.sent)
    assert await asyncio.wait_for(daemon_task, 10) == EXIT_STALLED
    await asyncio.wait_for(integration, 10)
    notifier.close()

    after = notifier.sent[hung_at:]
    assert "WATCHDOG=1" not in after
    assert after[-1] == "STOPPING=1\nSTATUS=stopping"
    received = drain(sock)
    assert received[-1] == "STOPPING=1\nSTATUS=stopping"
    assert received[-len(after) :] == after  # what was sent is what systemd would get


async def test_the_wired_daemon_notifies_systemd_itself(
    notify_socket: tuple[socket.socket, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once daemon.py runs the integration itself (api/wiring_proposal.md)."""
    import inspect

    if "notifier" not in inspect.signature(Daemon).parameters:
        pytest.skip("Daemon does not run the systemd integration yet (see wiring proposal)")
    sock, path = notify_socket
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # as systemd sets it for WatchdogSec=
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    consumer = SilentConsumer()
    settings = Settings(daemon=DaemonSettings(stall_timeout=0.2, shutdown_grace=1.0))
    notifier = RecordingNotifier(path)
    daemon = assemble_daemon(
        settings,
        store=SqliteStore(tmp_path / "s.sqlite3"),
        consumer=consumer,
        notifier=notifier,
    )
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(daemon.run(install_signal_handlers=False))

    async def next_message() -> str:
        return (await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)).decode()

    assert (await next_message()).startswith("READY=1\nSTATUS=")
    assert [await next_message() for _ in range(2)] == ["WATCHDOG=1"] * 2
    consumer.stalled = True
    hung_at = len(notifier.sent)
    assert await asyncio.wait_for(task, 10) == EXIT_STALLED
    after = notifier.sent[hung_at:]
    assert "WATCHDOG=1" not in after
    assert after[-1] == "STOPPING=1\nSTATUS=stopping"
