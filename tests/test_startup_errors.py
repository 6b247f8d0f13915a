"""A daemon that cannot start says why in one line, and leaves nothing open behind it."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest
from support.daemon import RefusingConsumer

from mozci_monitor import wiring
from mozci_monitor.cli import main
from mozci_monitor.config import Settings, StoreSettings
from mozci_monitor.wiring import Services, build


async def test_a_failed_start_runs_the_closers_of_what_was_built(tmp_path: Path) -> None:
    closed: list[str] = []

    async def close() -> None:
        closed.append("services")

    services = Services(taskcluster=object(), render=lambda *a: None, closers=[close])  # type: ignore[arg-type]
    settings = Settings(store=StoreSettings(path=str(tmp_path / "state.sqlite3")))
    daemon = build(
        settings,
        consumer=RefusingConsumer(ConnectionError("broker down")),
        services=services,
        api=False,
    ).daemon
    with pytest.raises(ConnectionError):
        await daemon.run(install_signal_handlers=False)
    assert closed == ["services"]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (PermissionError("operation not permitted"), "mozci-monitor: operation not permitted"),
    ],
)
def test_run_that_cannot_start_prints_one_line_and_closes_its_http_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    line: str,
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n[api]\nenabled = false\n'
        '[log]\nlevel = "error"\n'
    )
    monkeypatch.setattr(wiring, "build_consumer", lambda settings, store: RefusingConsumer(error))
    # A session an earlier test leaked would be reported by the collection below: collect
    # those first, so what is left to report can only be this run's.
    gc.collect()
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["--config", str(config), "run"])
        gc.collect()  # an HTTP session left open warns when it is collected
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[-1] == line
    assert "Traceback" not in err
    assert ": :" not in err
    assert "Unclosed client session" not in out + err
    assert not [w for w in caught if "Unclosed client session" in str(w.message)]
