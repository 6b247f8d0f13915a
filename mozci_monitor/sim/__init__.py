"""A deterministic local Firefox CI: Taskcluster, hg pushlog, Treeherder and Pulse.

    from mozci_monitor.sim import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=1, repo="autoland", broker_url="memory://"))
    await sim.start()                 # serves HTTP on 127.0.0.1, opens the broker
    sim.root_url                      # taskcluster.aio.Queue({"rootUrl": sim.root_url}) etc.
    sim.hg_url                        # {hg_url}/autoland/json-pushes?version=2
    sim.treeherder_url                # {treeherder_url}/api/project/autoland/push/?revision=
    sim.pushes, sim.stats, sim.hook_triggers, sim.notifications
    await sim.stop()

Time: `auto_advance=True` runs CI time at `time_scale` wall seconds per CI hour (demo);
tests pass `auto_advance=False` and call `await sim.advance(seconds)` or
`await sim.run_until_idle()`; the same seed and steps give the same messages and state.
Scenario knobs: `SimConfig` rates, `Regression`, `ForcedOutcome`, `sim.force_outcome()`,
`sim.faults.add(...)` for REST faults. `simulated_messages(config)` and `PulsePublisher`
produce and publish real-format Pulse messages without the HTTP server.
"""

from mozci_monitor.sim.cli import run_sim
from mozci_monitor.sim.config import ForcedOutcome, Outcome, Regression, SimConfig
from mozci_monitor.sim.faults import FaultInjector
from mozci_monitor.sim.publisher import PulsePublisher
from mozci_monitor.sim.pulse_messages import (
    PulseMessage,
    build_message,
    routing_key,
    simulated_messages,
)
from mozci_monitor.sim.simulator import SimStats, Simulator
from mozci_monitor.sim.world import Push, SimTask, Transition

__all__ = [
    "FaultInjector",
    "ForcedOutcome",
    "Outcome",
    "PulseMessage",
    "PulsePublisher",
    "Push",
    "Regression",
    "SimConfig",
    "SimStats",
    "SimTask",
    "Simulator",
    "Transition",
    "build_message",
    "routing_key",
    "run_sim",
    "simulated_messages",
]
