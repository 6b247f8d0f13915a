"""What the Pulse consumer connects to and binds: settings, URLs and routing keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Pulse's connection conventions (mozillapulse's PulseConfiguration), read in one place.
from mozci_monitor.config import PULSE_HOST as PULSE_HOST
from mozci_monitor.config import PULSE_PORT as PULSE_PORT
from mozci_monitor.config import PULSE_TLS as PULSE_TLS
from mozci_monitor.config import PULSE_VHOST as PULSE_VHOST
from mozci_monitor.config import pulse_port as pulse_port
from mozci_monitor.core.errors import PulseSettingsError
from mozci_monitor.core.model import EXCHANGE_PREFIX
from mozci_monitor.core.model import TASK_EXCHANGES as TASK_EXCHANGES
from mozci_monitor.redact import redact_url

# The six queue exchanges are the core's vocabulary; the consumer binds to them.
TASK_EXCHANGE_PREFIX = EXCHANGE_PREFIX


LOCAL_URL = "amqp://guest:guest@localhost:5672//"

# Pulse only lets user <user> create queues named queue/<user>/<anything>.
_QUEUE_NAME = re.compile(r"^queue/[^/\s]+/\S+$")
_MAX_QUEUE_NAME_BYTES = 255  # AMQP shortstr
_SLUGID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_ROUTING_KEY_WORD = re.compile(r"^[^.\s]+$")


# The consumer's historical name for the branch of the one error tree.
SettingsError = PulseSettingsError


def task_group_binding(task_group_id: str) -> str:
    """Routing-key pattern for every task exchange message of one task group.

    Task routing keys are primary.<taskId>.<runId>.<workerGroup>.<workerId>.<provisionerId>
    .<workerType>.<schedulerId>.<taskGroupId>.<reserved>.
    """
    if not _SLUGID.match(task_group_id):
        raise ValueError(f"not a task group id (slugid): {task_group_id!r}")
    return f"primary.*.*.*.*.*.*.*.{task_group_id}.#"


def validate_routing_key_pattern(pattern: str) -> None:
    """Reject patterns that a topic exchange would take but that are surely mistakes."""
    if not pattern or len(pattern.encode()) > _MAX_QUEUE_NAME_BYTES:
        raise ValueError(f"routing key pattern must be 1-255 bytes: {pattern!r}")
    if not all(_ROUTING_KEY_WORD.match(word) for word in pattern.split(".")):
        raise ValueError(f"routing key pattern has an empty word or whitespace: {pattern!r}")


@dataclass(frozen=True, kw_only=True)
class ConsumerSettings:
    """How to reach the broker and what to consume.

    Defaults suit a local RabbitMQ; for real Pulse use `mozci_monitor.config.pulse_url(...)` and
    `declare_exchanges=False` (Taskcluster owns the exchanges: declare them passively).
    """

    url: str = LOCAL_URL
    queue_name: str
    exchanges: tuple[str, ...] = TASK_EXCHANGES
    # Initial bindings (on every exchange), and what the durable queue is taken to be bound
    # to already: set_bindings() before start replaces the former, and the keys it drops
    # are unbound, so a restart can shed the bindings of requests that ended meanwhile.
    routing_keys: tuple[str, ...] = ()
    prefetch: int = 1000  # >= 2 x the daemon's batch_max: delivery overlaps the commit
    heartbeat: float = 15.0  # AMQP heartbeats on; kombu's default is off
    declare_exchanges: bool = True
    queue_max_length: int | None = None  # x-max-length (the broker drops the oldest beyond it)
    message_ttl_ms: int | None = None  # x-message-ttl
    connect_timeout: float = 10.0
    start_timeout: float = 30.0  # PulseConsumer.start() gives up after this
    reconnect_initial_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    tls_ca_file: str | None = None  # extra CA for amqps (tests with a private CA)

    def __post_init__(self) -> None:
        if not _QUEUE_NAME.match(self.queue_name):
            raise SettingsError(
                f"queue name must look like queue/<pulse user>/<name>: {self.queue_name!r}"
            )
        if len(self.queue_name.encode()) > _MAX_QUEUE_NAME_BYTES:
            raise SettingsError("queue name longer than 255 bytes")
        scheme = urlsplit(self.url).scheme
        if scheme not in {"amqp", "amqps", "pyamqp", "memory"}:
            raise SettingsError(f"unsupported broker URL scheme {scheme!r}")
        if not self.exchanges:
            raise SettingsError("at least one exchange is needed")
        for key in self.routing_keys:
            validate_routing_key_pattern(key)
        if not 1 <= self.prefetch <= 65535:
            raise SettingsError("prefetch must be in 1..65535")
        if self.heartbeat < 0:
            raise SettingsError("heartbeat must be >= 0 (0 disables heartbeats)")
        for name in ("connect_timeout", "start_timeout", "reconnect_initial_delay"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be > 0")
        if self.reconnect_max_delay < self.reconnect_initial_delay:
            raise SettingsError("reconnect_max_delay must be >= reconnect_initial_delay")
        if self.queue_max_length is not None and self.queue_max_length < 1:
            raise SettingsError("queue_max_length must be >= 1")
        if self.message_ttl_ms is not None and self.message_ttl_ms < 1:
            raise SettingsError("message_ttl_ms must be >= 1")

    @property
    def uses_tls(self) -> bool:
        return urlsplit(self.url).scheme == "amqps"

    @property
    def queue_arguments(self) -> dict[str, int]:
        arguments: dict[str, int] = {}
        if self.queue_max_length is not None:
            arguments["x-max-length"] = self.queue_max_length
        if self.message_ttl_ms is not None:
            arguments["x-message-ttl"] = self.message_ttl_ms
        return arguments

    def __repr__(self) -> str:
        # Dataclass repr would print the URL with its password.
        return (
            f"ConsumerSettings(queue_name={self.queue_name!r}, url={redact_url(self.url)!r}, "
            f"exchanges={self.exchanges!r}, prefetch={self.prefetch}, heartbeat={self.heartbeat})"
        )
