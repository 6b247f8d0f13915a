"""The stored task-status document is the JSON `core.codec.status_to_json` describes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from core.test_codec import statuses
from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.core.codec import status_from_json, status_to_json
from mozci_monitor.core.messages import parse_status
from mozci_monitor.core.model import TaskStatus
from mozci_monitor.store.dialect import json_text
from mozci_monitor.store.documents import status_document


def _same_text(status: TaskStatus) -> None:
    text = json_text(status_document(status))
    assert text == json_text(status_to_json(status))
    assert status_from_json(json.loads(text)) == status


@settings(max_examples=300, deadline=None)
@given(status=statuses(), worker=st.none() | st.text(max_size=20))
def test_the_document_is_the_codecs_json_text(status: TaskStatus, worker: str | None) -> None:
    # Any text a worker id may hold (escapes, non-ASCII) comes out the same way.
    runs = tuple(replace(run, worker_id=worker) for run in status.runs)
    _same_text(replace(status, runs=runs))


def test_real_statuses_give_the_codecs_json_text(reference_dir: Path) -> None:
    seen = 0
    for path in sorted((reference_dir / "task-groups").glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["tasks"]:
            _same_text(parse_status(entry["status"]))
            seen += 1
    assert seen > 0
