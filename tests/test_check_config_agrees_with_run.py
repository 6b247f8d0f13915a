"""`check-config` runs exactly the validation `run` runs: they accept and refuse alike.

Each refused config gets one clear line naming what is wrong, from both commands, and
never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.daemon import RefusingConsumer

from mozci_monitor import wiring
from mozci_monitor.cli import main

# Not a ConnectionError: `run` would keep retrying that (a broker outage at start).
BROKER_DOWN = "access to the broker refused (test)"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # `run` must not reach a broker: if validation lets a config through, this says so.
    refusing = RefusingConsumer(PermissionError(BROKER_DOWN))
    monkeypatch.setattr(wiring, "build_consumer", lambda settings, store: refusing)


def _token_file(tmp_path: Path, mode: int) -> str:
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    os.chmod(path, mode)
    return str(path)


# (name, extra TOML, what the one error line says; None: the config is good)
CASES: list[tuple[str, str, str | None]] = [
    ("good", "[api]\nport = 0\n", None),  # any free port: 8787 may be another daemon's
    (
        "world-readable token file",
        '[api]\ntoken_file = "{token_644}"\n',
        "is readable by others",
    ),
    ("missing token file", '[api]\ntoken_file = "{tmp}/absent"\n', "api token: cannot read"),
    ("public address without token", '[api]\nhost = "0.0.0.0"\n', "(not loopback) but no token"),
    ("unknown notify sink", '[notify]\nsinks = ["log", "carrier-pigeon"]\n', "unknown sink"),
    ("webhook without URL", '[notify]\nsinks = ["webhook"]\n', "needs notify.webhook_url"),
    (
        "Taskcluster root URL without scheme",
        '[sources]\ntaskcluster_root_url = "firefox-ci-tc.services.mozilla.com"\n',
        "sources.taskcluster_root_url",
    ),
]


@pytest.mark.parametrize(("name", "toml", "refusal"), CASES, ids=[c[0] for c in CASES])
def test_check_config_and_run_agree(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    toml: str,
    refusal: str | None,
) -> None:
    config = tmp_path / "settings.toml"
    body = toml.format(tmp=tmp_path, token_644=_token_file(tmp_path, 0o644))
    config.write_text(f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n' + body)

    checked = main(["--config", str(config), "check-config"])
    _, check_err = capsys.readouterr()
    ran = main(["--config", str(config), "run"])
    _, run_err = capsys.readouterr()

    for err in (check_err, run_err):
        assert "Traceback" not in err
    if refusal is None:
        assert checked == 0, check_err
        # run got past the validation and stopped at the (absent) broker
        assert ran == 2
        assert run_err.splitlines()[-1] == f"mozci-monitor: {BROKER_DOWN}"
    else:
        assert (checked, ran) == (2, 2)
        assert refusal in check_err
        assert check_err.splitlines()[-1] == run_err.splitlines()[-1]
