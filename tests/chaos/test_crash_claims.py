"""Outbox entries claimed by a daemon that was killed must not wait out their lease.

With the default `[store] instance` the owner of a claim is `<hostname>-<pid>`: a daemon
restarted after kill -9 is another owner, and the entries the dead process had claimed
(an action failing and awaiting its retry, a notification about to be sent) stay the dead
process's for `lease_seconds` (300 s by default). Found by the kill -9 scenario, where a
campaign's notification sometimes waited out the lease.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker import RabbitMQ
from support.waiting import until

from chaos.rig import Watched, rig
from chaos.test_dependencies import HOOK_TRIGGER

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


async def test_actions_claimed_by_a_killed_daemon_are_taken_over_at_restart(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path) as r:
        sc = r.sc
        failing = sc.sim.faults.add(HOOK_TRIGGER, "500", count=None, method="POST")
        campaign, request = sc.watch(sc.unscheduled_tests()[0])  # add-new-jobs at catch-up
        r.watched = [Watched(campaign, request)]
        run = await r.start()
        await r.launch(run)
        await until(lambda: failing.hits >= 1, "the action claimed and attempted")
        await r.kill()
        sc.sim.faults.clear()  # the source recovers while the daemon is down
        await r.start()
        r.go()
        await r.until_finished(within=30.0)
        assert sc.sim.stats.hook_triggers == {"add-new-jobs": 1}
