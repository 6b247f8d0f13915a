"""Three daemons on one Pulse queue and one PostgreSQL store, one of them killed mid-way.

The simulator (in this process) plays Firefox CI on the real RabbitMQ; each daemon is its
own process (tests/scaleout/daemon_process.py: the production Daemon on a PostgresStore,
performing the outbox through claims), so one can be killed with SIGKILL while it holds
unacked messages and claimed outbox entries. The same campaigns (every watch remedy,
downstream, fill, a backfill across pushes) run once with a single daemon and once with
three; the final states
must be the same, and the simulator must have seen every intent exactly once: no action
and no notification twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kombu
import pytest
from broker import RabbitMQ, unique_queue_name
from pg import PostgresServer
from support.ci import quiet_ci, sim_sources
from support.clock import SimClock, running
from support.daemon import SHERIFF
from support.waiting import until

from mozci_monitor import planner
from mozci_monitor.clock import utc_now
from mozci_monitor.config import Settings
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.demo import BACKFILL_LABEL, REGRESSION_PUSH
from mozci_monitor.engine import Engine
from mozci_monitor.sim import Regression, SimConfig, SimTask, Simulator
from mozci_monitor.store.postgres import PostgresStore
from mozci_monitor.wiring import build_services

pytestmark = pytest.mark.rabbitmq

WITHIN = 120.0  # seconds a whole campaign set may take before the test fails
LEASE_SECONDS = 10.0  # one attempt (renewed at its start) must fit; the killed one waits this
DAEMON_SCRIPT = Path(__file__).with_name("daemon_process.py")


@dataclass
class Outcome:
    """What a run ended with, in terms that do not depend on ids or timing."""

    campaigns: list[tuple[str, str, str, str | None]]  # title, kind, state, outcome
    requests: list[tuple[str, str, str, str | None]]  # title, label, state, failure
    outbox: dict[str, int]  # done entries per kind (notify included)
    failed_entries: list[str]
    hook_triggers: dict[str, int]
    action_calls: dict[tuple[str, str], int]
    reruns: int
    notifications: list[str]  # subjects of the mails the simulator received
    killed: bool = False
    performed_by: dict[str, int] = field(default_factory=dict)  # owner -> actions done
    confirmed_in_doubt: int = 0  # entries a survivor found already performed by the killed one


def _sim_config(seed: int, broker_url: str) -> SimConfig:
    return quiet_ci(
        broker_url,
        seed=seed,
        pushes=REGRESSION_PUSH + 4,
        history_pushes=REGRESSION_PUSH + 3,
        push_interval=7200.0,  # every history push has finished (the live one: 2 s in)
        regressions=(Regression(BACKFILL_LABEL, REGRESSION_PUSH),),
    )


def _watch(
    push: Push, title: str, label: str, times: int
) -> tuple[str, Campaign, tuple[Request, ...]]:
    campaign_id = "c-" + secrets.token_hex(4)
    campaign = Campaign(campaign_id, CampaignKind.WATCH, push, label=label, params={"times": times})
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=label,
        wanted=times,
        remedy=RemedyPolicy.WATCH,
        max_actions=3,
    )
    return title, campaign, (request,)


async def _scenarios(
    sim: Simulator,
) -> tuple[list[tuple[str, Campaign, tuple[Request, ...]]], Any]:
    """Every watch remedy and a downstream campaign (as the demo plants them) and a fill,
    on the push about to arrive, and a backfill over the history pushes (a campaign
    spanning several task groups).

    The watched tests are kept clear of the downstream build: a coalesced test of that
    build counts as missing only if it coalesced before its build completed — a race that
    has nothing to do with how many daemons run.
    """
    world_push = next(p for p in sim.world.pushes if not p.arrived)
    push = Push(sim.config.repo, world_push.revision, world_push.task_group_id)
    graph = {label: sim.world.graph.dependencies(label) for label in sim.world.graph.specs}
    scheduled = list(world_push.scheduled_labels)
    unscheduled = sorted(
        label
        for label in graph
        if label.startswith("test-") and label not in scheduled and label != BACKFILL_LABEL
    )
    builds = [label for label in scheduled if label.startswith("build-")]
    build = max(
        builds, key=lambda b: sum(1 for label in unscheduled if graph[label].get("build") == b)
    )
    elsewhere = [
        label
        for label in scheduled
        if label.startswith("test-")
        and label != BACKFILL_LABEL
        and graph[label].get("build") != build
    ]
    missing = next(label for label in unscheduled if graph[label].get("build") != build)
    planted = {elsewhere[1]: "internal-error", elsewhere[2]: "superseded"}
    downstream_id = "c-" + secrets.token_hex(4)
    scenarios = [
        _watch(push, "3 runs wanted, 1 scheduled: retrigger", elsewhere[0], 3),
        _watch(push, "infrastructure exception: rerun", elsewhere[1], 1),
        _watch(push, "coalesced: schedule again", elsewhere[2], 1),
        _watch(push, "never scheduled: add it", missing, 1),
        (
            f"downstream of {build}",
            Campaign(downstream_id, CampaignKind.DOWNSTREAM, push, label=build),
            (
                Request(
                    request_id=f"{downstream_id}-build",
                    push=push,
                    label=build,
                    remedy=RemedyPolicy.WATCH,
                    max_actions=3,
                ),
            ),
        ),
    ]
    watched = [*elsewhere[:3], missing, build]
    watched += [label for label, deps in graph.items() if deps.get("build") == build]
    fill = planner.plan_fill(
        push, include=["xpcshell"], exclude=[re.escape(label) for label in watched]
    )
    scenarios.append(("fill xpcshell", fill.campaign, fill.requests))
    scenarios.append(await _backfill(sim))

    def plant(decision: SimTask) -> None:
        if decision.push is not world_push:
            return
        for label, outcome in planted.items():
            sim.force_outcome(world_push.label_to_taskid[label], 0, outcome)

    sim.world.decision_listeners.append(plant)
    return scenarios, world_push


def _newest_failing_push(sim: Simulator) -> Any:
    """The newest history push where the planted regression shows (None: not scheduled)."""
    return next(
        (
            p
            for p in reversed([p for p in sim.world.pushes if p.arrived])
            if any(
                t.runs and t.runs[-1]["state"] == "failed" for t in sim.tasks_of(p, BACKFILL_LABEL)
            )
        ),
        None,
    )


def _seed_with_a_regression(broker_url: str) -> int:
    """A random seed (the broker is shared: our own task group ids) whose history shows the
    regression: the label is scheduled on only some pushes."""
    for _ in range(50):
        seed = random.randrange(1 << 30)
        if _newest_failing_push(Simulator(_sim_config(seed, broker_url))) is not None:
            return seed
    raise AssertionError("no seed in 50 scheduled the regressed label after the regression")


async def _backfill(sim: Simulator) -> tuple[str, Campaign, tuple[Request, ...]]:
    """Backfill the planted regression from the newest history push where it failed."""
    failing = _newest_failing_push(sim)
    assert failing is not None
    services = build_services(Settings(sources=sim_sources(sim)))
    try:
        assert services.pushlog is not None
        plan = await planner.plan_backfill(
            services.pushlog,
            services.taskcluster,
            repo=sim.config.repo,
            revision=failing.revision,
            label=BACKFILL_LABEL,
            max_revisions=failing.index,
        )
    finally:
        for close in services.closers:
            await close()
    return (f"backfill {BACKFILL_LABEL}", plan.campaign, plan.requests)


class _Daemons:
    """Daemon processes and the status files they keep."""

    def __init__(self, tmp: Path, config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, owner: str) -> None:
        config = dict(self.config, owner=owner, status_file=str(self.tmp / f"{owner}.json"))
        config_file = self.tmp / f"{owner}.config.json"
        config_file.write_text(json.dumps(config))
        log = (self.tmp / f"{owner}.log").open("wb")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path.cwd()), *sys.path]))
        self.procs[owner] = subprocess.Popen(
            [sys.executable, str(DAEMON_SCRIPT), str(config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def status(self, owner: str) -> dict[str, Any]:
        path = self.tmp / f"{owner}.json"
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            found: dict[str, Any] = json.loads(path.read_text())
            return found
        return {}

    def log(self, owner: str) -> str:
        return (self.tmp / f"{owner}.log").read_text(errors="replace")[-4000:]

    def check_alive(self, *, except_: frozenset[str] | set[str] = frozenset()) -> None:
        for owner, proc in self.procs.items():
            if owner not in except_ and proc.poll() is not None:
                raise AssertionError(
                    f"daemon {owner} exited ({proc.returncode}):\n{self.log(owner)}"
                )

    def kill(self, owner: str) -> None:
        self.procs[owner].send_signal(signal.SIGKILL)
        self.procs[owner].wait(30)

    def stop_all(self) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for owner, proc in self.procs.items():
            try:
                codes[owner] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[owner] = proc.wait(30)
        return codes


def _delete_queue(url: str, queue: str) -> None:
    with kombu.Connection(url) as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)


async def _run(
    *,
    instances: int,
    kill_one: bool,
    seed: int,
    rabbitmq: RabbitMQ,
    server: PostgresServer,
    tmp: Path,
) -> Outcome:
    database = server.create_database()
    dsn = server.dsn(database)
    queue = unique_queue_name("scaleout")
    sim = Simulator(_sim_config(seed, rabbitmq.url))
    await sim.start()
    store = PostgresStore(dsn)  # what `mozci-monitor migrate` does, then the CLI's view
    daemons = _Daemons(
        tmp,
        {
            "dsn": dsn,
            "broker_url": rabbitmq.url,
            "queue": queue,
            "root_url": sim.root_url,
            "treeherder_url": sim.treeherder_url,
            "hg_url": sim.hg_url,
            "email": SHERIFF,
            "lease_seconds": LEASE_SECONDS,
        },
    )
    try:
        scenarios, _ = await _scenarios(sim)
        engine = Engine(store)
        titles: dict[str, str] = {}
        for title, campaign, requests in scenarios:
            engine.start_campaign(campaign, requests, utc_now())
            titles[campaign.campaign_id] = title
        owners = [f"d{n}" for n in range(instances)]
        for owner in owners:
            daemons.spawn(owner)

        def all_bound() -> bool:
            daemons.check_alive()
            return all(daemons.status(o).get("bound", 0) >= 1 for o in owners)

        await until(
            all_bound, "every daemon started and bound the push's group", WITHIN, interval=0.1
        )
        killed: set[str] = set()
        async with running(SimClock(sim, name="scaleout-sim-clock")):
            if kill_one:
                # The victim is a daemon that has been acting: it dies with unacked
                # messages, maybe claimed outbox entries, and campaigns still running.
                victims: list[str] = []

                def acted() -> bool:
                    daemons.check_alive()
                    victims[:] = [
                        o for o in owners if sum(daemons.status(o).get("performed", {}).values())
                    ]
                    return bool(victims)

                await until(acted, "a daemon performed a first action", WITHIN, interval=0.1)
                daemons.kill(victims[0])
                killed.add(victims[0])

            def settled() -> bool:
                daemons.check_alive(except_=killed)
                for campaign_id in titles:
                    campaign = store.get_campaign(campaign_id)
                    if campaign is None or not campaign.is_final:
                        return False
                    key = f"campaign:{campaign_id}:finished"
                    done = [e for e in store.actions_of(campaign_id=campaign_id) if e.key == key]
                    if not done or done[0].state != "done":
                        return False
                return True

            await until(settled, "every campaign final and notified", WITHIN, interval=0.1)
            # Let any straggling duplicate (there must be none) reach the simulator.
            await asyncio.sleep(1.0)
        codes = daemons.stop_all()
        assert all(codes[o] == 0 for o in owners if o not in killed), codes
        return _outcome(store, sim, titles, killed=bool(killed))
    finally:
        daemons.stop_all()
        store.close()
        await sim.stop()
        _delete_queue(rabbitmq.url, queue)
        server.drop_database(database)


def _outcome(store: PostgresStore, sim: Simulator, titles: dict[str, str], killed: bool) -> Outcome:
    campaigns = []
    requests = []
    outbox: dict[str, int] = {}
    failed: list[str] = []
    performed_by: dict[str, int] = {}
    confirmed = 0
    for campaign_id, title in sorted(titles.items(), key=lambda item: item[1]):
        campaign = store.get_campaign(campaign_id)
        assert campaign is not None
        campaigns.append((title, campaign.kind.value, campaign.state.value, campaign.outcome))
        members = store.campaign_requests(campaign_id)
        for request in sorted(members, key=lambda r: r.label):
            failure = request.failure.value if request.failure else None
            requests.append((title, request.label, request.state.value, failure))
        entries = {e.key: e for e in store.actions_of(campaign_id=campaign_id)}
        for request in members:
            entries.update((e.key, e) for e in store.actions_of(request_id=request.request_id))
        for entry in entries.values():
            if entry.state == "done":
                outbox[entry.action.kind.value] = outbox.get(entry.action.kind.value, 0) + 1
                owner, _ = store.claim_of(entry.key)
                performed_by[str(owner)] = performed_by.get(str(owner), 0) + 1
                confirmed += (entry.result or "").startswith("already performed")
            else:
                failed.append(f"{entry.key}: {entry.state} {entry.last_error}")
    stats = sim.stats
    return Outcome(
        campaigns=campaigns,
        requests=requests,
        outbox=outbox,
        failed_entries=failed,
        hook_triggers=stats.hook_triggers,
        # Which task of a label gets retriggered depends on timing (any of them will do):
        # compare intents by label.
        action_calls=_by_label(sim, stats.action_calls),
        reruns=stats.reruns,
        notifications=sorted(
            str(n.payload.get("subject")) for n in sim.notifications if n.payload.get("address")
        ),
        killed=killed,
        performed_by=performed_by,
        confirmed_in_doubt=confirmed,
    )


async def test_three_daemons_one_killed_end_like_one_daemon_and_act_once(
    rabbitmq: RabbitMQ, postgres: PostgresServer, tmp_path: Path
) -> None:
    seed = _seed_with_a_regression(rabbitmq.url)
    for run in ("single", "three"):
        (tmp_path / run).mkdir()
    common = {"seed": seed, "rabbitmq": rabbitmq, "server": postgres}
    single = await _run(instances=1, kill_one=False, tmp=tmp_path / "single", **common)
    three = await _run(instances=3, kill_one=True, tmp=tmp_path / "three", **common)

    print(f"\nsingle: {single}\nthree: {three}")
    assert three.killed
    # The same end, whatever instance did what.
    assert three.campaigns == single.campaigns
    assert three.requests == single.requests
    assert three.failed_entries == single.failed_entries == []
    assert three.outbox == single.outbox
    # Every intent performed once: the simulator saw what one daemon makes it see.
    assert three.hook_triggers == single.hook_triggers
    assert three.action_calls == single.action_calls
    assert three.reruns == single.reruns
    # ... and each done outbox entry reached it exactly once (two campaigns may ask for the
    # same label: two intents, two keys, two calls — in both runs alike).
    # gecko's backfill action triggers one `backfill-task` hook per push it reaches: the
    # simulator does that itself, not the daemon, so those are not outbox entries.
    hooks = sum(three.outbox.get(kind, 0) for kind in ("retrigger", "add-new-jobs", "backfill"))
    ours = {kind: n for kind, n in three.hook_triggers.items() if kind != "backfill-task"}
    calls = {key: n for key, n in three.action_calls.items() if key[0] != "backfill-task"}
    assert sum(ours.values()) == sum(calls.values()) == hooks
    assert three.reruns == three.outbox.get("rerun", 0)
    # One notification per campaign, sent once.
    assert len(three.notifications) == len(three.campaigns) == three.outbox["notify"]
    assert three.notifications == single.notifications
    # The work really was shared: the killed one had acted, the survivors did the rest.
    assert len([owner for owner, n in three.performed_by.items() if n]) >= 2


def _by_label(sim: Any, calls: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    merged: dict[tuple[str, str], int] = {}
    for (action, target), count in calls.items():
        if target in sim.world.tasks:
            target = str(sim.world.tasks[target].label)
        merged[(action, target)] = merged.get((action, target), 0) + count
    return merged
