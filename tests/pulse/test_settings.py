"""Settings, URLs and routing keys of the Pulse edge (no broker needed)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from mozci_monitor.pulse import (
    TASK_EXCHANGE_PREFIX,
    TASK_EXCHANGES,
    ConsumerSettings,
    SettingsError,
    redact_url,
    task_group_binding,
)
from mozci_monitor.pulse._worker import describe, is_fatal_at_start, is_silence

GROUP = "MibGDsa4Q7uFNzDf7EV6nw"


def test_task_exchanges_are_the_queue_task_exchanges(reference_dir: Path) -> None:
    reference = json.loads((reference_dir / "taskcluster" / "queue-exchanges.json").read_text())
    assert reference["exchangePrefix"] == TASK_EXCHANGE_PREFIX
    names = {reference["exchangePrefix"] + e["exchange"] for e in reference["entries"]}
    kinds = ["task-defined", "task-pending", "task-running"]
    kinds += ["task-completed", "task-failed", "task-exception"]
    expected = {TASK_EXCHANGE_PREFIX + kind for kind in kinds}
    assert set(TASK_EXCHANGES) == expected
    assert expected <= names
    assert len(TASK_EXCHANGES) == 6


def test_task_group_binding_puts_the_group_where_the_routing_key_has_it(
    reference_dir: Path,
) -> None:
    reference = json.loads((reference_dir / "taskcluster" / "queue-exchanges.json").read_text())
    for entry in reference["entries"]:
        if TASK_EXCHANGE_PREFIX + entry["exchange"] not in TASK_EXCHANGES:
            continue
        fields = [f["name"] for f in entry["routingKey"]]
        words = task_group_binding(GROUP).split(".")
        assert words[fields.index("taskGroupId")] == GROUP
        assert words[0] == "primary" and fields[0] == "routingKeyKind"
        assert words[-1] == "#" and fields[-1] == "reserved"
        assert len(words) == len(fields)
        assert set(words[1 : fields.index("taskGroupId")]) == {"*"}


@pytest.mark.parametrize("bad", ["", "short", "MibGDsa4Q7uFNzDf7EV6nw.#", "a" * 23, "#"])
def test_task_group_binding_rejects_non_slugids(bad: str) -> None:
    with pytest.raises(ValueError):
        task_group_binding(bad)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("amqps://mozci:s3cret@pulse.mozilla.org:5671/") == (
        "amqps://mozci:***@pulse.mozilla.org:5671/"
    )
    assert redact_url("amqps://u:p%40ss@pulse.mozilla.org:5671/") == (
        "amqps://u:***@pulse.mozilla.org:5671/"
    )
    assert redact_url("memory://") == "memory://"
    assert redact_url("amqp://localhost//") == "amqp://localhost//"


def test_settings_repr_and_errors_do_not_leak_the_password() -> None:
    settings = ConsumerSettings(url="amqps://u:hunter2@pulse/", queue_name="queue/u/mozci")
    assert "hunter2" not in repr(settings)
    error = OSError(f"cannot reach {settings.url}")
    assert "hunter2" not in describe(error, settings.url)
    quoted = "amqps://u:a%20b%2Fc@pulse.mozilla.org:5671/"
    assert "a b/c" not in describe(OSError("auth a b/c"), quoted)
    assert "a%20b%2Fc" not in describe(OSError(quoted), quoted)


def test_settings_defaults() -> None:
    settings = ConsumerSettings(queue_name="queue/mozci/monitor")
    assert settings.url == "amqp://guest:guest@localhost:5672//"
    assert settings.exchanges == TASK_EXCHANGES
    assert settings.prefetch == 1000
    assert settings.heartbeat == 15.0
    assert settings.declare_exchanges
    assert settings.reconnect_max_delay == 30.0
    assert settings.queue_arguments == {}
    assert not settings.uses_tls
    limited = ConsumerSettings(
        queue_name="queue/mozci/monitor", queue_max_length=5000, message_ttl_ms=60_000
    )
    assert limited.queue_arguments == {"x-max-length": 5000, "x-message-ttl": 60_000}


@pytest.mark.parametrize(
    "queue_name",
    ["monitor", "queue/monitor", "queue//x", "exchange/u/x", "queue/u/", "queue/u/a b"],
)
def test_queue_names_follow_the_pulse_convention(queue_name: str) -> None:
    with pytest.raises(SettingsError):
        ConsumerSettings(queue_name=queue_name)


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": "redis://localhost"},
        {"exchanges": ()},
        {"prefetch": 0},
        {"heartbeat": -1},
        {"reconnect_max_delay": 0.1},
        {"routing_keys": ("a..b",)},
        {"routing_keys": ("",)},
        {"queue_max_length": 0},
    ],
)
def test_invalid_settings_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConsumerSettings(queue_name="queue/u/x", **overrides)  # type: ignore[arg-type]


def test_error_classification() -> None:
    assert is_silence(TimeoutError("timed out"))
    wrapped = ConnectionError("lost")
    wrapped.__cause__ = TimeoutError()
    assert is_silence(wrapped)
    assert not is_silence(ConnectionRefusedError("refused"))
    assert is_fatal_at_start(ssl.SSLCertVerificationError("bad certificate"))
    assert not is_fatal_at_start(ConnectionRefusedError("refused"))

    class Refused(Exception):
        code = 403

    assert is_fatal_at_start(Refused("ACCESS_REFUSED"))
