"""The quiet simulated CI every scene starts from: nothing fails unless a test plants it."""

from __future__ import annotations

import random
import re
from typing import Any

from mozci_monitor.config import SourcesSettings
from mozci_monitor.sim import SimConfig, Simulator
from mozci_monitor.sim.faults import Fault

HISTORY = 8  # pushes of a history CI, all landed and finished before the test starts
_HOOK_TRIGGER = re.compile(r"/api/hooks/v1/hooks/.+/trigger$")


def quiet_ci(broker_url: str | None, **overrides: Any) -> SimConfig:
    """No random failures, no deadline, the clock the test's; `overrides` on top.

    The seed is random unless given: on a broker shared with other test sessions, two
    simulators with the same seed would publish messages for the same task group ids.
    """
    values: dict[str, Any] = {
        "seed": random.randrange(1 << 30),
        "broker_url": broker_url,
        "auto_advance": False,
        "intermittent_rate": 0.0,
        "claim_expired_rate": 0.0,
        "worker_shutdown_rate": 0.0,
        "superseded_rate": 0.0,
        "deadline_exceeded_rate": 0.0,
        "deadline_hours": 240.0,  # no deadline while a test runs, however slow the machine
    }
    values.update(overrides)
    return SimConfig(**values)


def live_push_ci(broker_url: str | None, **overrides: Any) -> SimConfig:
    """Two finished pushes and one that arrives once the clock runs (the scene's `push`)."""
    return quiet_ci(
        broker_url, **{"pushes": 3, "history_pushes": 2, "push_interval": 900.0, **overrides}
    )


def history_ci(broker_url: str | None, **overrides: Any) -> SimConfig:
    """HISTORY pushes, all landed and finished: planted regressions are already in the runs."""
    return quiet_ci(
        broker_url,
        # Two CI hours apart: every push's jobs are done before the next push lands.
        **{"pushes": HISTORY, "history_pushes": HISTORY, "push_interval": 7200.0, **overrides},
    )


def sim_sources(sim: Simulator) -> SourcesSettings:
    """The simulator's Taskcluster, Treeherder and hg, at a rate no test waits on."""
    return SourcesSettings(
        taskcluster_root_url=sim.root_url,
        treeherder_url=sim.treeherder_url,
        hg_url=sim.hg_url,
        taskcluster_rate=500,
    )


class HookGate:
    """Lets hook triggers through while open, answers 429 (try later) while closed.

    A 429 means the server did not act, so the daemon retries later: closing the gate
    holds a campaign in the middle of its actions, for as long as a test needs.
    """

    def __init__(self, sim: Simulator) -> None:
        self.open = True
        self.passed = 0
        self.refused = 0
        self.allowance: int | None = None  # close by itself after this many passed
        self._refusal = Fault(re.compile(".*"), "429", None, retry_after=1.0)
        self._take = sim.faults.take
        sim.faults.take = self._gate  # type: ignore[method-assign]

    def close_after(self, passed: int) -> None:
        self.allowance = passed

    def release(self) -> None:
        self.open, self.allowance = True, None

    def _gate(self, method: str, path: str) -> Fault | None:
        if method == "POST" and _HOOK_TRIGGER.search(path):
            if self.allowance is not None and self.passed >= self.allowance:
                self.open = False
            if not self.open:
                self.refused += 1
                return self._refusal
            self.passed += 1
        return self._take(method, path)
