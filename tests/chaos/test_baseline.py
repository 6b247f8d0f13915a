"""The fault-free reference run (also the warm-up: the first chaos test pays for it)."""

from __future__ import annotations

import pytest

from chaos.rig import Outcome

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


def test_the_fault_free_run_performs_each_remedy_once(baseline: Outcome) -> None:
    assert baseline.notifications == len(baseline.campaigns)
