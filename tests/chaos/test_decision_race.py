"""A watch recorded before its push's decision task is done must not wait for the timer.

The catch-up that follows a new binding lists the task group; when the decision task is not
done yet (or the group does not exist yet), the checks that need the push's graph (runs
missing, labels never scheduled) cannot run. The decision task's completion, seen on Pulse,
must run them at once, not the reconcile timer (`daemon.reconcile_interval`, 300 s by
default). Found by this suite; fixed in 24cfe17.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker import RabbitMQ
from support.waiting import until

from chaos.rig import Knobs, Watched, rig

pytestmark = [pytest.mark.rabbitmq, pytest.mark.chaos]


async def test_remedies_follow_the_decision_task_not_the_reconcile_timer(
    rabbitmq: RabbitMQ, queue: str, tmp_path: Path
) -> None:
    async with rig(rabbitmq.url, queue, tmp_path, knobs=Knobs(reconcile_interval=300.0)) as r:
        sc = r.sc
        pairs = [
            sc.watch(sc.scheduled_tests[0], wanted=3),  # 1 run scheduled: retrigger 2
            sc.watch(sc.unscheduled_tests()[0]),  # optimised away: add-new-jobs
        ]
        r.watched = [Watched(c, q) for c, q in pairs]
        run = await r.start()
        r.register()  # before the push arrives, as one does right after pushing
        await until(lambda: bool(run.events("bindings changed")), "the queue bound")
        await until(lambda: bool(run.events("cannot list task group")), "catch-up: no group yet")
        r.go()
        await until(r.decision_done, "the decision task done")
        group = sc.push.task_group_id
        await until(
            lambda: (
                (record := sc.reader.get_task(group)) is not None
                and record.phase.value == "completed"
            ),
            "the daemon saw the decision task complete (Pulse)",
        )
        # Well within the 300 s timer (the wait's bound is a fifth of it): both remedies
        # performed, both campaigns finished.
        await r.until_finished()
        assert sc.sim.stats.hook_triggers == {"retrigger-multiple": 1, "add-new-jobs": 1}
