"""SimConfig.optimised_away: chosen labels left out of chosen pushes, the rest unchanged."""

from __future__ import annotations

from mozci_monitor.sim.config import SimConfig
from mozci_monitor.sim.world import World


def test_a_label_is_optimised_away_on_the_pushes_named_and_nothing_else_moves() -> None:
    plain = World(SimConfig(seed=3, pushes=8, history_pushes=8, broker_url=None))
    # A label the seed schedules on push 2 and on push 5.
    label = next(
        label
        for label in plain.pushes[2].scheduled_labels
        if label.startswith("test-") and label in plain.pushes[5].scheduled_labels
    )
    skipping = World(
        SimConfig(seed=3, pushes=8, history_pushes=8, broker_url=None, optimised_away=((label, 2),))
    )
    assert label not in skipping.pushes[2].scheduled_labels
    assert label in skipping.pushes[5].scheduled_labels
    expected = [[x for x in p.scheduled_labels if (x, p.index) != (label, 2)] for p in plain.pushes]
    assert [p.scheduled_labels for p in skipping.pushes] == expected
    assert [p.revision for p in skipping.pushes] == [p.revision for p in plain.pushes]
