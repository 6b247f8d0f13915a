"""Values the consumer hands to the asyncio side."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message from the queue, to be acked through `PulseConsumer.ack` once handled.

    `_tag` and `_generation` identify the delivery on the channel it came from; an ack for
    a delivery from an older channel is dropped (the broker redelivers that message).
    """

    exchange: str
    routing_key: str
    body: bytes
    redelivered: bool
    _tag: int | str = field(default=0, repr=False)  # str on virtual transports (memory://)
    _generation: int = field(default=-1, repr=False)


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """A snapshot of the consumer thread's state, for the daemon's health checks."""

    connected: bool
    last_loop_monotonic: float  # time.monotonic() of the last consumer-loop pass with a live link
    reconnects: int  # successful connections after the first one
    queue_recreations: int  # times the queue had vanished (deleted) and was declared again
    delivered: int  # messages received from the broker
    acked: int  # acks sent to the broker
    rejected: int  # rejects sent to the broker (requeued or dropped)
    stale_acks: int  # acks/rejects dropped: their delivery came from an older channel
    generation: int  # channel generation; bumps on every reconnect or queue recreation
    last_error: str | None  # last connection/channel error, already redacted
