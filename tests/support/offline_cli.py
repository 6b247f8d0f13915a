"""For CLI tests that exercise the store and what is printed, with no Firefox CI to ask.

Campaign commands check each submission against its push through the configured sources
(`mozci_monitor.push_check`, tested over the simulator in tests/sim/test_push_check.py
and tests/sheriff/test_*push_check.py). Tests of the store and of the output use made-up
pushes and must not reach the network: there, every push agrees with its submission.
"""

from __future__ import annotations

from typing import Any

import pytest

from mozci_monitor import campaigns

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"  # the made-up push's revision


def watch_argv(group: str, label: str, *options: str) -> list[str]:
    """`watch` of `label` on the made-up autoland push of task group `group`, then `options`."""
    return [
        "watch", "--repo", "autoland", "--revision", REVISION, "--task-group", group,
        "--label", label, *options,
    ]  # fmt: skip


def every_push_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    async def agrees(params: Any, pushlog: Any, queue: Any) -> Any:
        return params

    monkeypatch.setattr(campaigns, "checked_params", agrees)
