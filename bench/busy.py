"""A second process keeping one core busy, for figures "when the machine is busy"."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event as EventType


def _spin(stop: EventType) -> None:
    while not stop.is_set():
        sum(range(10_000))  # pure CPU, checks the stop flag every ~0.1 ms


@contextmanager
def one_core_busy() -> Iterator[None]:
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    spinner = spawn.Process(target=_spin, args=(stop,), name="busy-core", daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join(10)
        if spinner.is_alive():
            spinner.terminate()
            spinner.join(5)
