"""The README's local two-process walkthrough, run as written: `mozci-monitor sim` in one
process publishing on a real RabbitMQ, `mozci-monitor run` in another, a watch submitted
with the command the simulator suggests, and `mozci-monitor wait` until it ends.

The daemon's periodic REST catch-up is 300 s away, beyond the wait's limit: the watch can
only end in time if the daemon hears the simulator's Pulse messages.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest
from broker import RabbitMQ, unique_queue_name

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
WAIT_LIMIT = 150  # seconds; the reconcile timer (300 s) would come later


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    environment.pop("MOZCI_MONITOR_CONFIG", None)
    environment.pop("MOZCI_MONITOR_API_URL", None)
    return environment


def _mozci_monitor(*args: str) -> list[str]:
    # The console script, run from this checkout (PYTHONPATH), as `mozci-monitor ARGS`.
    return [
        sys.executable,
        "-c",
        "import sys; from mozci_monitor.cli import main; sys.exit(main())",
        *args,
    ]


def _readme_walkthrough() -> list[list[str]]:
    """The README's four commands of the two-process walkthrough, as words (no comments)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Against the simulator, in two processes", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines()]
    return [words for words in commands if words]


def _as_written(words: list[str], config: Path, **replace: str) -> list[str]:
    """A README command's arguments (after `mozci-monitor`), run from this checkout."""
    assert words[0] == "mozci-monitor", words
    swapped = {"sim.toml": str(config), **replace}
    return [swapped.get(word, word) for word in words[1:]]


class _Lines:
    """A process's stdout, line by line, readable with a bounded wait."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: Queue[str | None] = Queue()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line)
        self._queue.put(None)

    def until(self, prefix: str, timeout: float) -> str:
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except Empty:
                raise AssertionError(
                    f"no {prefix!r} line within {timeout} s: {self.seen}"
                ) from None
            if line is None:
                raise AssertionError(f"process ended before {prefix!r}: {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()


def _until_ready(api_port: int, daemon: subprocess.Popen[str], log: Path) -> None:
    """Poll the daemon's /readyz (consuming, store writable) for up to START_TIMEOUT s."""
    url = f"http://127.0.0.1:{api_port}/readyz"
    for _ in range(int(START_TIMEOUT / 0.2)):
        assert daemon.poll() is None, log.read_text()[-4000:]
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass  # not listening yet, or 503 while it connects
        time.sleep(0.2)
    raise AssertionError(f"the daemon was not ready within {START_TIMEOUT} s: {log.read_text()}")


def _applied_messages(api_port: int) -> float:
    """Pulse messages the daemon applied to its requests, from its /metrics."""
    url = f"http://127.0.0.1:{api_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(
        r'^mozci_monitor_messages_total\{[^}]*outcome="applied"[^}]*\} (\S+)$', re.M
    )
    return sum(float(value) for value in pattern.findall(text))


@pytest.fixture
def queue(rabbitmq: RabbitMQ) -> Iterator[str]:
    name = unique_queue_name("walkthrough")
    yield name
    # The daemon may not have got as far as declaring it.
    with contextlib.suppress(Exception):
        rabbitmq.delete_queue(name)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in reversed(started):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.rabbitmq
def test_two_process_walkthrough(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    config = tmp_path / "sim.toml"
    sim_words, run_words, watch_words, wait_words = _readme_walkthrough()
    assert sim_words[:2] == ["mozci-monitor", "sim"], sim_words
    assert run_words[-1] == "run" and watch_words[1:3] == ["watch", "…"], (run_words, watch_words)
    assert wait_words[-2:] == ["wait", "<id>"], wait_words
    api_port = _free_port()
    # A seed of its own: task group ids follow from the seed, and the broker may be shared.
    seed = random.SystemRandom().randrange(1, 2**31)
    sim = subprocess.Popen(
        _mozci_monitor(
            *_as_written(sim_words, config),
            # Beyond the README, only what keeps this test apart from others on the machine:
            # its own world, broker, API port and queue.
            "--seed",
            str(seed),
            "--broker-url",
            rabbitmq.url,
            "--daemon-api-port",
            str(api_port),
            "--daemon-queue",
            queue,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_environment(),
        cwd=tmp_path,
    )
    processes.append(sim)
    sim_lines = _Lines(sim)
    assert sim_lines.until("Daemon settings:", START_TIMEOUT) == str(config)
    suggested = sim_lines.until("Try:", START_TIMEOUT)

    daemon_log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        _mozci_monitor(*_as_written(run_words, config)),
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_environment(),
        cwd=tmp_path,
    )
    processes.append(daemon)

    # As a person would: the daemon answers before anything is submitted to it.
    _until_ready(api_port, daemon, tmp_path / "daemon.log")

    words = shlex.split(suggested)
    assert words[:2] == ["mozci-monitor", "watch"], suggested
    # The printed command where the README has "…", then the rest of the README's line.
    watch = subprocess.run(
        _mozci_monitor(*words[1:], *_as_written(watch_words, config)[2:]),
        capture_output=True,
        text=True,
        env=_environment(),
        cwd=tmp_path,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert watch.returncode == 0, watch.stderr
    campaign_id = watch.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"c-[0-9a-f]+", campaign_id), watch.stdout

    waited = subprocess.run(
        _mozci_monitor(
            *_as_written(wait_words, config, **{"<id>": campaign_id}),
            "--interval",
            "0.5",
            "--give-up-after",
            str(WAIT_LIMIT),
        ),
        capture_output=True,
        text=True,
        env=_environment(),
        cwd=tmp_path,
        timeout=WAIT_LIMIT + 30,
        check=False,
    )
    log = (tmp_path / "daemon.log").read_text()
    # 0: finished; 1: ended otherwise (a run may fail in a world with intermittents).
    assert waited.returncode in (0, 1), f"{waited.stderr}\n--- daemon:\n{log[-4000:]}"
    assert "giving up" not in waited.stderr, f"{waited.stderr}\n--- daemon:\n{log[-4000:]}"
    assert daemon.poll() is None, log[-4000:]
    assert _applied_messages(api_port) > 0, log[-4000:]

    with sqlite3.connect(tmp_path / "sim.sqlite3") as connection:
        campaign = connection.execute(
            "SELECT state FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()
        requests = connection.execute(
            "SELECT state, task_ids FROM requests WHERE campaign_id = ?", (campaign_id,)
        ).fetchall()
    expected_exit = 0 if campaign == ("finished",) else 1
    assert campaign is not None and campaign[0] in {"finished", "failed", "gave-up"}, campaign
    assert waited.returncode == expected_exit
    assert [state for state, _ in requests] in (["completed"], ["failed"]), requests
    assert requests[0][1] != "[]"  # the tasks the daemon heard of
