"""Shared fixtures. Broker fixtures live in tests/broker.py (loaded as a plugin below)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mozci_monitor import client
from mozci_monitor.config import CONFIG_ENV, Settings
from mozci_monitor.logs import save_logging

pytest_plugins = ["broker"]

REFERENCE_DIR = Path(__file__).resolve().parent / "fixtures" / "reference"

# Every variable the product reads from the environment: an operator's shell or a CI runner
# may set any of them (a daemon's URL, a settings file, a token), and a test must see only
# what it sets itself.
PRODUCT_ENVIRONMENT = (
    CONFIG_ENV,
    client.URL_ENV,
    Settings().api.token_env,
    Settings().pulse.password_env,
    # taskcluster.optionsFromEnvironment (sources/taskcluster.py, the notify sink)
    "TASKCLUSTER_ROOT_URL",
    "TASKCLUSTER_CLIENT_ID",
    "TASKCLUSTER_ACCESS_TOKEN",
    "TASKCLUSTER_CERTIFICATE",
    # systemd's, read by sdnotify.py
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Real Mozilla data kept in the repository (origins and licences in its SOURCES.md)."""
    if not (REFERENCE_DIR / "SOURCES.md").is_file():
        pytest.fail(f"reference data missing from the checkout: {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(autouse=True)
def _process_logging_restored() -> Iterator[None]:
    """Logging as it was before each test, after it.

    `main()` and the daemon configure logging for the whole process (level, stream, root
    handler, hooks); a test that runs them would otherwise hand its set-up to every later
    test, whose log assertions would then pass or fail depending on what ran first.
    """
    saved = save_logging()
    yield
    saved.restore()


@pytest.fixture(autouse=True)
def _no_product_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of PRODUCT_ENVIRONMENT while a test runs (it sets what it needs itself)."""
    for name in PRODUCT_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
