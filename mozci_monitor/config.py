"""Settings: a TOML file validated against typed sections, secrets from env or a private file.

Every error names the offending key (`pulse.prefetch: expected an integer, got "many"`), so
`mozci-monitor check-config` can tell an operator exactly what to fix.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from mozillapulse.config import PulseConfiguration

from mozci_monitor.core.errors import ConfigError as ConfigError
from mozci_monitor.core.kinds import DEFAULT_TASKS_PER_REQUEST

DEFAULT_LOCAL_URL = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass(frozen=True)
class PulseSettings:
    url: str = DEFAULT_LOCAL_URL
    user: str = ""
    password_env: str = "PULSE_PASSWORD"
    password_file: str = ""
    queue: str = "queue/mozci-monitor/requests"
    # At least twice daemon.batch_max: the broker keeps delivering the next batch while one
    # commits (with 200, batches never reached batch_max and the pipeline stalled on each
    # commit; bench/README.md, 11 % less CPU per message).
    prefetch: int = 1000
    heartbeat: float = 15.0
    declare_exchanges: bool = True
    reconnect_max_delay: float = 30.0


@dataclass(frozen=True)
class StoreSettings:
    backend: str = "sqlite"  # sqlite | postgres
    path: str = "mozci-monitor.sqlite3"  # sqlite
    dsn: str = ""  # postgres: libpq DSN or URL, password from $PGPASSWORD / PGPASSFILE
    instance: str = ""  # name in outbox claims ("": host name; on postgres <hostname>-<pid>)
    lease_seconds: float = 300.0  # how long a claimed action stays this instance's
    migrate_on_start: bool = True  # false: refuse an old schema (run `mozci-monitor migrate`)


@dataclass(frozen=True)
class RetentionSettings:
    """What a long-running daemon forgets, so that its store stays bounded."""

    rejected_days: float = 7.0  # rejected messages older than this are deleted
    rejected_max_rows: int = 10_000  # and only the newest this many are kept
    finished_task_days: float = 14.0  # task rows of groups no longer watched, untouched this long
    batch: int = 500  # rows per delete: the writer is held only briefly
    interval: float = 3600.0  # seconds between passes of the daemon (0: never)


@dataclass(frozen=True)
class DaemonSettings:
    batch_max: int = 500
    batch_wait: float = 0.2
    bindings_refresh: float = 1.0
    shutdown_grace: float = 10.0
    stall_timeout: float = 0.0  # 0: twice the Pulse heartbeat
    store_retry_max: float = 30.0
    reconcile_interval: float = 300.0  # seconds between REST catch-ups of watched groups


@dataclass(frozen=True)
class SourcesSettings:
    taskcluster_root_url: str = "https://firefox-ci-tc.services.mozilla.com"
    treeherder_url: str = "https://treeherder.mozilla.org"
    hg_url: str = "https://hg.mozilla.org"
    taskcluster_rate: int = 20  # requests per second
    treeherder_rate: int = 5
    hg_rate: int = 5
    max_concurrency: int = 8


@dataclass(frozen=True)
class ActionsSettings:
    dry_run: bool = False  # decide and log every action, perform none
    max_per_request: int = DEFAULT_TASKS_PER_REQUEST  # tasks; the budgets count tasks
    max_per_campaign: int = 0  # tasks; 0: no campaign-wide limit
    max_per_repo_day: int = 200  # tasks per repository per UTC day; 0: no daily limit
    max_attempts: int = 8
    # A remedy whose action task completed but whose runs did not appear within this many
    # seconds failed (it is retried once by another route, or its request gives up).
    run_appear_timeout: float = 3600.0
    # Every open request is resolved with a reason this many seconds after it was opened.
    request_timeout: float = 172800.0


@dataclass(frozen=True)
class CapacitySettings:
    """How much of Firefox CI's machines the monitor may use (`core.capacity`)."""

    # Tasks per UTC day, per worker pool ("provisioner/worker-type") or platform.
    daily_quota: dict[str, int] = field(default_factory=dict)
    max_pending: int = 0  # a pool with this many pending tasks gets nothing more (0: no limit)
    excluded_pools: list[str] = field(default_factory=list)  # scarce hardware, never used
    # An action deferred this long (seconds since it was decided) ends its request.
    max_deferral: float = 21600.0
    pending_refresh: float = 60.0  # seconds a pool's pending count is reused


@dataclass(frozen=True)
class ApiSettings:
    enabled: bool = True  # serve the HTTP API, status page and /metrics
    host: str = "127.0.0.1"  # loopback; any other address needs a token
    port: int = 8787
    token_env: str = "MOZCI_MONITOR_API_TOKEN"  # bearer token for submit/cancel
    token_file: str = ""  # or a file holding it (must not be readable by others)
    max_body_bytes: int = 65536


@dataclass(frozen=True)
class LogSettings:
    format: str = "auto"  # auto | json | console
    level: str = "info"


@dataclass(frozen=True)
class Settings:
    pulse: PulseSettings = field(default_factory=PulseSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
    actions: ActionsSettings = field(default_factory=ActionsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    capacity: CapacitySettings = field(default_factory=CapacitySettings)
    # Validated by notify.build_sinks when the daemon starts (and by check-config).
    notify: dict[str, Any] = field(default_factory=lambda: {"sinks": ["log"]})


_CHOICES = {
    ("store", "backend"): {"sqlite", "postgres"},
    ("log", "format"): {"auto", "json", "console"},
    ("log", "level"): {"debug", "info", "warning", "error"},
}
_MAXIMUM = {
    ("pulse", "prefetch"): 65535,  # AMQP's prefetch count is a 16-bit field
    ("api", "port"): 65535,
    ("api", "max_body_bytes"): 16 * 1024 * 1024,
}
_POSITIVE = {
    ("pulse", "prefetch"),
    ("pulse", "heartbeat"),
    ("daemon", "batch_max"),
    ("sources", "taskcluster_rate"),
    ("sources", "treeherder_rate"),
    ("sources", "hg_rate"),
    ("sources", "max_concurrency"),
    ("actions", "max_attempts"),
    ("actions", "run_appear_timeout"),
    ("actions", "request_timeout"),
    ("store", "lease_seconds"),
    ("api", "max_body_bytes"),
    ("retention", "rejected_max_rows"),
    ("retention", "batch"),
    ("capacity", "max_deferral"),
    ("capacity", "pending_refresh"),
}


CONFIG_ENV = "MOZCI_MONITOR_CONFIG"
CONFIG_FILE_NAME = "mozci-monitor.toml"


def config_search_path(
    *, cwd: Path | None = None, home: Path | None = None, etc: Path = Path("/etc")
) -> tuple[Path, ...]:
    """Where the daemon and the CLI look for settings when none is named, in order."""
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    return (
        cwd / CONFIG_FILE_NAME,
        home / ".config" / "mozci-monitor" / "config.toml",
        etc / "mozci-monitor" / CONFIG_FILE_NAME,
    )


def find_config(
    explicit: str | None,
    *,
    environ: typing.Mapping[str, str] | None = None,
    search_path: typing.Sequence[Path] | None = None,
) -> Path | None:
    """The settings file to use: `--config`, else `$MOZCI_MONITOR_CONFIG`, else the first file
    of the search path that exists; None when there is none (the built-in defaults apply).

    A file named explicitly (option or environment) is returned even when missing, so that
    loading it reports the mistake instead of silently falling back to the defaults.
    """
    environ = os.environ if environ is None else environ
    named = explicit or environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    for candidate in config_search_path() if search_path is None else search_path:
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: str | Path | None) -> Settings:
    """Read and validate a TOML file; `None` gives the defaults."""
    if path is None:
        return Settings()
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return settings_from_dict(raw)


def settings_from_dict(raw: dict[str, Any]) -> Settings:
    sections: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    for name, table in raw.items():
        if name not in known:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sorted(known))})")
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a table")
        if name == "notify":
            sections[name] = dict(table)
            continue
        if name == "capacity":
            sections[name] = _capacity_section(table)
            continue
        section_type = _resolve(known[name].type)
        sections[name] = _section(name, section_type, table)
    settings = replace(Settings(), **sections)
    if settings.store.backend == "postgres" and not settings.store.dsn:
        raise ConfigError('store.dsn: needed with store.backend = "postgres"')
    if not settings.pulse.queue.startswith("queue/") or settings.pulse.queue.count("/") < 2:
        raise ConfigError("pulse.queue: must look like queue/<user>/<name> (Pulse convention)")
    if settings.pulse.user and not settings.pulse.queue.startswith(f"queue/{settings.pulse.user}/"):
        raise ConfigError(
            f"pulse.queue: must start with queue/{settings.pulse.user}/ for that user"
        )
    return settings


def _section(name: str, section_type: Any, table: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(section_type)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in hints:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(hints))})")
        values[key] = _coerce(f"{name}.{key}", hints[key], value)
        allowed = _CHOICES.get((name, key))
        if allowed is not None and values[key] not in allowed:
            raise ConfigError(f"{name}.{key}: must be one of {', '.join(sorted(allowed))}")
        if (name, key) in _POSITIVE and not values[key] > 0:
            raise ConfigError(f"{name}.{key}: must be greater than 0")
        if isinstance(values[key], float) and not (math.isfinite(values[key]) and values[key] >= 0):
            raise ConfigError(f"{name}.{key}: must be a finite number, 0 or more")
        limit = _MAXIMUM.get((name, key))
        if limit is not None and values[key] > limit:
            raise ConfigError(f"{name}.{key}: must be at most {limit}")
    return section_type(**values)


def _capacity_section(table: dict[str, Any]) -> CapacitySettings:
    """[capacity]: a table of quotas and a list of pools beside the plain keys."""
    plain = {k: v for k, v in table.items() if k not in ("daily_quota", "excluded_pools")}
    section: CapacitySettings = _section("capacity", CapacitySettings, plain)
    quotas = table.get("daily_quota", {})
    if not isinstance(quotas, dict):
        raise ConfigError('capacity.daily_quota: expected a table like { "gecko-t/t-linux" = 500 }')
    checked: dict[str, int] = {}
    for key, value in quotas.items():
        name = f"capacity.daily_quota.{key}"
        checked[key] = _coerce(name, int, value)
        if checked[key] < 0:
            raise ConfigError(f"{name}: must be 0 or more")
    pools = table.get("excluded_pools", [])
    if not isinstance(pools, list) or not all(isinstance(p, str) and "/" in p for p in pools):
        raise ConfigError(
            'capacity.excluded_pools: expected a list of worker pools ("provisioner/worker-type")'
        )
    if section.max_pending < 0:
        raise ConfigError("capacity.max_pending: must be 0 or more")
    return replace(section, daily_quota=checked, excluded_pools=list(pools))


def capacity_text(capacity: CapacitySettings) -> str:
    """What [capacity] limits, in one line ("" when nothing is limited)."""
    said = [f"{key} {quota}/day" for key, quota in sorted(capacity.daily_quota.items())]
    if capacity.max_pending:
        said.append(f"at most {capacity.max_pending} pending per pool")
    said.extend(f"{pool} excluded" for pool in capacity.excluded_pools)
    if not said:
        return ""
    return f"{', '.join(said)}; deferred at most {capacity.max_deferral:g} s"


def _coerce(key: str, expected: Any, value: Any) -> Any:
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if expected is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported setting type {expected!r}")  # pragma: no cover


def _resolve(annotation: Any) -> Any:
    if isinstance(annotation, str):
        return globals()[annotation]
    if isinstance(annotation, types.GenericAlias):  # pragma: no cover
        return annotation.__origin__
    return annotation


def read_secret(env_name: str, file_path: str, *, what: str) -> str | None:
    """A secret from the environment or from a file nobody but its owner can read."""
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    if not file_path:
        return None
    try:
        mode = os.stat(file_path).st_mode
    except OSError as error:
        raise ConfigError(f"{what}: cannot read {file_path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what}: {file_path} is readable by others (mode {stat.S_IMODE(mode):o});"
            " run chmod 600 on it"
        )
    return Path(file_path).read_text().strip()


# Pulse's connection conventions come from Mozilla's own library rather than a copy of them;
# only its configuration is used (the consumer is ours, on kombu).
_PULSE_DEFAULTS = PulseConfiguration()
PULSE_HOST: str = _PULSE_DEFAULTS.host
PULSE_PORT: int = _PULSE_DEFAULTS.port
PULSE_VHOST: str = _PULSE_DEFAULTS.vhost
PULSE_TLS: bool = _PULSE_DEFAULTS.ssl


def pulse_port(*, tls: bool) -> int:
    """Pulse's port for an AMQP connection with or without TLS (mozillapulse's rule)."""
    port: int = PulseConfiguration(ssl=tls).port
    return port


def pulse_url(settings: PulseSettings) -> str:
    """The broker URL with credentials filled in from the secret when a user is set."""
    if not settings.user:
        return settings.url
    password = read_secret(settings.password_env, settings.password_file, what="pulse password")
    if password is None:
        raise ConfigError(
            f"pulse.user is {settings.user!r} but no password: set ${settings.password_env}"
            " or pulse.password_file"
        )
    parts = urlsplit(settings.url)
    host = parts.hostname or PULSE_HOST
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    try:
        explicit_port = parts.port
    except ValueError as error:
        raise ConfigError(f"pulse.url: {error}") from None
    # No port in the URL: Pulse's for the scheme (5671 with TLS, 5672 without).
    port = f":{explicit_port or pulse_port(tls=parts.scheme == 'amqps')}"
    netloc = f"{quote(settings.user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def api_token(settings: Settings) -> str | None:
    """The API's bearer token; refuses to serve a non-loopback address without one."""
    api = settings.api
    token = read_secret(api.token_env, api.token_file, what="api token")
    if api.enabled and token is None and api.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"api.host is {api.host!r} (not loopback) but no token: set ${api.token_env}"
            " or api.token_file"
        )
    return token


def secrets_of(settings: Settings) -> list[str]:
    """Secret values the log redactor must never print."""
    found: list[str] = []
    try:
        password = read_secret(
            settings.pulse.password_env, settings.pulse.password_file, what="pulse password"
        )
    except ConfigError:
        password = None
    if password:
        found.append(password)
    token = os.environ.get("TASKCLUSTER_ACCESS_TOKEN")
    if token:
        found.append(token)
    try:
        api = read_secret(settings.api.token_env, settings.api.token_file, what="api token")
    except ConfigError:
        api = None
    if api:
        found.append(api)
    return found


def instance_name(settings: Settings) -> str:
    """This daemon's name among the instances sharing a store.

    On SQLite (one daemon per store file) the default is the host name, the same after a
    restart, so a daemon killed with SIGKILL gets its claimed actions back at once. On
    PostgreSQL several daemons may share a host: the default adds the process id, and a
    killed daemon's claims pass to another after `lease_seconds` — name instances in their
    settings to keep them across restarts.
    """
    import socket

    if settings.store.instance:
        return settings.store.instance
    if settings.store.backend == "sqlite":
        return socket.gethostname()
    return f"{socket.gethostname()}-{os.getpid()}"
