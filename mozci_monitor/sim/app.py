"""The one aiohttp application serving Taskcluster, hg and Treeherder."""

from __future__ import annotations

from aiohttp import web

from mozci_monitor.sim import http_hg, http_taskcluster, http_treeherder
from mozci_monitor.sim.context import SimContext
from mozci_monitor.sim.faults import FaultInjector
from mozci_monitor.sim.http_taskcluster import CTX


def build_app(context: SimContext, faults: FaultInjector) -> web.Application:
    # Faults first so an injected 500 never reaches (or changes) the simulated state.
    app = web.Application(middlewares=[faults.middleware(), http_taskcluster.queue_errors])
    app[CTX] = context
    http_taskcluster.add_routes(app)
    http_hg.add_routes(app)
    http_treeherder.add_routes(app)
    return app
