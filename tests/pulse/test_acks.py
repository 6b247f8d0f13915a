"""Multiple acks cover only a prefix of the unsettled deliveries that are all being acked."""

from __future__ import annotations

import pytest

from mozci_monitor.pulse._acks import AckPlan, Unsettled


def _unsettled(*tags: int | str) -> Unsettled:
    unsettled = Unsettled()
    for tag in tags:
        unsettled.delivered(tag)
    return unsettled


@pytest.mark.parametrize(
    ("delivered", "acked", "expected", "left"),
    [
        pytest.param([1, 2, 3], [1, 2, 3], AckPlan(3, ()), 0, id="whole-window-one-frame"),
        pytest.param([1, 2, 3, 4, 5], [1, 2, 3], AckPlan(3, ()), 2, id="prefetched-rest-stays"),
        pytest.param([1, 2, 3, 4], [3, 4], AckPlan(None, (3, 4)), 2, id="earlier-batch-not-done"),
        pytest.param([1, 2, 3, 4], [1, 2, 4], AckPlan(2, (4,)), 1, id="hole-splits"),
        pytest.param([1, 2], [1], AckPlan(None, (1,)), 1, id="one-tag-no-multiple"),
        pytest.param([1, 2, 3], [3, 1, 2], AckPlan(3, ()), 0, id="acked-out-of-order"),
        pytest.param(["a", "b"], ["a", "b"], AckPlan(None, ("a", "b")), 0, id="string-tags"),
        pytest.param([], [7], AckPlan(None, (7,)), 0, id="unknown-tag-acked-alone"),
    ],
)
def test_plan(
    delivered: list[int | str], acked: list[int | str], expected: AckPlan, left: int
) -> None:
    unsettled = _unsettled(*delivered)
    assert unsettled.plan(acked) == expected
    assert len(unsettled) == left


def test_a_rejected_delivery_no_longer_blocks_the_prefix() -> None:
    unsettled = _unsettled(1, 2, 3)
    assert unsettled.plan([2, 3]) == AckPlan(None, (2, 3))
    unsettled.rejected(1)
    assert len(unsettled) == 0
    unsettled.delivered(4)
    unsettled.delivered(5)
    assert unsettled.plan([4, 5]) == AckPlan(5, ())


def test_batches_acked_in_turn_each_take_one_frame() -> None:
    unsettled = _unsettled(*range(1, 11))
    assert unsettled.plan([1, 2, 3, 4]) == AckPlan(4, ())
    assert unsettled.plan([5, 6, 7]) == AckPlan(7, ())
    assert unsettled.plan([8, 9, 10]) == AckPlan(10, ())
    assert len(unsettled) == 0
