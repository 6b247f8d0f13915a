"""Settings: defaults, the example file, errors that name the key, secrets and the Pulse URL."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

import kombu
import pytest

from mozci_monitor.config import (
    DEFAULT_LOCAL_URL,
    ConfigError,
    PulseSettings,
    Settings,
    capacity_text,
    load_settings,
    pulse_url,
    read_secret,
    secrets_of,
    settings_from_dict,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "mozci-monitor.example.toml"


@pytest.fixture(autouse=True)
def _no_ambient_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PULSE_PASSWORD", "TASKCLUSTER_ACCESS_TOKEN", "MY_PULSE_PW"):
        monkeypatch.delenv(name, raising=False)


def _write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _secret_file(tmp_path: Path, content: str, mode: int) -> Path:
    path = tmp_path / "pulse-password"
    path.write_text(content)
    path.chmod(mode)
    return path


# -- defaults and the example file -----------------------------------------------------------


def test_no_file_gives_the_defaults() -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.pulse.url == DEFAULT_LOCAL_URL
    assert settings.pulse.queue == "queue/mozci-monitor/requests"
    assert settings.pulse.prefetch == 1000
    assert settings.pulse.heartbeat == 15.0
    assert settings.pulse.declare_exchanges is True
    assert settings.store.path == "mozci-monitor.sqlite3"
    assert settings.daemon.batch_max == 500
    assert (settings.log.format, settings.log.level) == ("auto", "info")


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, "")) == Settings()


def test_every_key_of_the_example_file_loads_and_is_documented() -> None:
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} not written yet (the lead owns it)")
    raw = tomllib.loads(EXAMPLE.read_text())
    settings = load_settings(EXAMPLE)
    for section in fields(Settings):
        table = raw.get(section.name)
        assert isinstance(table, dict), f"[{section.name}] missing from the example"
        section_value = getattr(settings, section.name)
        if isinstance(section_value, dict):  # [notify] is free-form, checked by build_sinks
            assert section_value == table
            continue
        for key in (f.name for f in fields(section_value)):
            assert key in table, f"{section.name}.{key} missing from the example"
            assert getattr(section_value, key) == table[key], f"{section.name}.{key}"
    # The example says "the value shown is the default".
    assert settings == Settings()


def test_values_are_read_from_every_section(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [pulse]
        url = "amqps://pulse.mozilla.org:5671/"
        user = "alice"
        queue = "queue/alice/monitor"
        prefetch = 50
        heartbeat = 30
        declare_exchanges = false
        [store]
        path = "/var/lib/mozci-monitor/state.sqlite3"
        [daemon]
        batch_max = 100
        batch_wait = 1
        [log]
        format = "json"
        level = "debug"
        """,
    )
    settings = load_settings(path)
    assert settings.pulse.user == "alice"
    assert settings.pulse.prefetch == 50
    assert settings.pulse.heartbeat == 30.0 and isinstance(settings.pulse.heartbeat, float)
    assert settings.pulse.declare_exchanges is False
    assert settings.store.path == "/var/lib/mozci-monitor/state.sqlite3"
    assert (settings.daemon.batch_max, settings.daemon.batch_wait) == (100, 1.0)
    assert (settings.log.format, settings.log.level) == ("json", "debug")
    assert settings.daemon.shutdown_grace == 10.0  # untouched keys keep their default


# -- errors name the key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        ("[plse]\nurl = 'x'", "plse", "unknown section"),
        ("pulse = 3", "pulse", "expected a table"),
        ("[pulse]\nprefech = 10", "pulse.prefech", "unknown key"),
        ("[log]\ncolour = true", "log.colour", "unknown key"),
        ("[pulse]\nprefetch = 'many'", "pulse.prefetch", "expected an integer"),
        ("[pulse]\nprefetch = 2.5", "pulse.prefetch", "expected an integer"),
        ("[pulse]\nprefetch = true", "pulse.prefetch", "expected an integer"),
        ("[pulse]\nheartbeat = 'soon'", "pulse.heartbeat", "expected a number"),
        ("[pulse]\nheartbeat = false", "pulse.heartbeat", "expected a number"),
        ("[pulse]\ndeclare_exchanges = 1", "pulse.declare_exchanges", "expected true or false"),
        ("[pulse]\nurl = 5", "pulse.url", "expected a string"),
        ("[store]\npath = ['a']", "store.path", "expected a string"),
        ("[log]\nformat = 'xml'", "log.format", "must be one of"),
        ("[log]\nlevel = 'verbose'", "log.level", "must be one of"),
        ("[log]\nlevel = 'INFO'", "log.level", "must be one of"),
        ("[pulse]\nprefetch = 0", "pulse.prefetch", "greater than 0"),
        ("[pulse]\nprefetch = -5", "pulse.prefetch", "greater than 0"),
        ("[pulse]\nheartbeat = 0", "pulse.heartbeat", "greater than 0"),
        ("[daemon]\nbatch_max = 0", "daemon.batch_max", "greater than 0"),
        ("[pulse]\nqueue = 'mozci-monitor'", "pulse.queue", "queue/<user>/<name>"),
        ("[pulse]\nqueue = 'queue/mozci-monitor'", "pulse.queue", "queue/<user>/<name>"),
        ("[pulse]\nqueue = 'exchange/a/b'", "pulse.queue", "queue/<user>/<name>"),
        (
            "[pulse]\nuser = 'alice'\nqueue = 'queue/bob/monitor'",
            "pulse.queue",
            "queue/alice/",
        ),
        # Setting a user without a queue of theirs: the default queue is someone else's.
        ("[pulse]\nuser = 'alice'", "pulse.queue", "queue/alice/"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_key(
    tmp_path: Path, toml: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, toml))
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert words in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[pulse\nurl = ")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "absent.toml")


def test_settings_from_dict_accepts_what_load_settings_reads() -> None:
    settings = settings_from_dict({"store": {"path": "x.sqlite3"}})
    assert settings.store.path == "x.sqlite3"
    assert settings.pulse == PulseSettings()


def test_prefetch_above_the_amqp_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^pulse\.prefetch:"):
        load_settings(_write(tmp_path, "[pulse]\nprefetch = 70000"))


def test_nan_is_not_a_positive_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^pulse\.heartbeat:"):
        load_settings(_write(tmp_path, "[pulse]\nheartbeat = nan"))


# -- secrets -------------------------------------------------------------------------------------


def test_read_secret_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PULSE_PW", "from-env")
    file = _secret_file(tmp_path, "from-file\n", 0o600)
    assert read_secret("MY_PULSE_PW", str(file), what="pulse password") == "from-env"


def test_read_secret_from_a_private_file(tmp_path: Path) -> None:
    file = _secret_file(tmp_path, "  s3cret-value \n", 0o600)
    assert read_secret("MY_PULSE_PW", str(file), what="pulse password") == "s3cret-value"
    assert read_secret("", str(file), what="pulse password") == "s3cret-value"


def test_an_empty_environment_variable_falls_back_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PULSE_PW", "")
    file = _secret_file(tmp_path, "from-file", 0o400)
    assert read_secret("MY_PULSE_PW", str(file), what="pulse password") == "from-file"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_read_secret_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    file = _secret_file(tmp_path, "s3cret-value", mode)
    with pytest.raises(ConfigError) as caught:
        read_secret("MY_PULSE_PW", str(file), what="pulse password")
    message = str(caught.value)
    assert "chmod 600" in message
    assert message.startswith("pulse password:")
    assert str(file) in message
    assert "s3cret-value" not in message


def test_read_secret_of_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pulse password: cannot read"):
        read_secret("MY_PULSE_PW", str(tmp_path / "absent"), what="pulse password")


def test_read_secret_with_nothing_configured_is_none() -> None:
    assert read_secret("MY_PULSE_PW", "", what="pulse password") is None


# -- the Pulse URL ------------------------------------------------------------------------------


def test_pulse_url_without_user_is_the_url_as_written() -> None:
    assert pulse_url(PulseSettings()) == DEFAULT_LOCAL_URL


def test_pulse_url_injects_quoted_user_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss/w:rd%?#"
    monkeypatch.setenv("PULSE_PASSWORD", password)
    settings = PulseSettings(
        url="amqps://someone:old@pulse.mozilla.org:5671/vhost",
        user="me@example",
        queue="queue/me@example/monitor",
    )
    url = pulse_url(settings)
    parts = urlsplit(url)
    assert parts.scheme == "amqps"
    assert (parts.hostname, parts.port, parts.path) == ("pulse.mozilla.org", 5671, "/vhost")
    assert unquote(parts.username or "") == "me@example"
    assert unquote(parts.password or "") == password
    assert "old" not in url and "someone" not in url


def test_pulse_url_for_real_pulse_parses_in_kombu(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one Pulse URL builder: what it quotes, kombu unquotes to the same credentials.
    monkeypatch.setenv("PULSE_PASSWORD", "p@ss:w/rd")
    settings = PulseSettings(
        url="amqps://pulse.mozilla.org:5671/", user="mozci", queue="queue/mozci/monitor"
    )
    conn = kombu.Connection(pulse_url(settings))
    assert (conn.hostname, conn.port, conn.virtual_host) == ("pulse.mozilla.org", 5671, "/")
    assert (conn.userid, conn.password, conn.transport_cls) == ("mozci", "p@ss:w/rd", "amqps")


def test_pulse_url_keeps_another_vhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "p")
    settings = PulseSettings(url="amqp://localhost:5672/ci", user="u", queue="queue/u/m")
    assert pulse_url(settings) == "amqp://u:p@localhost:5672/ci"
    assert kombu.Connection(pulse_url(settings)).virtual_host == "ci"


def test_pulse_url_keeps_the_default_vhost_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "pw")
    url = pulse_url(PulseSettings(user="guest", queue="queue/guest/x"))
    assert url == "amqp://guest:pw@127.0.0.1:5672//"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # No host: Pulse's, and its TLS port (mozillapulse's PulseConfiguration defaults).
        ("amqps:///", "amqps://u:pw@pulse.mozilla.org:5671/"),
        ("amqps://pulse.mozilla.org/", "amqps://u:pw@pulse.mozilla.org:5671/"),
        # Without TLS, mozillapulse's plain AMQP port.
        ("amqp://broker.example/", "amqp://u:pw@broker.example:5672/"),
        ("amqps://broker.example:5999/x", "amqps://u:pw@broker.example:5999/x"),
    ],
)
def test_pulse_url_fills_pulse_defaults_from_mozillapulse(
    monkeypatch: pytest.MonkeyPatch, written: str, expected: str
) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "pw")
    assert pulse_url(PulseSettings(url=written, user="u", queue="queue/u/m")) == expected


def test_pulse_connection_defaults_are_mozillapulse_s() -> None:
    from mozillapulse.config import PulseConfiguration

    from mozci_monitor import pulse

    library = PulseConfiguration()
    ours = (pulse.PULSE_HOST, pulse.PULSE_PORT, pulse.PULSE_VHOST, pulse.PULSE_TLS)
    assert ours == (library.host, library.port, library.vhost, library.ssl)
    assert ours == ("pulse.mozilla.org", 5671, "/", True)
    assert pulse.pulse_port(tls=False) == 5672


def test_pulse_url_reads_the_password_file(tmp_path: Path) -> None:
    file = _secret_file(tmp_path, "file-pw\n", 0o600)
    settings = PulseSettings(
        url="amqps://pulse.mozilla.org:5671/",
        user="alice",
        queue="queue/alice/monitor",
        password_file=str(file),
    )
    assert pulse_url(settings) == "amqps://alice:file-pw@pulse.mozilla.org:5671/"


def test_pulse_url_without_password_names_where_to_put_it() -> None:
    settings = PulseSettings(user="alice", queue="queue/alice/monitor", password_env="MY_PULSE_PW")
    with pytest.raises(ConfigError) as caught:
        pulse_url(settings)
    message = str(caught.value)
    assert "pulse.user" in message
    assert "$MY_PULSE_PW" in message and "pulse.password_file" in message


def test_pulse_url_keeps_an_ipv6_host_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "pw")
    settings = PulseSettings(url="amqps://[::1]:5671/", user="alice", queue="queue/alice/m")
    assert pulse_url(settings) == "amqps://alice:pw@[::1]:5671/"


def test_pulse_url_with_a_bad_port_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "pw")
    settings = PulseSettings(url="amqps://pulse:port/", user="alice", queue="queue/alice/m")
    with pytest.raises(ConfigError, match=r"^pulse\.url:"):
        pulse_url(settings)


# -- secrets_of -----------------------------------------------------------------------------------


def test_secrets_of_lists_the_pulse_password_and_taskcluster_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSE_PASSWORD", "pulse-pw")
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", "tc-token")
    assert secrets_of(Settings()) == ["pulse-pw", "tc-token"]


def test_secrets_of_reads_the_password_file(tmp_path: Path) -> None:
    file = _secret_file(tmp_path, "file-pw", 0o600)
    settings = Settings(pulse=PulseSettings(password_file=str(file)))
    assert secrets_of(settings) == ["file-pw"]


def test_secrets_of_ignores_unreadable_or_public_secret_files(tmp_path: Path) -> None:
    public = _secret_file(tmp_path, "file-pw", 0o644)
    assert secrets_of(Settings(pulse=PulseSettings(password_file=str(public)))) == []
    missing = str(tmp_path / "absent")
    assert secrets_of(Settings(pulse=PulseSettings(password_file=missing))) == []


def test_secrets_of_nothing_configured_is_empty() -> None:
    assert secrets_of(Settings()) == []


# -- [capacity] ---------------------------------------------------------------------------------


def test_capacity_reads_quotas_pools_and_bounds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [capacity]
        daily_quota = { "gecko-t/t-linux-xlarge" = 500, "windows11-64" = 80 }
        max_pending = 1000
        excluded_pools = ["proj-autophone/gecko-t-bitbar-gw-perf-a51"]
        max_deferral = 3600
        """,
    )
    capacity = load_settings(path).capacity
    assert capacity.daily_quota == {"gecko-t/t-linux-xlarge": 500, "windows11-64": 80}
    assert capacity.max_pending == 1000
    assert capacity.excluded_pools == ["proj-autophone/gecko-t-bitbar-gw-perf-a51"]
    assert capacity.max_deferral == 3600.0
    assert capacity_text(capacity) == (
        "gecko-t/t-linux-xlarge 500/day, windows11-64 80/day, at most 1000 pending per pool,"
        " proj-autophone/gecko-t-bitbar-gw-perf-a51 excluded; deferred at most 3600 s"
    )
    assert capacity_text(Settings().capacity) == ""


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('daily_quota = { "gecko-t/t-linux" = "lots" }', "capacity.daily_quota.gecko-t/t-linux"),
        ('daily_quota = { "gecko-t/t-linux" = -1 }', "capacity.daily_quota.gecko-t/t-linux"),
        ("daily_quota = 5", "capacity.daily_quota"),
        ('excluded_pools = "gecko-t/t-linux"', "capacity.excluded_pools"),
        ('excluded_pools = ["t-linux"]', "capacity.excluded_pools"),
        ("max_pending = -3", "capacity.max_pending"),
        ("max_deferral = 0", "capacity.max_deferral"),
        ("max_pendings = 3", "capacity.max_pendings"),
    ],
)
def test_bad_capacity_settings_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: "):
        load_settings(_write(tmp_path, f"[capacity]\n{toml}\n"))
