"""Chaos suite: the `chaos` marker and the table of figures printed at the end of the run.

Every scenario adds one row through the `chaos_table` fixture; the table is printed in the
terminal summary and written as JSON to mozci-monitor-chaos.json in the session's temporary
directory (or to env CHAOS_TABLE_JSON).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from broker import RabbitMQ, unique_queue_name

from chaos.rig import SEED, Outcome, baseline_outcome
from chaos.table import CHAOS_ROWS, ChaosTable, format_table, table_json_path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: fault-injection scenario (real RabbitMQ, daemon subprocess)"
    )


@pytest.fixture(scope="session")
def chaos_table(tmp_path_factory: pytest.TempPathFactory) -> ChaosTable:
    ChaosTable.json_path = table_json_path(tmp_path_factory.getbasetemp())
    return ChaosTable()


@pytest.fixture
async def baseline(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The fault-free run of the scenarios' seed, every scenario's reference."""
    queue = unique_queue_name("chaos-baseline")
    try:
        outcome = await baseline_outcome(rabbitmq.url, queue, tmp_path_factory.mktemp("baseline"))
    finally:
        with contextlib.suppress(Exception):
            rabbitmq.delete_queue(queue)
    # The plan's remedies, performed once each: the reference itself must be right.
    assert set(outcome.campaigns.values()) == {"finished"}, outcome
    assert {state for state, _, _ in outcome.requests.values()} == {"completed"}, outcome
    assert outcome.performed == {"retrigger-multiple": 2, "add-new-jobs": 2, "rerun": 1}, outcome
    assert outcome.incomplete_timelines == [], outcome.incomplete_timelines
    return outcome


@pytest.fixture
def queue(rabbitmq: RabbitMQ) -> Any:
    """This test's own Pulse queue, deleted afterwards (Pulse queues outlive consumers)."""
    name = unique_queue_name("chaos")
    yield name
    with contextlib.suppress(Exception):
        rabbitmq.delete_queue(name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CHAOS_ROWS:
        return
    terminalreporter.section(f"chaos: figures per scenario (CHAOS_SEED={SEED} replays)")
    for line in format_table(CHAOS_ROWS):
        terminalreporter.write_line(line)
    for row in CHAOS_ROWS:
        if row["notes"]:
            terminalreporter.write_line(f"  {row['scenario']}: {row['notes']}")
    path = ChaosTable.json_path
    if path is not None:
        path.write_text(json.dumps(CHAOS_ROWS, indent=2) + "\n")
        terminalreporter.write_line(f"(also written to {path})")
