"""Pulse (RabbitMQ) consumer edge: Taskcluster task exchanges in, explicit acks out.

    settings = ConsumerSettings(
        url=config.pulse_url(settings.pulse),  # amqps://user:***@pulse.mozilla.org:5671/
        queue_name=f"queue/{user}/mozci-monitor",  # durable, survives restarts
        declare_exchanges=False,  # Taskcluster owns the exchanges on real Pulse
    )
    consumer = PulseConsumer(settings)
    await consumer.start()  # raises PulseConnectError (bad credentials, timeout...)
    consumer.set_bindings({task_group_binding(group) for group in watched})
    batch = await consumer.get_batch(100, max_wait=1.0)
    ...  # commit the batch's effects, then:
    consumer.ack(batch)  # or consumer.reject(batch) / `with consumer.processing(batch):`
    await consumer.stop(grace=10)

Delivery is at least once: unacked messages come back (redelivered=True) after a
reconnect or restart, and `health.generation` bumps whenever that may have happened
(reconnect, queue deleted and declared again), which is the daemon's cue to reconcile.
`is_stalled(now)` is true when the consumer loop has not passed with a live broker link
for 2 heartbeats: its thread is stuck in a kombu call, or the broker holds the connection
open without answering. A broker that refuses connections shows as `connected=False`
without being stalled.
"""

from mozci_monitor.redact import redact_url

from .consumer import PulseConnectError, PulseConsumer
from .delivery import ConsumerHealth, Delivery
from .settings import (
    LOCAL_URL,
    PULSE_HOST,
    PULSE_PORT,
    PULSE_TLS,
    PULSE_VHOST,
    TASK_EXCHANGE_PREFIX,
    TASK_EXCHANGES,
    ConsumerSettings,
    SettingsError,
    pulse_port,
    task_group_binding,
    validate_routing_key_pattern,
)

__all__ = [
    "LOCAL_URL",
    "PULSE_HOST",
    "PULSE_PORT",
    "PULSE_TLS",
    "PULSE_VHOST",
    "TASK_EXCHANGES",
    "TASK_EXCHANGE_PREFIX",
    "ConsumerHealth",
    "ConsumerSettings",
    "Delivery",
    "PulseConnectError",
    "PulseConsumer",
    "SettingsError",
    "pulse_port",
    "redact_url",
    "task_group_binding",
    "validate_routing_key_pattern",
]
