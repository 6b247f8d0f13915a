"""Where the chaos figures are written: the session's own temp dir unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.table import table_json_path


def test_the_figures_go_to_the_sessions_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CHAOS_TABLE_JSON", raising=False)
    assert table_json_path(tmp_path) == tmp_path / "mozci-monitor-chaos.json"


def test_the_environment_chooses_another_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAOS_TABLE_JSON", str(tmp_path / "figures.json"))
    assert table_json_path(tmp_path / "session") == tmp_path / "figures.json"
