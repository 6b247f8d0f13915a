"""Shared fixtures. Broker fixtures live in tests/broker.py (loaded as a plugin below)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mozci_monitor.logs import save_logging

pytest_plugins = ["broker"]

REFERENCE_DIR = Path(__file__).resolve().parent / "fixtures" / "reference"


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
