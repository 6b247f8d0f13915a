"""The default settings lookup shared by the daemon and the CLI, as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from mozci_monitor.config import CONFIG_ENV, config_search_path, find_config

# (files that exist, --config, $MOZCI_MONITOR_CONFIG, expected: a name or None)
CASES = [
    ((), None, None, None),
    (("cwd",), None, None, "cwd"),
    (("home",), None, None, "home"),
    (("etc",), None, None, "etc"),
    (("cwd", "home", "etc"), None, None, "cwd"),
    (("home", "etc"), None, None, "home"),
    (("cwd", "home"), None, "env", "env"),
    (("cwd",), "option", "env", "option"),
    # Named but missing: returned anyway, so that loading it fails loudly.
    ((), "option", None, "option"),
    (("cwd",), None, "env", "env"),
]


@pytest.mark.parametrize(("existing", "option", "env", "expected"), CASES)
def test_lookup_order(
    tmp_path: Path,
    existing: tuple[str, ...],
    option: str | None,
    env: str | None,
    expected: str | None,
) -> None:
    search = config_search_path(cwd=tmp_path / "cwd", home=tmp_path / "home", etc=tmp_path / "etc")
    places = dict(zip(("cwd", "home", "etc"), search, strict=True))
    places["option"] = tmp_path / "option.toml"
    places["env"] = tmp_path / "env.toml"
    for name in existing:
        places[name].parent.mkdir(parents=True, exist_ok=True)
        places[name].write_text("")
    environ = {CONFIG_ENV: str(places["env"])} if env else {}
    found = find_config(
        str(places["option"]) if option else None, environ=environ, search_path=search
    )
    assert found == (None if expected is None else places[expected])


def test_the_search_path_is_the_documented_one(tmp_path: Path) -> None:
    assert config_search_path(cwd=tmp_path, home=Path("/home/someone")) == (
        tmp_path / "mozci-monitor.toml",
        Path("/home/someone/.config/mozci-monitor/config.toml"),
        Path("/etc/mozci-monitor/mozci-monitor.toml"),
    )


def test_a_directory_named_like_the_file_is_not_a_config(tmp_path: Path) -> None:
    search = config_search_path(cwd=tmp_path, home=tmp_path / "h", etc=tmp_path / "e")
    search[0].mkdir()
    assert find_config(None, environ={}, search_path=search) is None
