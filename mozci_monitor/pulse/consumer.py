"""The asyncio face of the Pulse consumer: batches of deliveries in, acks out.

kombu is blocking, so a `KombuWorker` runs it on its own thread. Messages are acked only
when the asyncio side says their effect is committed (`ack`), so a crash anywhere before
that leaves them with the broker, which redelivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Collection, Iterator, Sequence

import structlog

from mozci_monitor.core.errors import PulseConnectError as PulseConnectError
from mozci_monitor.redact import redact_url

from ._bridge import Settle, SharedState
from ._wakeup import Waker
from ._worker import KombuWorker, describe
from .delivery import ConsumerHealth, Delivery
from .settings import ConsumerSettings, validate_routing_key_pattern

log = structlog.get_logger(__name__)

# Share of the stop grace kept for closing the connection after in-flight work is acked.
_CLOSE_SHARE = 0.25
_CLOSE_RESERVE_MAX = 2.0


class PulseConsumer:
    """Consume a durable Pulse queue bound to task exchanges, with explicit acks.

    Typical use::

        consumer = PulseConsumer(settings)
        await consumer.start()
        consumer.set_bindings({task_group_binding(group_id)})
        while running:
            batch = await consumer.get_batch(100, max_wait=1.0)
            ...  # commit the effects of the batch
            consumer.ack(batch)
        await consumer.stop(grace=10)
    """

    def __init__(
        self, settings: ConsumerSettings, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self._settings = settings
        self._loop = loop
        self._state = SharedState(settings.routing_keys)
        self._waker = Waker()
        self._thread: threading.Thread | None = None
        self._inbox_ready = asyncio.Event()
        self._thread_done = asyncio.Event()
        self._all_acked = asyncio.Event()
        # Handed out and not settled, by identity: hashing a frozen Delivery hashes its
        # body, twice per message, and only the very objects handed out may be settled.
        self._outstanding: dict[int, Delivery] = {}
        self._outstanding_lock = threading.Lock()
        self._stopping = False
        self._log = log.bind(queue=settings.queue_name, url=redact_url(settings.url))

    @property
    def settings(self) -> ConsumerSettings:
        return self._settings

    async def start(self) -> None:
        """Start the consumer thread; return once it consumes, or raise PulseConnectError."""
        if self._thread is not None:
            raise RuntimeError("PulseConsumer.start() called twice")
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        started: asyncio.Future[BaseException | None] = loop.create_future()

        def on_started(error: BaseException | None) -> None:
            def settle() -> None:
                if not started.done():
                    started.set_result(error)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle)

        def run(worker: KombuWorker) -> None:
            try:
                worker.run()
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._thread_done.set)

        self._state.attach_loop(loop, self._inbox_ready.set)
        worker = KombuWorker(self._settings, self._state, self._waker, on_started)
        self._thread = threading.Thread(
            target=run, args=(worker,), name=f"pulse:{self._settings.queue_name}", daemon=True
        )
        self._thread.start()
        try:
            # asyncio.timeout: wait_for can swallow a cancellation on 3.11 (gh-86296).
            async with asyncio.timeout(self._settings.start_timeout):
                error = await asyncio.shield(started)
        except TimeoutError:
            self._abandon()
            raise PulseConnectError(
                f"no connection to {redact_url(self._settings.url)} within "
                f"{self._settings.start_timeout}s: {self._state.health().last_error}"
            ) from None
        if error is not None:
            self._abandon()
            raise PulseConnectError(
                f"cannot consume {self._settings.queue_name} at "
                f"{redact_url(self._settings.url)}: "
                f"{self._state.health().last_error or describe(error, self._settings.url)}"
            ) from error
        self._log.info("pulse.started")

    def _abandon(self) -> None:
        self._stopping = True
        self._state.request_close(time.monotonic())
        self._waker.wake()

    async def get_batch(self, max_items: int, max_wait: float) -> list[Delivery]:
        """Wait up to `max_wait` s for a delivery, then take up to `max_items` of those ready.

        Returns [] on timeout and once `stop()` has begun.
        """
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        if self._stopping:
            await asyncio.sleep(max_wait)  # no busy loop for a caller that polls during stop
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not self._stopping:
            batch = self._take(max_items)
            if batch:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._inbox_ready.clear()
            # The thread appends, then schedules the event on this loop: no lost wake-up.
            if not self._state.inbox:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._inbox_ready.wait()
        return []

    def _take(self, max_items: int) -> list[Delivery]:
        inbox = self._state.inbox
        batch: list[Delivery] = []
        generation = self._state.generation
        while len(batch) < max_items:
            try:
                delivery = inbox.popleft()
            except IndexError:
                break
            # From a channel that is gone: it could never be acked, and the broker is
            # delivering it again on the new channel. Handling it would be wasted work.
            if delivery._generation == generation:
                batch.append(delivery)
        if batch:
            with self._outstanding_lock:
                self._outstanding.update((id(delivery), delivery) for delivery in batch)
                self._all_acked.clear()
        return batch

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Ack deliveries whose effects are committed. Thread-safe; returns at once.

        Acks for deliveries this consumer did not hand out, or already settled, are ignored
        (a double ack would make the broker close the channel).
        """
        self._settle(deliveries, Settle.ACK)

    def reject(self, deliveries: Sequence[Delivery], *, requeue: bool = True) -> None:
        """Hand deliveries back unprocessed. Thread-safe; returns at once.

        With requeue the broker delivers them again (mind a message that always fails);
        without, it discards them. An unsettled delivery keeps a prefetch slot until the
        connection closes, so every delivery must be acked or rejected.
        """
        self._settle(deliveries, Settle.REQUEUE if requeue else Settle.DROP)

    @contextlib.contextmanager
    def processing(self, deliveries: Sequence[Delivery]) -> Iterator[Sequence[Delivery]]:
        """Ack when the block exits cleanly; reject with requeue when it raises."""
        try:
            yield deliveries
        except BaseException:
            self.reject(deliveries, requeue=True)
            raise
        self.ack(deliveries)

    def _settle(self, deliveries: Sequence[Delivery], how: Settle) -> None:
        with self._outstanding_lock:
            outstanding = self._outstanding
            fresh = [d for d in deliveries if outstanding.get(id(d)) is d]
            for delivery in fresh:
                del outstanding[id(delivery)]
            drained = not self._outstanding
        if fresh:
            self._state.request_settle(fresh, how)
            self._waker.wake()
        # Only stop() waits for this; see there for why reading _stopping here is safe.
        if drained and self._stopping and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._all_acked.set)

    def set_bindings(self, routing_keys: Collection[str]) -> None:
        """Bind exactly these routing-key patterns (on every exchange). Thread-safe.

        The thread binds new keys and unbinds removed ones, and applies them again after a
        reconnect or when the queue had to be declared again.
        """
        keys = frozenset(routing_keys)
        for key in keys:
            validate_routing_key_pattern(key)
        self._state.set_bindings(keys)
        self._waker.wake()

    @property
    def health(self) -> ConsumerHealth:
        return self._state.health()

    def is_stalled(self, now: float) -> bool:
        """True if the consumer loop has not passed with a live link for 2 heartbeats.

        Either the thread is stuck in a kombu call, or the broker keeps the connection open
        without answering (frozen), or reconnects keep timing out. `now` is time.monotonic().
        A consumer that is not running is not stalled.
        """
        if self._thread is None or not self._thread.is_alive() or self._stopping:
            return False
        heartbeat = self._state.heartbeat or self._settings.heartbeat or 15.0
        return now - self._state.health().last_loop_monotonic > 2 * heartbeat

    async def stop(self, grace: float) -> None:
        """Stop consuming, let handed-out deliveries be acked, close; at most `grace` s.

        Deliveries not yet handed out are dropped (the broker redelivers them). If the kombu
        thread is stuck, it is left behind (a daemon thread) once `grace` runs out.
        """
        if self._thread is None:
            return
        deadline = time.monotonic() + max(grace, 0.0)
        self._stopping = True  # before looking at _outstanding: _settle reads it after
        self._inbox_ready.set()  # release a get_batch waiting right now
        self._state.inbox.clear()
        self._state.request_stop()
        self._waker.wake()
        close_reserve = min(grace * _CLOSE_SHARE, _CLOSE_RESERVE_MAX)
        with self._outstanding_lock:
            if not self._outstanding:
                self._all_acked.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - close_reserve - time.monotonic())):
                await self._all_acked.wait()
        with self._outstanding_lock:
            unacked = len(self._outstanding)
        if unacked:
            self._log.warning("pulse.stop_with_unacked", unacked=unacked)
        self._state.request_close(deadline)
        self._waker.wake()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._thread_done.wait()
        if self._thread_done.is_set():
            # The thread signals just before it returns: give it that last moment.
            await asyncio.to_thread(self._thread.join, max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._log.error("pulse.stop_timed_out", grace=grace)
            return
        self._waker.close()
        self._log.info("pulse.stopped", **_counters(self._state.health()))


def _counters(health: ConsumerHealth) -> dict[str, int]:
    return {
        "delivered": health.delivered,
        "acked": health.acked,
        "reconnects": health.reconnects,
        "queue_recreations": health.queue_recreations,
    }
