"""Shutdown is bounded by construction: what does not stop in time is named and left.

A task that ignores its cancellation (as the actuator did under Python 3.11's wait_for,
CPython gh-86296), a consumer whose close hangs, a store call stuck in its thread: the
daemon's run() still returns, the log names what did not stop, and the process exits on
SIGTERM by itself instead of waiting for systemd's SIGKILL.

Only the deadline of the part a test makes overrun is short here (tenths of a second);
every step that does finish keeps its production bound (seconds). A step that finishes
but misses a short bound is left behind too, by design, so with short bounds everywhere a
store thread starved of the CPU for a few tenths of a second (a loaded machine, a long
garbage collection late in a large run) added its name to `left_behind` and failed a test
that was not about it. Nothing asserts on elapsed time: with an unbounded shutdown these
tests do not fail slowly, they would hang, so each one runs under a generous guard
(HANG_GUARD) that turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.daemon import connected_health

from mozci_monitor import wiring
from mozci_monitor.config import DaemonSettings, Settings, StoreSettings
from mozci_monitor.daemon import Daemon
from mozci_monitor.ports.pulse import ConsumerHealth, Delivery
from mozci_monitor.shutdown import StepOutcome, run_within, stop_within
from mozci_monitor.store.sqlite import SqliteStore

HANG_GUARD = 60.0  # seconds; only reached if shutdown is unbounded again
GRACE = 0.2


class Release:
    """Lets the stubborn parts of a test go once it has made its point (clean teardown)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def ignore_cancellation(self) -> None:
        """Wait for the release, swallowing every cancellation meanwhile."""
        while not self.event.is_set():
            try:
                await self.event.wait()
            except asyncio.CancelledError:
                continue


@pytest.fixture
async def release() -> Any:
    released = Release()
    yield released
    released.event.set()
    await asyncio.sleep(0)  # let the stubborn tasks see it and end


# -- the helpers ------------------------------------------------------------------------------


async def test_stop_within_returns_the_names_of_tasks_that_ignore_cancellation(
    release: Release,
) -> None:
    stubborn = asyncio.create_task(release.ignore_cancellation(), name="stubborn")
    polite = asyncio.create_task(asyncio.sleep(3600), name="polite")
    await asyncio.sleep(0)  # both started: a task cancelled before its first step just ends
    polite.cancel()
    stubborn.cancel()
    with capture_logs() as logs:
        async with asyncio.timeout(HANG_GUARD):
            left = await stop_within([stubborn, polite], 0.05, step="test", recancel_wait=0.05)
    assert left == ["stubborn"]
    assert polite.cancelled()
    assert not stubborn.done()
    named = [e for e in logs if e["event"] == "shutdown: tasks left behind"]
    assert named == [
        {"event": "shutdown: tasks left behind", "step": "test", "tasks": ["stubborn"],
         "log_level": "error"}
    ]  # fmt: skip


async def test_a_second_cancellation_ends_a_task_that_swallowed_the_first() -> None:
    swallowed = asyncio.Event()

    async def swallows_once() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(swallows_once(), name="swallows-once")
    await asyncio.sleep(0)
    task.cancel()
    with capture_logs() as logs:
        async with asyncio.timeout(HANG_GUARD):
            left = await stop_within([task], 0.05, step="test", recancel_wait=HANG_GUARD)
    assert left == []
    assert swallowed.is_set() and task.cancelled()
    overran = [e for e in logs if e["event"].startswith("shutdown: tasks did not stop")]
    assert [e["tasks"] for e in overran] == [["swallows-once"]]


async def test_run_within_tells_done_failed_and_left(release: Release) -> None:
    async def fine() -> None:
        return None

    async def broken() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        async with asyncio.timeout(HANG_GUARD):
            outcomes = [
                await run_within(fine, 1.0, step="fine"),
                await run_within(broken, 1.0, step="broken"),
                await run_within(release.ignore_cancellation, 0.05, step="hung", recancel_wait=0),
            ]
    assert outcomes == [StepOutcome.DONE, StepOutcome.FAILED, StepOutcome.LEFT]
    failed = [e for e in logs if e["event"] == "shutdown: task failed"]
    assert [(e["task"], e["error"]) for e in failed] == [("broken", "RuntimeError('boom')")]


# -- the daemon -------------------------------------------------------------------------------


class ScriptedConsumer:
    """Delivers nothing; its get_batch or stop can be made to ignore cancellation."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.stubborn_get_batch = False
        self.stubborn_stop = False
        self.stopped = False
        self.started = asyncio.Event()  # the daemon runs its loops from here on
        self.stuck = asyncio.Event()  # a stubborn get_batch has begun

    async def start(self) -> None:
        self.started.set()

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        if self.stubborn_get_batch:
            self.stuck.set()
            await self.release.ignore_cancellation()
        await asyncio.sleep(0.01)
        return []

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    def set_bindings(self, routing_keys: set[str]) -> None:
        pass

    def is_stalled(self, now: float) -> bool:
        return False

    @property
    def health(self) -> ConsumerHealth:
        return connected_health()

    async def stop(self, grace: float) -> None:
        if self.stubborn_stop:
            await self.release.ignore_cancellation()
        self.stopped = True


@pytest.fixture
def short_recancel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second chance given to what overran. The stubborn part of each test uses all of
    it, so it is short; a step that ends returns at once, whatever the bound."""
    monkeypatch.setattr("mozci_monitor.shutdown.RECANCEL_WAIT", 0.05)


@pytest.fixture
def unblock() -> Iterator[threading.Event]:
    """Frees a store thread a test blocked on purpose."""
    event = threading.Event()
    yield event
    event.set()


async def run_and_stop(daemon: Daemon, consumer: ScriptedConsumer, before_stop: Any = None) -> int:
    task = asyncio.create_task(daemon.run(install_signal_handlers=False))
    async with asyncio.timeout(HANG_GUARD):
        await consumer.started.wait()
        if before_stop is not None:
            await before_stop()
        daemon.request_stop()
        return await task


def make_daemon(tmp_path: Path, consumer: ScriptedConsumer) -> Daemon:
    settings = Settings(
        daemon=DaemonSettings(shutdown_grace=GRACE, batch_wait=0.01),
        store=StoreSettings(path=str(tmp_path / "store.sqlite3")),
    )
    store = SqliteStore(tmp_path / "store.sqlite3")
    return wiring.build_daemon(settings, store=store, consumer=consumer, services=None, api=False)


@pytest.mark.usefixtures("short_recancel")
async def test_shutdown_names_a_worker_that_ignores_cancellation(
    tmp_path: Path, release: Release
) -> None:
    consumer = ScriptedConsumer(release)
    consumer.stubborn_get_batch = True
    daemon = make_daemon(tmp_path, consumer)
    with capture_logs() as logs:
        code = await run_and_stop(daemon, consumer, consumer.stuck.wait)
    assert code == 0
    assert daemon.left_behind == ["consume"]
    left = [e for e in logs if e["event"] == "shutdown: tasks left behind"]
    assert [(e["step"], e["tasks"]) for e in left] == [("workers", ["consume"])]
    assert consumer.stopped  # the steps after the overrun still ran
    assert any(e["event"] == "daemon stopped" for e in logs)


@pytest.mark.usefixtures("short_recancel")
async def test_shutdown_leaves_a_consumer_close_that_hangs(
    tmp_path: Path, release: Release
) -> None:
    consumer = ScriptedConsumer(release)
    consumer.stubborn_stop = True
    daemon = make_daemon(tmp_path, consumer)
    with capture_logs() as logs:
        assert await run_and_stop(daemon, consumer) == 0
    assert daemon.left_behind == ["consumer-stop"]
    left = [e for e in logs if e["event"] == "shutdown: tasks left behind"]
    assert [e["tasks"] for e in left] == [["consumer-stop"]]


@pytest.mark.usefixtures("short_recancel")
async def test_shutdown_does_not_wait_for_a_store_call_that_hangs(
    tmp_path: Path, release: Release, unblock: threading.Event
) -> None:
    consumer = ScriptedConsumer(release)
    daemon = make_daemon(tmp_path, consumer)
    entered = threading.Event()

    def hang() -> None:
        entered.set()
        unblock.wait()

    async def block_the_store_thread() -> None:
        hung = asyncio.ensure_future(daemon.in_store(hang))
        hung.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.to_thread(entered.wait)

    with capture_logs() as logs:
        assert await run_and_stop(daemon, consumer, block_the_store_thread) == 0
    assert daemon.left_behind == ["store thread"]
    assert [e["thread"] for e in logs if "thread is stuck" in e["event"]] == ["store thread"]


async def test_a_clean_shutdown_leaves_nothing_behind(tmp_path: Path, release: Release) -> None:
    consumer = ScriptedConsumer(release)
    daemon = make_daemon(tmp_path, consumer)
    with capture_logs() as logs:
        assert await run_and_stop(daemon, consumer) == 0
    assert daemon.left_behind == []
    assert consumer.stopped
    assert not [e for e in logs if e["event"].startswith("shutdown:")]


# -- the process ------------------------------------------------------------------------------

STUBBORN_DAEMON = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from mozci_monitor.cli import run_daemon_process
    from mozci_monitor.config import DaemonSettings, Settings
    from mozci_monitor.wiring import build_daemon
    from mozci_monitor.logs import configure_logging
    from mozci_monitor.store.sqlite import SqliteStore

    class StubbornConsumer:
        async def start(self):
            pass
        async def get_batch(self, max_items, max_wait):
            while True:  # ignores every cancellation, like a swallowed one
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass
        def ack(self, deliveries):
            pass
        def set_bindings(self, keys):
            pass
        @property
        def health(self):
            from mozci_monitor.ports.pulse import ConsumerHealth
            return ConsumerHealth(True, 0.0, 0, 0, 0, 0, 0, 0, 0, None)

        def is_stalled(self, now):
            return False
        async def stop(self, grace):
            pass

    configure_logging(format="json", level="info")
    settings = Settings(daemon=DaemonSettings(shutdown_grace=0.5))
    store = SqliteStore(Path(sys.argv[1]))
    sys.exit(run_daemon_process(lambda: build_daemon(
        settings, store=store, consumer=StubbornConsumer(), services=None, api=False
    )))
    """
)


async def test_sigterm_ends_the_process_even_when_a_task_ignores_cancellation(
    tmp_path: Path,
) -> None:
    """Without the exit on left-behind tasks, asyncio.run would wait for the stubborn
    task for ever after run() returned, and systemd would have to SIGKILL us."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        STUBBORN_DAEMON,
        str(tmp_path / "store.sqlite3"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(HANG_GUARD):
            while line := (await process.stdout.readline()).decode():
                lines.append(line)
                if "daemon started" in line:
                    process.send_signal(signal.SIGTERM)
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(lines)
    assert code == 0, output
    left = [line for line in lines if "shutdown: tasks left behind" in line]
    assert len(left) == 1 and '"consume"' in left[0], output
    assert "daemon stopped" in output
