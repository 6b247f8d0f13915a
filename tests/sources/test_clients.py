"""create_clients wires every source on one session with its own gate."""

from __future__ import annotations

from mozci_monitor.sources import (
    USER_AGENT,
    Policy,
    SourceSettings,
    create_clients,
    create_session,
)


async def test_create_clients_gives_each_source_its_own_policy(clock):
    settings = SourceSettings(
        taskcluster_root_url="https://tc.example",
        treeherder_url="https://th.example/",
        hg_url="https://hg.example",
        policies={"treeherder": Policy(rate_limit=2)},
    )
    async with create_session() as session:
        assert session.headers["User-Agent"] == USER_AGENT
        clients = create_clients(session, settings, clock=clock, sleep=clock.sleep)
        gates = clients.gates
        assert set(gates) == {"taskcluster", "treeherder", "hgmo"}
        assert gates["treeherder"].policy.rate_limit == 2
        assert gates["taskcluster"].policy.rate_limit == 20  # default kept
        assert len({id(g) for g in gates.values()}) == 3
        assert clients.treeherder.base_url == "https://th.example"
        assert clients.taskcluster.root_url == "https://tc.example"
        assert not clients.taskcluster.has_credentials
