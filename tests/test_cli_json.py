"""`--json` on every command that prints a result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from store.pulse_builder import GROUP, LABEL, FakeTask, slug
from support.offline_cli import every_push_agrees

from mozci_monitor import cli
from mozci_monitor.cli import main

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    every_push_agrees(monkeypatch)  # made-up pushes, no network: see support/offline_cli.py


# Commands that print no result: a daemon and a server run until stopped.
NO_RESULT = {"run", "sim"}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> object:
    capsys.readouterr()
    assert main(list(argv)) == code
    return json.loads(capsys.readouterr().out)


def test_every_command_that_prints_a_result_has_json() -> None:
    commands = next(
        action
        for action in cli._parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    lacking = [
        name
        for name, parser in commands.choices.items()
        if name not in NO_RESULT and "--json" not in parser._option_string_actions
    ]
    assert lacking == []


def test_check_config_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "mozci-monitor.toml"
    config.write_text('[store]\npath = "/srv/state.sqlite3"\n')
    assert _json(capsys, "check-config", "--json") == {
        "ok": True,
        "config": str(config),
        "pulse": {
            "url": "amqp://guest:***@127.0.0.1:5672//",
            "queue": "queue/mozci-monitor/requests",
        },
        "store": {"backend": "sqlite", "path": "/srv/state.sqlite3"},
        "budgets": {"per_request": 20, "per_campaign": None, "per_repo_day": 200},
    }


def test_migrate_and_prune_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "state.sqlite3"
    config = tmp_path / "settings.toml"
    config.write_text(f'[store]\npath = "{store}"\n')
    migrated = _json(capsys, "--config", str(config), "migrate", "--json")
    assert isinstance(migrated, dict)
    assert migrated["backend"] == "sqlite"
    assert str(store) in migrated["result"]
    assert _json(capsys, "prune", "--json", "--dry-run", "--store", str(store)) == {
        "dry_run": True,
        "deleted": {"rejected": 0, "tasks": 0},
    }


def test_watch_and_replay_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = ("--store", str(tmp_path / "state.sqlite3"))
    watch = ["--repo", "autoland", "--revision", REVISION, "--task-group", GROUP]
    campaign = _json(capsys, "watch", *watch, "--label", LABEL, "--json", *store)
    assert isinstance(campaign, dict)
    assert (campaign["kind"], campaign["state"], campaign["label"]) == ("watch", "running", LABEL)
    messages = tmp_path / "messages.jsonl"
    task = FakeTask(slug(1))
    messages.write_text("".join(m.jsonl() + "\n" for m in (task.pending(), task.running())))
    report = _json(capsys, "replay", str(messages), "--json", *store)
    assert isinstance(report, dict)
    assert (report["parsed"], report["applied"], report["rejected"]) == (2, 2, 0)
    assert report["requests"] == {f"{campaign['id']}-r1": "running"}
    messages.write_text("not json\n")
    report = _json(capsys, "replay", str(messages), "--json", *store, code=1)
    assert isinstance(report, dict)
    assert report["rejected"] == 1
    assert report["rejections"][0].startswith("line 1: not JSON")
