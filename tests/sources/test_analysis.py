"""Concurrent revision analysis whose log reads in descending push-ID order."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mozci_monitor.sources.analysis import Outcome, analyse_revisions
from mozci_monitor.sources.models import Push
from mozci_monitor.sources.politeness import Policy, PoliteSource


def push(push_id: int) -> Push:
    return Push(id=push_id, revision=f"{push_id:040x}", date=0, user="u", changesets=())


class Gated:
    """analyse_one whose completions the test releases one push at a time."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.started: set[int] = set()
        self.gates: dict[int, asyncio.Event] = {}

    async def __call__(self, p: Push) -> str:
        self.started.add(p.id)
        gate = self.gates.setdefault(p.id, asyncio.Event())
        await gate.wait()
        self.events.append(f"done {p.id}")
        if p.id == 13:
            raise RuntimeError("treeherder said no")
        return f"summary {p.id}"

    async def release(self, push_id: int) -> None:
        self.gates.setdefault(push_id, asyncio.Event()).set()
        for _ in range(5):
            await asyncio.sleep(0)


async def test_log_is_newest_first_as_soon_as_possible_despite_out_of_order_completion():
    events: list[str] = []
    analyse = Gated(events)

    def log(outcome: Outcome[Push, str]) -> None:
        events.append(f"log {outcome.push.id}")

    pushes = [push(i) for i in (11, 15, 12, 14, 13)]  # any input order
    run = asyncio.create_task(analyse_revisions(pushes, analyse, log=log))
    for _ in range(5):
        await asyncio.sleep(0)
    assert analyse.started == {11, 12, 13, 14, 15}, "all analyses run concurrently"

    for push_id in (13, 15, 11, 14, 12):
        await analyse.release(push_id)
    outcomes = await run

    assert events == [
        "done 13",
        "done 15",
        "log 15",  # newest, logged at once
        "done 11",
        "done 14",
        "log 14",
        "log 13",  # waited for 14
        "done 12",
        "log 12",
        "log 11",  # waited for 12
    ]
    assert [o.push.id for o in outcomes] == [15, 14, 13, 12, 11]
    failed = outcomes[2]
    assert not failed.ok
    assert isinstance(failed.error, RuntimeError)
    assert failed.summary is None
    assert outcomes[0].summary == "summary 15"


@settings(max_examples=50, deadline=None)
@given(st.permutations(list(range(8))))
def test_any_completion_order_logs_descending_exactly_once(order):
    async def scenario():
        logged: list[int] = []
        done: set[int] = set()
        gates = {i: asyncio.Event() for i in range(8)}

        async def analyse(p):
            await gates[p.id].wait()
            done.add(p.id)
            return p.id

        def log(outcome):
            # Everything newer than this push is finished by the time it is logged.
            assert all(i in done for i in range(outcome.push.id, 8))
            logged.append(outcome.push.id)

        run = asyncio.create_task(analyse_revisions([push(i) for i in range(8)], analyse, log=log))
        for i in order:
            gates[i].set()
            await asyncio.sleep(0)
        await run
        assert logged == list(range(7, -1, -1))

    asyncio.run(scenario())


async def test_max_concurrency_bounds_running_analyses():
    running = 0
    peak = 0

    async def analyse(p):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return None

    outcomes = await analyse_revisions(
        [push(i) for i in range(10)], analyse, log=lambda o: None, max_concurrency=3
    )
    assert len(outcomes) == 10
    assert peak == 3


async def test_analyses_share_the_sources_throttle(clock):
    gate = PoliteSource(
        "treeherder", Policy(rate_limit=4, period=1.0), clock=clock, sleep=clock.sleep
    )

    async def analyse(p):
        # Each revision costs three requests to the same source.
        for _ in range(3):
            await gate.call(lambda: asyncio.sleep(0), url="https://th.example/api/jobs/")
        return p.id

    outcomes = await analyse_revisions([push(i) for i in range(10)], analyse, log=lambda o: None)
    assert [o.summary for o in outcomes] == list(range(9, -1, -1))
    assert gate.meter.total == 30
    assert gate.max_observed_rate() <= 4


async def test_duplicate_push_ids_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        await analyse_revisions([push(1), push(1)], lambda p: asyncio.sleep(0), log=print)


async def test_empty_range():
    assert await analyse_revisions([], lambda p: asyncio.sleep(0), log=print) == []
