"""Links to Treeherder and the Taskcluster UI, as a table."""

from __future__ import annotations

import pytest

from mozci_monitor.core.links import Links

LINKS = Links("https://treeherder.example.org/", "https://tc.example.org/")
REV = "219d38523a321229f7f48aca6592f76b993fb1aa"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            LINKS.push("autoland", REV),
            f"https://treeherder.example.org/jobs?repo=autoland&revision={REV}",
        ),
        (
            LINKS.task_run("autoland", REV, "fQ1YvXN1SDG4IWQyLPAUMQ", 2),
            f"https://treeherder.example.org/jobs?repo=autoland&revision={REV}"
            "&selectedTaskRun=fQ1YvXN1SDG4IWQyLPAUMQ-2",
        ),
        (
            LINKS.task("fQ1YvXN1SDG4IWQyLPAUMQ"),
            "https://tc.example.org/tasks/fQ1YvXN1SDG4IWQyLPAUMQ",
        ),
        (
            LINKS.task_group("Grp_-1"),
            "https://tc.example.org/tasks/groups/Grp_-1",
        ),
        # Whatever a stored value holds cannot leave its place in the URL.
        (
            LINKS.push("a&b=c", "x y"),
            "https://treeherder.example.org/jobs?repo=a%26b%3Dc&revision=x+y",
        ),
        (LINKS.task("../x?y"), "https://tc.example.org/tasks/..%2Fx%3Fy"),
    ],
)
def test_links(url: str, expected: str) -> None:
    assert url == expected


def test_defaults_are_mozillas_production_sites() -> None:
    assert Links().push("try", "abc") == "https://treeherder.mozilla.org/jobs?repo=try&revision=abc"
    assert Links().task("T") == "https://firefox-ci-tc.services.mozilla.com/tasks/T"
