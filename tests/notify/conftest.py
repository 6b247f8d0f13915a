"""Fixtures shared by the notification sink tests."""

from __future__ import annotations

import pytest
from notify_http_stub import http_stub

from mozci_monitor.notify import Notification

__all__ = ["http_stub"]  # fixture re-exported for the tests of this directory


@pytest.fixture
def notification() -> Notification:
    return Notification(
        key="campaign:c-42.7:finished",
        campaign_id="c-42.7",
        kind="until-fail",
        outcome="gave-up",
        title="until-fail on mochitest-browser-chrome gave up after 20 runs",
        text=(
            "Asked: run test-linux1804-64/opt-mochitest-browser-chrome-1 until it fails.\n"
            "Happened: 20 green runs, budget of 20 retriggers used.\n"
            "Push: https://treeherder.mozilla.org/jobs?repo=autoland&revision=abc123"
        ),
        details={
            "url": "https://treeherder.mozilla.org/jobs?repo=autoland&revision=abc123",
            "runs": 20,
            "failures": 0,
            "tasks": ["TaskA", "TaskB"],
        },
    )
