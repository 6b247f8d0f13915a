"""A deterministic local Firefox CI: Taskcluster, hg pushlog, Treeherder and Pulse.

from mozci_monitor.sim import SimConfig, Simulator
sim = Simulator(SimConfig(seed=1, repo="autoland", broker_url="memory://"))
await sim.start()
...  # sim.root_url, sim.hg_url, sim.treeherder_url, sim.pushes, sim.stats
await sim.stop()
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
