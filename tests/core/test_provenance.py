"""The project a push belongs to, read from its decision task's routes."""

from __future__ import annotations

from typing import Any

import pytest

from mozci_monitor.core.provenance import project_of_decision_task

REV = "219d38523a321229f7f48aca6592f76b993fb1aa"


@pytest.mark.parametrize(
    ("routes", "project"),
    [
        (
            [
                "index.gecko.v2.autoland.latest.taskgraph.decision",
                f"index.gecko.v2.autoland.revision.{REV}.taskgraph.decision",
                f"tc-treeherder.v2.autoland.{REV}.88565",
            ],
            "autoland",
        ),
        # as a real decision task of try has it (task group FG3goVnCQfif8ZEOaM_4IA)
        (
            [
                "index.gecko.v2.try.revision.066cb18ba95a7efe144e729713c429e422d9f95b.taskgraph.decision"
            ],
            "try",
        ),
        ([f"index.gecko.v2.mozilla-central.revision.{REV}.taskgraph.decision"], "mozilla-central"),
        ([f"tc-treeherder.v2.try.{REV}.12"], "try"),
        (["index.gecko.v2.autoland.latest.taskgraph.decision"], None),  # no revision route
        ([f"tc-treeherder.v2.autoland.{REV}.1", f"tc-treeherder.v2.try.{REV}.1"], None),
        ([], None),
        ("not a list", None),
        ([42, None], None),
    ],
)
def test_project_from_routes(routes: Any, project: str | None) -> None:
    assert project_of_decision_task({"routes": routes}) == project


def test_no_routes_no_project() -> None:
    assert project_of_decision_task({}) is None
