"""State shared by the kombu thread and the asyncio side, behind one lock.

The kombu thread owns the connection and channel; every other thread only leaves requests
here (acks, bindings, stop) and wakes it. Deliveries travel the other way: the thread adds
them to `inbox` and signals the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from enum import Enum

from .delivery import ConsumerHealth, Delivery


class Settle(Enum):
    """What to tell the broker about a handled delivery."""

    ACK = "ack"
    REQUEUE = "requeue"  # basic.reject, requeue: the broker delivers it again
    DROP = "drop"  # basic.reject, no requeue: the broker discards (or dead-letters) it


class SharedState:
    def __init__(self, routing_keys: Collection[str]) -> None:
        self._lock = threading.Lock()
        self.inbox: deque[Delivery] = deque()
        self._settles: deque[tuple[Delivery, Settle]] = deque()
        self._bindings: frozenset[str] = frozenset(routing_keys)
        self._bindings_version = 0
        self._stop_requested = False
        self._close_deadline: float | None = None
        self._notify_inbox: Callable[[], None] = lambda: None
        self._connected = False
        self._last_loop = time.monotonic()
        self._reconnects = 0
        self._queue_recreations = 0
        self._delivered = 0
        self._acked = 0
        self._rejected = 0
        self._stale_acks = 0
        self._generation = 0
        self._last_error: str | None = None
        self._heartbeat = 0.0

    # -- asyncio side -> thread ----------------------------------------------------------

    def request_settle(self, deliveries: Iterable[Delivery], how: Settle) -> None:
        self._settles.extend((d, how) for d in deliveries)  # atomic: no lock needed

    def take_settles(self) -> list[tuple[Delivery, Settle]]:
        taken: list[tuple[Delivery, Settle]] = []
        while True:
            try:
                taken.append(self._settles.popleft())
            except IndexError:
                return taken

    def set_bindings(self, routing_keys: Collection[str]) -> None:
        with self._lock:
            self._bindings = frozenset(routing_keys)
            self._bindings_version += 1

    def bindings(self) -> tuple[frozenset[str], int]:
        with self._lock:
            return self._bindings, self._bindings_version

    def request_stop(self) -> None:
        with self._lock:
            self._stop_requested = True

    def request_close(self, deadline: float) -> None:
        """Close the connection now; give up on a clean close at `deadline` (monotonic)."""
        with self._lock:
            self._stop_requested = True
            self._close_deadline = deadline

    @property
    def stop_requested(self) -> bool:
        with self._lock:
            return self._stop_requested

    @property
    def close_deadline(self) -> float | None:
        with self._lock:
            return self._close_deadline

    # -- thread -> asyncio side ----------------------------------------------------------

    def attach_loop(self, loop: asyncio.AbstractEventLoop, on_inbox: Callable[[], None]) -> None:
        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening
                loop.call_soon_threadsafe(on_inbox)

        self._notify_inbox = notify

    def deliver(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        self.inbox.extend(deliveries)
        with self._lock:
            self._delivered += len(deliveries)
        self._notify_inbox()

    # -- health --------------------------------------------------------------------------

    def touch(self, now: float) -> None:
        with self._lock:
            self._last_loop = now

    def set_connected(self, connected: bool, *, generation: int | None = None) -> None:
        with self._lock:
            self._connected = connected
            if generation is not None:
                self._generation = generation

    def count_reconnect(self) -> None:
        with self._lock:
            self._reconnects += 1

    def count_queue_recreation(self) -> None:
        with self._lock:
            self._queue_recreations += 1

    def count_settled(self, acked: int, rejected: int, stale: int) -> None:
        with self._lock:
            self._acked += acked
            self._rejected += rejected
            self._stale_acks += stale

    def set_error(self, error: str | None) -> None:
        with self._lock:
            self._last_error = error

    def set_heartbeat(self, seconds: float) -> None:
        with self._lock:
            self._heartbeat = seconds

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    @property
    def heartbeat(self) -> float:
        with self._lock:
            return self._heartbeat

    def health(self) -> ConsumerHealth:
        with self._lock:
            return ConsumerHealth(
                connected=self._connected,
                last_loop_monotonic=self._last_loop,
                reconnects=self._reconnects,
                queue_recreations=self._queue_recreations,
                delivered=self._delivered,
                acked=self._acked,
                rejected=self._rejected,
                stale_acks=self._stale_acks,
                generation=self._generation,
                last_error=self._last_error,
            )
