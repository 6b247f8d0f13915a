"""Planted cases with a known right answer, chosen from a random seed's schedule.

A push schedules about 70% of the test labels, so whether a label ran on a push depends
on the seed. Each chooser reads the schedule first (`schedule`), picks a label and pushes
that make the case what the test wants (a push to fill before the culprit, ...), then
plants the regression; the seed is tried again until such a label exists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from support.ci import HISTORY, history_ci
from support.scene import Scene

from mozci_monitor.sim import Regression, SimConfig
from sheriff.harness import schedule


@dataclass(frozen=True)
class PlantedRegression:
    """`label` fails for good from push `culprit` on (push indexes, oldest first)."""

    config: SimConfig
    label: str
    culprit: int
    failing: int  # the newest push where the label ran: it failed, backfill starts there
    ran: tuple[int, ...]  # pushes where the label ran before any campaign
    last_good: int  # the newest push before the culprit where it ran (and passed)
    to_fill: tuple[int, ...]  # pushes between last_good and failing where it did not run


def backfill_command(sc: Scene, case: PlantedRegression) -> list[str]:
    """The CLI's `backfill` of the planted label from the newest push where it failed."""
    failing = sc.pushes[case.failing].revision
    return ["backfill", "--repo", sc.repo, "--revision", failing, "--label", case.label]


def _tests(labels: frozenset[str]) -> list[str]:
    return sorted(label for label in labels if label.startswith("test-"))


def plant_regression(
    broker_url: str,
    *,
    min_fill: int = 1,
    culprit_ran: bool | None = None,
    spare_fill: bool = False,
    **overrides: Any,
) -> PlantedRegression:
    """A permanent regression whose culprit's previous push did not run the label.

    Backfill must fill that push (and any other not-run push after the last good one) to
    find that the label still passed there: the answer is then exactly last good =
    culprit - 1, first bad = culprit. `culprit_ran` also asks whether the label ran on
    the culprit itself (None: either); `spare_fill` wants a push to fill that is neither
    the culprit nor the one before it (a push the answer does not depend on).
    """
    rng = random.Random()
    for _ in range(200):
        config = history_ci(broker_url, seed=rng.randrange(1 << 30), **overrides)
        pushes = schedule(config)
        for label in _tests(pushes[0].union(*pushes)):
            ran = tuple(i for i, labels in enumerate(pushes) if label in labels)
            for culprit in range(2, HISTORY):
                if not ran or ran[-1] < culprit or (culprit - 1) in ran:
                    continue
                if culprit_ran is not None and (culprit in ran) != culprit_ran:
                    continue
                before = [i for i in ran if i < culprit - 1]
                if not before:
                    continue
                last_good, failing = before[-1], ran[-1]
                to_fill = tuple(i for i in range(last_good + 1, failing) if i not in ran)
                if len(to_fill) < min_fill:
                    continue
                if spare_fill and not set(to_fill) - {culprit - 1, culprit}:
                    continue
                planted = Regression(label, culprit)
                return PlantedRegression(
                    config=replace(config, regressions=(planted,)),
                    label=label,
                    culprit=culprit,
                    failing=failing,
                    ran=ran,
                    last_good=last_good,
                    to_fill=to_fill,
                )
    raise AssertionError("no seed gave a label for this case")


@dataclass(frozen=True)
class BrokenFromTheStart:
    """`label` fails on every push: it never passed."""

    config: SimConfig
    label: str
    failing: int
    ran: tuple[int, ...]


def plant_never_passed(broker_url: str) -> BrokenFromTheStart:
    rng = random.Random()
    for _ in range(200):
        config = history_ci(broker_url, seed=rng.randrange(1 << 30))
        pushes = schedule(config)
        for label in _tests(pushes[0].union(*pushes)):
            ran = tuple(i for i, labels in enumerate(pushes) if label in labels)
            # the newest push ran it, and some push before did not (something to fill)
            if ran and ran[-1] == HISTORY - 1 and len(ran) < HISTORY - 1:
                planted = Regression(label, 0)
                return BrokenFromTheStart(
                    config=replace(config, regressions=(planted,)),
                    label=label,
                    failing=HISTORY - 1,
                    ran=ran,
                )
    raise AssertionError("no seed gave a label for this case")


@dataclass(frozen=True)
class PlantedRateRise:
    """`label` fails at `rate` from push `culprit` on, never before."""

    config: SimConfig
    label: str
    culprit: int
    rate: float
    ran: tuple[int, ...]


def plant_rate_rise(broker_url: str, *, culprit: int, rate: float) -> PlantedRateRise:
    """Any label will do: existing runs count, missing ones are added."""
    config = history_ci(broker_url)
    pushes = schedule(config)
    label = _tests(pushes[culprit])[0]
    ran = tuple(i for i, labels in enumerate(pushes) if label in labels)
    planted = Regression(label, culprit, rate=rate)
    return PlantedRateRise(
        config=replace(config, regressions=(planted,)),
        label=label,
        culprit=culprit,
        rate=rate,
        ran=ran,
    )
