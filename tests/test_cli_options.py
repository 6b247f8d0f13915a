"""Options every command takes: --config before or after the command, the default config
lookup, --version, -q/--log-level, and Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import structlog

from mozci_monitor import __version__, cli
from mozci_monitor.cli import main
from mozci_monitor.cli_options import log_level
from mozci_monitor.config import Settings, settings_from_dict


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.config file of the tester's
    monkeypatch.chdir(tmp_path)


def _config(path: Path, store: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[store]\npath = "{store}"\n')
    return path


def _store_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    lines = capsys.readouterr().out.splitlines()
    return next(line for line in lines if line.startswith("store:"))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"mozci-monitor {__version__}"


def test_config_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _config(tmp_path / "a.toml", "/srv/a.sqlite3")
    second = _config(tmp_path / "b.toml", "/srv/b.sqlite3")
    assert _store_line(capsys, "--config", str(first), "check-config") == "store: /srv/a.sqlite3"
    assert _store_line(capsys, "check-config", "--config", str(first)) == "store: /srv/a.sqlite3"
    # Given twice, the one after the command wins (it is the nearer).
    both = ("--config", str(first), "check-config", "--config", str(second))
    assert _store_line(capsys, *both) == "store: /srv/b.sqlite3"


def test_the_config_in_the_working_directory_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _store_line(capsys, "check-config") == "store: mozci-monitor.sqlite3"  # defaults
    _config(tmp_path / "home" / ".config" / "mozci-monitor" / "config.toml", "/srv/home.db")
    assert _store_line(capsys, "check-config") == "store: /srv/home.db"
    _config(tmp_path / "mozci-monitor.toml", "/srv/cwd.db")
    assert _store_line(capsys, "check-config") == "store: /srv/cwd.db"


def test_a_named_config_that_is_missing_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path / "mozci-monitor.toml", "/srv/cwd.db")  # not a fallback for a typo
    monkeypatch.setenv("MOZCI_MONITOR_CONFIG", str(tmp_path / "typo.toml"))
    assert main(["check-config"]) == 2
    assert "cannot read config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "configured", "expected"),
    [
        (["run"], "info", "info"),
        (["run"], "debug", "debug"),
        (["-q", "run"], "info", "error"),
        (["run", "--log-level", "warning"], "debug", "warning"),
        # Commands that print a result keep the terminal for it.
        (["list"], "info", "warning"),
        (["list", "--log-level", "info"], "warning", "info"),
        (["--log-level", "debug", "list"], "info", "debug"),
        (["list", "-q"], "info", "error"),
    ],
)
def test_log_level(argv: list[str], configured: str, expected: str) -> None:
    args = cli._parser().parse_args(argv)
    settings = settings_from_dict({"log": {"level": configured}})
    assert log_level(args, settings) == expected


def test_commands_log_only_warnings_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--store", str(tmp_path / "s.sqlite3")]) == 0
    capsys.readouterr()
    structlog.get_logger("mozci_monitor.test").info("an info line")
    structlog.get_logger("mozci_monitor.test").warning("a warning line")
    err = capsys.readouterr().err
    assert "a warning line" in err
    assert "an info line" not in err


def test_ctrl_c_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace, settings: Settings) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_check_config", interrupted)
    assert main(["check-config"]) == 130
    err = capsys.readouterr().err
    assert err == "mozci-monitor: interrupted\n"


def test_a_campaign_command_without_settings_refuses_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on: no daemon answers
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("MOZCI_MONITOR_API_URL", f"http://127.0.0.1:{closed}")
    argv = ["watch", "--repo", "autoland", "--revision", "a" * 40]
    argv += ["--task-group", "XrWNyFwpT2in-wLY9frb-w", "--label", "test-linux1804-64/opt-x"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"no daemon answered at http://127.0.0.1:{closed}" in err
    assert "no settings file was found" in err
    assert list(tmp_path.iterdir()) == []  # no stray ./mozci-monitor.sqlite3


@pytest.mark.parametrize("command", ["watch", "backfill", "submit", "wait"])
def test_every_waiting_command_takes_the_same_wait_options(command: str) -> None:
    parser = cli._parser()
    words = {
        "watch": [
            *("watch", "--repo", "autoland", "--revision", "a" * 40, "--wait"),
            *("--task-group", "XrWNyFwpT2in-wLY9frb-w", "--label", "test-linux1804-64/opt-x"),
        ],
        "backfill": [
            *("backfill", "--repo", "autoland", "--revision", "a" * 40, "--wait"),
            *("--label", "test-linux1804-64/opt-x"),
        ],
        "submit": ["submit", "watch", "--repo", "autoland", "--revision", "a" * 40, "--wait"],
        "wait": ["wait", "c-0123456789"],
    }[command]
    for timeout in ("--timeout", "--give-up-after"):
        args = parser.parse_args([*words, timeout, "30", "--interval", "0.5"])
        assert (args.give_up_after, args.interval) == (30.0, 0.5)
