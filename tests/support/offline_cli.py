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


def every_push_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    async def agrees(params: Any, pushlog: Any, queue: Any) -> Any:
        return params

    monkeypatch.setattr(campaigns, "checked_params", agrees)
