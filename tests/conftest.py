"""Shared fixtures. Broker fixtures live in tests/broker.py (loaded as a plugin below)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["broker"]

REFERENCE_DIR = Path(__file__).resolve().parent / "fixtures" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Real Mozilla data kept in the repository (origins and licences in its SOURCES.md)."""
    if not (REFERENCE_DIR / "SOURCES.md").is_file():
        pytest.fail(f"reference data missing from the checkout: {REFERENCE_DIR}")
    return REFERENCE_DIR
