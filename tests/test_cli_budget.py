"""Campaigns started from the CLI obey the same budgets as those the daemon starts.

The CLI used to build its own engine without `actions.max_per_repo_day`: a watch on a
task that needs a remedy queued it even when the repository's daily budget was spent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store.pulse_builder import GROUP, LABEL, FakeTask, events, make_request, slug
from support.offline_cli import every_push_agrees, watch_argv

from mozci_monitor.cli import main
from mozci_monitor.clock import utc_now
from mozci_monitor.core.model import FailureKind, RemedyPolicy, RequestState
from mozci_monitor.engine import Engine
from mozci_monitor.store.sqlite import SqliteStore


def _spend_the_day_on_autoland(store_path: Path) -> None:
    """One rerun queued today for autoland: an infrastructure exception of a watched task."""
    engine = Engine(SqliteStore(store_path))
    now = utc_now()
    engine.register(make_request("earlier", max_actions=3, remedy=RemedyPolicy.WATCH), now)
    outcome = engine.apply(events(FakeTask(slug(1)).lifecycle("exception", "internal-error")), now)
    assert outcome.actions == 1


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    every_push_agrees(monkeypatch)  # a made-up push, no network: see support/offline_cli.py


@pytest.mark.parametrize(("daily_budget", "expect_budget_failure"), [(1, True), (5, False)])
def test_a_watch_started_from_the_cli_honours_the_daily_repo_budget(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    daily_budget: int,
    expect_budget_failure: bool,
) -> None:
    store_path = tmp_path / "state.sqlite3"
    _spend_the_day_on_autoland(store_path)
    config = tmp_path / "settings.toml"
    config.write_text(f"[actions]\nmax_per_repo_day = {daily_budget}\n")

    code = main(
        [
            "--config",
            str(config),
            *watch_argv(GROUP, LABEL, "--task-id", slug(1)),
            "--store",
            str(store_path),
        ]
    )

    out, err = capsys.readouterr()
    assert code == 0, err
    request = SqliteStore(store_path).get_request(out.strip() + "-r1")
    assert request is not None
    if expect_budget_failure:
        assert (request.state, request.failure) == (RequestState.FAILED, FailureKind.BUDGET)
        assert request.reason == "daily task budget for autoland spent"
    else:  # the same watch with budget left takes its remedy: the budget made the difference
        assert request.state is not RequestState.FAILED
        assert request.actions == 1
