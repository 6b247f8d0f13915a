"""Which project (repository) a push belongs to, as its decision task says.

A submission names its repository, and the per-repository daily budget is keyed by that
name; the name must therefore be the push's own. The decision task (its id is the task
group's) is indexed under its project and reports to Treeherder under it:

    index.gecko.v2.<project>.revision.<revision>.taskgraph.decision
    tc-treeherder.v2.<project>.<revision>.<push id>
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_INDEX_ROUTE = re.compile(
    r"^index\.[a-z0-9_-]+\.v2\.(?P<project>[A-Za-z0-9._-]+?)\.revision\.[0-9a-f]{12,40}"
    r"\.taskgraph\.decision$"
)
_TREEHERDER_ROUTE = re.compile(
    r"^tc-treeherder\.v2\.(?P<project>[A-Za-z0-9_-]+)\.[0-9a-f]{12,40}\."
)


def project_of_decision_task(definition: Mapping[str, Any]) -> str | None:
    """The project the decision task's routes name, or None when they name none (or
    disagree, which no real decision task does)."""
    routes = definition.get("routes")
    if not isinstance(routes, list):
        return None
    found = set()
    for route in routes:
        if not isinstance(route, str):
            continue
        match = _INDEX_ROUTE.match(route) or _TREEHERDER_ROUTE.match(route)
        if match:
            found.add(match.group("project"))
    return found.pop() if len(found) == 1 else None
