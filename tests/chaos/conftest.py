"""Chaos suite: the `chaos` marker and the table of figures printed at the end of the run.

Every scenario adds one row through the `chaos_table` fixture; the table is printed in the
terminal summary and written as JSON to /tmp/mozci-monitor-chaos.json (env CHAOS_TABLE_JSON).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaos.table import CHAOS_ROWS, TABLE_JSON, ChaosTable, format_table


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: fault-injection scenario (real RabbitMQ, daemon subprocess)"
    )


@pytest.fixture(scope="session")
def chaos_table() -> ChaosTable:
    return ChaosTable()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CHAOS_ROWS:
        return
    terminalreporter.section("chaos: figures per scenario")
    for line in format_table(CHAOS_ROWS):
        terminalreporter.write_line(line)
    for row in CHAOS_ROWS:
        if row["notes"]:
            terminalreporter.write_line(f"  {row['scenario']}: {row['notes']}")
    TABLE_JSON.write_text(json.dumps(CHAOS_ROWS, indent=2) + "\n")
    terminalreporter.write_line(f"(also written to {TABLE_JSON})")
