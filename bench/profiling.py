"""Sampling profiles of the benchmark process with py-spy (every thread, GIL or not).

The daemon's work is spread over threads (event loop, SQLite store thread, kombu thread),
which is why py-spy (samples all threads from outside) is used rather than an in-process
profiler that only sees the thread it started on. `summarize` turns py-spy's raw
(collapsed-stack) output into per-thread shares and the hottest functions.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


@contextlib.contextmanager
def py_spy(out: Path | None, *, rate: int = 250) -> Iterator[None]:
    """Sample this process while the block runs; raw collapsed stacks into `out`."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy not installed (pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            *(exe, "record", "--pid", str(os.getpid()), "--threads", "-r", str(rate)),
            *("-f", "raw", "-o", str(out), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it attach before the measured work starts
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text.strip())
    if not match:
        return text.strip(), ""
    return match["func"], match["file"]


def summarize(
    raw: Path, *, seconds: float, rate: int = 250, top: int = 20, package: str = "mozci_monitor"
) -> dict[str, Any]:
    """Per-thread busy share of the wall time, and per thread the top functions.

    py-spy leaves idle samples out (a thread blocked in select, a lock or a sleep), so a
    thread's sample count over `seconds * rate` is the share of the time it was running.
    """
    threads: Counter[str] = Counter()
    self_time: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = re.sub(r"\(\d+\)", "", frames[0]).removeprefix("thread").strip(" :")
        thread = re.sub(r"_\d+$", "", thread)
        threads[thread] += count
        leaf_func, leaf_file = _frame(frames[-1])
        if leaf_func in _IDLE_LEAVES:
            continue  # blocked waiting for the next event: py-spy still counts it
        if leaf_func == "_time_engine.<locals>._TimedConnection.execute":
            # Native code (SQLite) shows under its Python caller: the bench's timing shim.
            leaf_func, leaf_file = "sqlite3 execute (native)", ""
        self_time.setdefault(thread, Counter())[f"{leaf_func} ({_short(leaf_file)})"] += count
        seen: set[str] = set()
        for frame in frames[1:]:
            func, file = _frame(frame)
            if package in file or "sqlite3" in file or "kombu" in file or "structlog" in file:
                key = f"{func} ({_short(file)})"
                if key not in seen:
                    seen.add(key)
                    inclusive.setdefault(thread, Counter())[key] += count
    possible = max(seconds * rate, 1.0)
    report: dict[str, Any] = {"seconds": round(seconds, 3), "threads": {}}
    for thread, samples in threads.most_common():
        report["threads"][thread] = {
            "busy_share_of_wall": round(samples / possible, 3),
            "top_self": [
                (name, round(n / samples, 3)) for name, n in self_time[thread].most_common(top)
            ],
            "top_inclusive": [
                (name, round(n / samples, 3))
                for name, n in inclusive.get(thread, Counter()).most_common(top)
            ],
        }
    return report


_IDLE_LEAVES = frozenset({"EpollSelector.select", "wait_readable", "select", "poll"})


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def format_report(report: dict[str, Any], *, lines: int = 12) -> str:
    out = [f"profile over {report['seconds']} s (share of each thread's busy samples)"]
    for thread, data in report["threads"].items():
        out.append(f"  thread {thread}: busy {data['busy_share_of_wall']:.0%} of wall time")
        out.append("    inclusive:")
        out += [f"      {share:6.1%}  {name}" for name, share in data["top_inclusive"][:lines]]
        out.append("    self:")
        out += [f"      {share:6.1%}  {name}" for name, share in data["top_self"][:lines]]
    return "\n".join(out)
