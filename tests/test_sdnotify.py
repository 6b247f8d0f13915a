"""The systemd notify client against real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mozci_monitor.sdnotify import SystemdNotifier, watchdog_interval


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    # Short directory: AF_UNIX paths are limited to ~107 bytes, pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)  # a missing datagram fails the test instead of hanging it
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(directory)


def test_sends_each_message_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready(status="watching 3 pushes")
    assert notifier.status("line one\nline two")
    assert notifier.watchdog()
    assert notifier.stopping()
    notifier.close()
    received = [sock.recv(4096).decode() for _ in range(4)]
    assert received == [
        "READY=1\nSTATUS=watching 3 pushes",
        "STATUS=line one line two",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux-only")
def test_abstract_namespace_socket() -> None:
    name = f"mozci-monitor-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        notifier.close()
        assert sock.recv(4096) == b"READY=1"


def test_no_socket_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    notifier.close()


def test_reads_the_process_environment_by_default(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert SystemdNotifier().ready()
    assert sock.recv(4096) == b"READY=1"


def test_unsupported_address_disables_with_a_warning() -> None:
    with capture_logs() as logs:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert logs[0]["log_level"] == "warning"


def test_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "missing")})
    with capture_logs() as logs:
        assert notifier.ready() is False
    assert logs[0]["event"] == "systemd notification not sent"
    notifier.close()


def test_rejects_malformed_assignments(listener: tuple[socket.socket, str]) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener[1]})
    with pytest.raises(ValueError):
        notifier.notify("READY")
    with pytest.raises(ValueError):
        notifier.notify("STATUS=a\nREADY=1")
    notifier.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "4242"}, 0.5),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ, pid=4242) == expected


def test_watchdog_interval_defaults_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 2.0


def test_full_queue_drops_instead_of_blocking(listener: tuple[socket.socket, str]) -> None:
    # Nobody reads the listener: its queue fills after a few datagrams. A blocking send would
    # hang here (and the event loop in the daemon); the notifier drops and reports instead.
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener[1]})
    with capture_logs() as logs:
        results = [notifier.status(f"message {n}") for n in range(5000)]
    notifier.close()
    assert results[0] is True
    assert False in results
    assert any(event["event"] == "systemd notification not sent" for event in logs)
