"""Shared fixtures. Broker fixtures live in tests/broker.py (loaded as a plugin below)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["broker"]

REFERENCE_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The real Mozilla data beside the project; without it tests skip (or fail in CI)."""
    if not REFERENCE_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                f"reference data missing: {REFERENCE_DIR} (CI must have ../shared/reference)"
            )
        pytest.skip(f"reference data not found at {REFERENCE_DIR}; clone with ../shared beside it")
    return REFERENCE_DIR
