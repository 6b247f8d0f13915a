"""Pulse (RabbitMQ) consumer edge: Taskcluster task exchanges in, explicit acks out."""

from .consumer import PulseConnectError, PulseConsumer
from .delivery import ConsumerHealth, Delivery
from .settings import (
    LOCAL_URL,
    PULSE_HOST,
    PULSE_PORT,
    PULSE_VHOST,
    TASK_EXCHANGE_PREFIX,
    TASK_EXCHANGES,
    ConsumerSettings,
    SettingsError,
    pulse_url,
    redact_url,
    task_group_binding,
    validate_routing_key_pattern,
)

__all__ = [
    "LOCAL_URL",
    "PULSE_HOST",
    "PULSE_PORT",
    "PULSE_VHOST",
    "TASK_EXCHANGES",
    "TASK_EXCHANGE_PREFIX",
    "ConsumerHealth",
    "ConsumerSettings",
    "Delivery",
    "PulseConnectError",
    "PulseConsumer",
    "SettingsError",
    "pulse_url",
    "redact_url",
    "task_group_binding",
    "validate_routing_key_pattern",
]
