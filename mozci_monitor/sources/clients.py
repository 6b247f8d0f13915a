"""All source clients on one session, each behind its own `PoliteSource`.

A convenience for the daemon's wiring; every piece can also be built alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from .hgmo import PRODUCTION_HG_URL, PushlogClient
from .politeness import Clock, Policy, PoliteSource, Sleep
from .taskcluster import PRODUCTION_ROOT_URL, Credentials, TaskclusterClient
from .treeherder import PRODUCTION_TREEHERDER_URL, TreeherderClient

# Conservative defaults: these are shared public services.
DEFAULT_POLICIES: Mapping[str, Policy] = {
    "taskcluster": Policy(rate_limit=20, period=1.0, max_concurrency=8),
    "treeherder": Policy(rate_limit=5, period=1.0, max_concurrency=4),
    "hgmo": Policy(rate_limit=5, period=1.0, max_concurrency=4),
}


@dataclass(frozen=True)
class SourceSettings:
    taskcluster_root_url: str = PRODUCTION_ROOT_URL
    taskcluster_credentials: Credentials | None = None
    treeherder_url: str = PRODUCTION_TREEHERDER_URL
    hg_url: str = PRODUCTION_HG_URL
    policies: Mapping[str, Policy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))


@dataclass(frozen=True)
class SourceClients:
    taskcluster: TaskclusterClient
    treeherder: TreeherderClient
    hgmo: PushlogClient

    @property
    def gates(self) -> dict[str, PoliteSource]:
        """Each source's gate, for metrics (`meter`, `max_observed_rate`) and health."""
        return {
            "taskcluster": self.taskcluster.gate,
            "treeherder": self.treeherder.gate,
            "hgmo": self.hgmo.gate,
        }


def create_clients(
    session: aiohttp.ClientSession,
    settings: SourceSettings | None = None,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> SourceClients:
    settings = settings or SourceSettings()

    def gate(name: str) -> PoliteSource:
        policy = settings.policies.get(name) or DEFAULT_POLICIES[name]
        return PoliteSource(name, policy, clock=clock, sleep=sleep)

    return SourceClients(
        taskcluster=TaskclusterClient(
            session,
            gate("taskcluster"),
            root_url=settings.taskcluster_root_url,
            credentials=settings.taskcluster_credentials,
        ),
        treeherder=TreeherderClient(session, gate("treeherder"), base_url=settings.treeherder_url),
        hgmo=PushlogClient(session, gate("hgmo"), base_url=settings.hg_url),
    )
