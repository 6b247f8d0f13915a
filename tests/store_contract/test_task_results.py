"""Per-run test results on both dialects: what a campaign needs (the parsed errorsummary's
plain-data form), written once, read back equal, pruned with their task."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.pulse_builder import OTHER_GROUP, FakeTask, make_request, slug

from mozci_monitor.core.errorsummary import (
    parse_errorsummary,
    summary_from_json,
    summary_to_json,
)
from mozci_monitor.core.machine import observe
from mozci_monitor.core.model import RequestState
from mozci_monitor.ports.store import RetentionPolicy, TaskResultsStore
from store_contract.conftest import AnyStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "errorsummary"
AT = "2026-11-22T12:00:00.000Z"
LONG_AGO = "2026-10-01T00:00:00.000Z"


def results(name: str) -> dict[str, Any]:
    return summary_to_json(parse_errorsummary((FIXTURES / name).read_bytes()))


def test_results_round_trip_and_the_first_write_wins(store: AnyStore) -> None:
    port: TaskResultsStore = store
    summary = parse_errorsummary(
        (FIXTURES / "mozlog_generated_dump_all_errorsummary.log").read_bytes()
    )
    assert port.put_task_results("T1", 0, "errorsummary", summary_to_json(summary), AT)
    assert not port.put_task_results(
        "T1", 0, "treeherder", results("mozci_task_groups_errorsummary.log"), AT
    )
    stored = port.task_results("T1", 0)
    assert stored is not None
    source, data = stored
    assert source == "errorsummary"
    assert summary_from_json(data) == summary
    assert port.task_results("T1", 1) is None
    assert port.task_results("T2", 0) is None


def test_a_nul_in_a_message_does_not_stop_the_write(store: AnyStore) -> None:
    summary = parse_errorsummary(
        '{"action": "test_result", "test": "a.js", "status": "FAIL", "expected": "PASS",'
        ' "message": "got \\u0000 here"}'
    )
    assert store.put_task_results("T3", 0, "errorsummary", summary_to_json(summary), AT)
    stored = store.task_results("T3", 0)
    assert stored is not None
    assert summary_from_json(stored[1]).failing_tests == {"a.js"}


def test_results_go_when_their_task_is_pruned(store: AnyStore) -> None:
    gone, kept = slug(500), slug(501)
    with store.transaction():
        store.add_request(
            make_request("done", group=OTHER_GROUP, state=RequestState.COMPLETED), LONG_AGO
        )
        for task_id, at in ((gone, LONG_AGO), (kept, AT)):
            event = FakeTask(task_id, group=OTHER_GROUP).pending().event()
            store.save_task(observe(None, event.status, event.label).record, at)
            store.put_task_results(
                task_id, 0, "errorsummary", results("mozci_failure_types_errorsummary.log"), at
            )
        store.put_task_results(
            "never-stored", 0, "treeherder", results("mozci_failure_types_errorsummary.log"), AT
        )
    policy = RetentionPolicy(rejected_days=7, rejected_max_rows=3, finished_task_days=14, batch=10)
    report = store.prune(policy, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert report.deleted == {"tasks": 1, "task_results": 2}
    assert store.task_results(gone, 0) is None
    assert store.task_results("never-stored", 0) is None
    assert store.task_results(kept, 0) is not None
