"""`python -m mozci_monitor.sim`."""

from __future__ import annotations

import sys

from mozci_monitor.sim.cli import run_sim

if __name__ == "__main__":
    sys.exit(run_sim(sys.argv[1:]))
