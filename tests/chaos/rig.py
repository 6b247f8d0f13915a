"""The daemon in its own process over the simulator and a real RabbitMQ, to be hurt for real.

The simulator (Taskcluster, hg, Treeherder on loopback; Pulse messages to the broker) runs
in the test's event loop, with its clock driven by the test. The daemon is a subprocess
(`mozci-monitor --config FILE run`) on a temporary SQLite store and the test's own queue,
so it can be killed with SIGKILL, stopped with SIGTERM, starved of its store or of its
broker. Campaigns are recorded straight into the store, as `mozci-monitor watch` does; the
running daemon picks them up on its next bindings refresh.

Results are read where they land: the store file (states, timelines, outbox, rejections)
and the simulator's counters (hooks triggered, reruns, notifications), and the daemon's
JSON log lines (one file per daemon process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from support.brokers import Broker
from support.ci import live_push_ci
from support.clock import CI_SECONDS_PER_WALL_SECOND
from support.daemon import SHERIFF
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor.clock import utc_now
from mozci_monitor.config import ActionsSettings
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.engine import Engine

REPO_ROOT = Path(__file__).resolve().parents[2]
# One seed for every scenario of a session and its fault-free baseline, so that each scenario
# is compared with the run of the same seed. Random per session (CHAOS_SEED replays one):
# two sessions on one broker with one seed would publish the same task group ids, and each
# daemon would consume the other session's messages.
SEED = int(os.environ.get("CHAOS_SEED") or random.randrange(1, 1 << 30))
STARTUP_WITHIN = 30.0
FINISH_WITHIN = 60.0
FULL_RATE = CI_SECONDS_PER_WALL_SECOND


@dataclass(frozen=True)
class Knobs:
    """Daemon settings a scenario may turn (everything else: the example's defaults)."""

    heartbeat: float = 10.0
    stall_timeout: float = 0.0
    reconcile_interval: float = 300.0  # Pulse alone must deliver, unless a scenario says
    shutdown_grace: float = 5.0
    batch_max: int = 500
    batch_wait: float = 0.05
    bindings_refresh: float = 0.2
    store_retry_max: float = 0.5
    reconnect_max_delay: float = 1.0
    max_attempts: int = 8
    instance: str = ""  # [store] instance: "" is the default, <hostname>-<pid>


def config_text(*, broker_url: str, queue: str, store_path: Path, sc: Scene, knobs: Knobs) -> str:
    sim = sc.sim
    return f"""\
[pulse]
url = {json.dumps(broker_url)}
queue = {json.dumps(queue)}
heartbeat = {knobs.heartbeat}
prefetch = 500
reconnect_max_delay = {knobs.reconnect_max_delay}

[store]
path = {json.dumps(str(store_path))}
instance = {json.dumps(knobs.instance)}

[daemon]
batch_max = {knobs.batch_max}
batch_wait = {knobs.batch_wait}
bindings_refresh = {knobs.bindings_refresh}
shutdown_grace = {knobs.shutdown_grace}
stall_timeout = {knobs.stall_timeout}
store_retry_max = {knobs.store_retry_max}
reconcile_interval = {knobs.reconcile_interval}

[sources]
taskcluster_root_url = {json.dumps(sim.root_url)}
treeherder_url = {json.dumps(sim.treeherder_url)}
hg_url = {json.dumps(sim.hg_url)}
taskcluster_rate = 500

[actions]
max_per_request = 3
max_attempts = {knobs.max_attempts}

[notify]
sinks = ["log", "taskcluster"]
email = [{json.dumps(SHERIFF)}]

[api]
port = 0

[log]
format = "json"
level = "info"
"""


def daemon_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "mozci_monitor.cli", "--config", str(config), "run"]


@dataclass
class DaemonRun:
    """One daemon process and its log."""

    index: int
    process: asyncio.subprocess.Process
    log_path: Path
    spawned: float  # time.monotonic()
    exit_code: int | None = None
    exited: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (all, or those whose event is `name`)."""
        found = []
        with contextlib.suppress(FileNotFoundError), self.log_path.open(errors="replace") as log:
            for line in log:
                if not line.startswith("{"):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if name is None or event.get("event") == name:
                    found.append(event)
        return found

    @property
    def api_url(self) -> str | None:
        listening = self.events("api listening")
        return str(listening[0]["url"]).rstrip("/") if listening else None

    async def readyz(self) -> int:
        """The HTTP status of the daemon's /readyz (200 ready, 503 not)."""
        assert self.api_url is not None, "the daemon's API is not listening"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.api_url}/readyz", timeout=aiohttp.ClientTimeout(5)) as answer,
        ):
            return answer.status

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait(self, within: float) -> int:
        if self.exit_code is None:
            code = await asyncio.wait_for(self.process.wait(), within)
            self.exit_code, self.exited = code, time.monotonic()
        return self.exit_code

    @property
    def running(self) -> bool:
        return self.exit_code is None and self.process.returncode is None


@dataclass
class Watched:
    campaign: Campaign
    request: Request

    @property
    def label(self) -> str:
        return self.request.label


@dataclass
class Rig:
    """A scene (simulator, store reader, planted outcomes) and the daemon processes on it."""

    sc: Scene
    workdir: Path
    knobs: Knobs
    runs: list[DaemonRun] = field(default_factory=list)
    watched: list[Watched] = field(default_factory=list)
    notes: list[Callable[[], str]] = field(default_factory=list)  # more to diagnose

    @property
    def config_path(self) -> Path:
        return self.workdir / "mozci-monitor.toml"

    @property
    def store_path(self) -> Path:
        return self.sc.store_path

    @property
    def queue(self) -> str:
        return self.sc.queue

    @property
    def current(self) -> DaemonRun | None:
        return self.runs[-1] if self.runs and self.runs[-1].running else None

    def write_config(self, **changes: Any) -> None:
        self.knobs = replace(self.knobs, **changes)
        self.config_path.write_text(
            config_text(
                broker_url=self.sc.broker_url,
                queue=self.sc.queue,
                store_path=self.sc.store_path,
                sc=self.sc,
                knobs=self.knobs,
            )
        )

    # -- daemon processes --------------------------------------------------------------

    async def start(self, *, wait_started: bool = True) -> DaemonRun:
        assert self.current is None, "one daemon at a time"
        index = len(self.runs)
        log_path = self.workdir / f"daemon-{index:02d}.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.pop("NOTIFY_SOCKET", None)
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *daemon_command(self.config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=env,
            )
        run = DaemonRun(index, process, log_path, time.monotonic())
        self.runs.append(run)
        if wait_started:
            await self.until_started(run)
        return run

    async def until_started(self, run: DaemonRun) -> None:
        await until(
            lambda: bool(run.events("daemon started")) or run.process.returncode is not None,
            f"daemon {run.index} started",
            within=STARTUP_WITHIN,
        )
        if run.process.returncode is not None:
            raise AssertionError(
                f"daemon {run.index} exited at start with {run.process.returncode}:\n{run.tail()}"
            )

    async def kill(self) -> DaemonRun:
        run = self.current
        assert run is not None, "no daemon to kill"
        run.process.send_signal(signal.SIGKILL)
        code = await run.wait(10.0)
        assert code == -signal.SIGKILL, f"daemon {run.index} exited {code} before the kill"
        return run

    async def terminate(self, within: float | None = None) -> tuple[int, float]:
        """SIGTERM the daemon; its exit code and how long it took to exit."""
        run = self.current
        assert run is not None, "no daemon to stop"
        sent = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        code = await run.wait(within if within is not None else self.knobs.shutdown_grace + 10)
        assert run.exited is not None
        return code, run.exited - sent

    async def close(self) -> None:
        for run in self.runs:
            if run.running:
                with contextlib.suppress(ProcessLookupError):
                    run.process.send_signal(signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await run.wait(10.0)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [event for run in self.runs for event in run.events(name)]

    # -- the simulated CI's clock ------------------------------------------------------

    def go(self, rate: float = FULL_RATE) -> None:
        """Let CI time run at `rate` CI seconds per wall second."""
        self.sc.clock.go(rate=rate)

    async def pause(self) -> None:
        await self.sc.clock.pause()

    # -- campaigns ---------------------------------------------------------------------

    def plant_standard(self) -> list[Watched]:
        """The scenarios' common campaigns: one of each remedy, on the arriving push.

        Deterministic for a seed (labels are picked from the push's graph), so a faulty run
        can be compared with the fault-free one label by label.
        """
        sc = self.sc
        tests = sc.scheduled_tests
        sc.plant(tests[1], {0: "internal-error"})  # rerun
        sc.plant(tests[2], {0: "superseded"})  # add-new-jobs
        sc.plant(tests[3], {0: "failed"})  # orange, green required: retrigger
        never = sc.unscheduled_tests()[0]  # optimised away: add-new-jobs
        pairs = [
            sc.watch(tests[0], wanted=3),  # 1 run of 3: retrigger twice
            sc.watch(tests[1]),
            sc.watch(tests[2]),
            sc.watch(tests[3], require_green=True),
            sc.watch(never),
            sc.watch(tests[4]),  # nothing to do
        ]
        self.watched = [Watched(c, r) for c, r in pairs]
        return self.watched

    def register(self, watched: list[Watched] | None = None) -> None:
        """Record the campaigns in the store, as `mozci-monitor watch` does."""
        engine = Engine(self.sc.reader)
        for item in watched if watched is not None else self.watched:
            engine.start_campaign(item.campaign, [item.request], utc_now())

    def decision_done(self) -> bool:
        push = self.sc.world_push
        decision = self.sc.sim.world.tasks.get(push.decision_task_id)
        return push.arrived and decision is not None and decision.state == "completed"

    async def launch(self, run: DaemonRun) -> None:
        """Record the campaigns once the push's decision task is done; the clock is left paused.

        Recorded earlier, the remedies that need the push's graph (runs missing, labels never
        scheduled) would wait for the reconcile timer: see test_decision_race.py.
        """
        self.go(FULL_RATE)
        await until(self.decision_done, "the push's decision task done")
        await self.pause()
        group = self.sc.push.task_group_id
        self.register()
        await until(
            lambda: any(e.get("group") == group for e in run.events("reconciled task group")),
            "the daemon caught up with the push",
        )

    def all_finished(self) -> bool:
        for item in self.watched:
            campaign = self.sc.reader.get_campaign(item.campaign.campaign_id)
            if campaign is None or not campaign.is_final:
                return False
            key = f"campaign:{item.campaign.campaign_id}:finished"
            entries = self.sc.reader.actions_of(campaign_id=item.campaign.campaign_id)
            if not any(e.key == key and e.state == "done" for e in entries):
                return False
        return True

    async def until_finished(self, within: float = FINISH_WITHIN) -> float:
        """Wait until every campaign is final and notified; returns the seconds waited."""
        started = time.monotonic()
        try:
            await until(self.all_finished, "every campaign finished and notified", within=within)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.diagnosis()}") from None
        return time.monotonic() - started

    def diagnosis(self) -> str:
        """What to look at when a scenario does not settle."""
        publisher = self.sc.sim._publisher
        lines = [
            f"sim published {self.sc.sim.stats.messages_published},"
            f" publish errors {publisher.errors if publisher else None},"
            f" not yet sent {publisher._queue.qsize() if publisher else None}",
            f"sim clock errors: {self.sc.clock.errors[:3]}",
            *(note() for note in self.notes),
        ]
        for item in self.watched:
            request = self.sc.reader.get_request(item.request.request_id)
            lines.append(f"  {item.label}: {request.state.value if request else None}")
        if self.runs:
            lines.append(f"daemon {self.runs[-1].index} log: {self.runs[-1].log_path}")
        return "\n".join(lines)

    # -- figures -----------------------------------------------------------------------

    def messages_published(self) -> int:
        return sum(self.sc.sim.stats.messages_published.values())

    def outcome(self) -> Outcome:
        return outcome_of(self)


@dataclass(frozen=True)
class Outcome:
    """What a run ended with, keyed by label so that runs of one seed compare."""

    requests: dict[str, tuple[str, str | None, int]]  # label -> (state, failure, tasks)
    campaigns: dict[str, str]  # label -> campaign state
    outbox: dict[str, list[tuple[str, str]]]  # label -> [(action kind, entry state)]
    performed: dict[str, int]  # at the simulator: hook triggers by action, and reruns
    notifications: int  # at the simulator
    incomplete_timelines: list[str]  # "label: task" whose final phase the timeline lacks

    def lost_against(self, baseline: Outcome) -> list[str]:
        """Labels whose request ended otherwise than in the fault-free run."""
        return (
            sorted(
                label
                for label, expected in baseline.requests.items()
                if self.requests.get(label) != expected
                or self.campaigns.get(label) != baseline.campaigns[label]
            )
            + self.incomplete_timelines
        )

    def duplicated_against(self, baseline: Outcome) -> int:
        """Actions performed beyond the fault-free run's (counted at the simulator)."""
        extra = sum(
            max(0, count - baseline.performed.get(kind, 0))
            for kind, count in self.performed.items()
        )
        return extra + max(0, self.notifications - baseline.notifications)


_PHASE_OF_STATE = {
    "completed": "completed",
    "failed": "orange",
    "pending": "pending",
    "running": "running",
    "unscheduled": "scheduled",
}


def outcome_of(rig: Rig) -> Outcome:
    reader = rig.sc.reader
    requests: dict[str, tuple[str, str | None, int]] = {}
    campaigns: dict[str, str] = {}
    outbox: dict[str, list[tuple[str, str]]] = {}
    incomplete: list[str] = []
    for item in rig.watched:
        request = reader.get_request(item.request.request_id)
        campaign = reader.get_campaign(item.campaign.campaign_id)
        assert request is not None and campaign is not None
        requests[item.label] = (
            request.state.value,
            request.failure.value if request.failure else None,
            len(request.task_ids),
        )
        campaigns[item.label] = campaign.state.value
        outbox[item.label] = sorted(
            (e.action.kind.value, e.state) for e in reader.actions_of(request_id=request.request_id)
        )
        incomplete += _timeline_gaps(rig, request)
    stats = rig.sc.sim.stats
    performed = dict(stats.hook_triggers)
    performed["rerun"] = stats.reruns
    return Outcome(
        requests=requests,
        campaigns=campaigns,
        outbox=outbox,
        performed=performed,
        notifications=sum(stats.notifications.values()),
        incomplete_timelines=incomplete,
    )


def _timeline_gaps(rig: Rig, request: Request) -> list[str]:
    """Tasks of the request whose timeline lacks a sighting or the task's final phase."""
    entries = rig.sc.reader.timeline(request.request_id)
    gaps = []
    for task_id in request.task_ids:
        seen = any(e.kind == "task-seen" and e.task_id == task_id for e in entries)
        phases = [
            e.detail["phase"] for e in entries if e.kind == "task-phase" and e.task_id == task_id
        ]
        task = rig.sc.sim.task(task_id)
        final = _final_phase(task.runs[-1] if task.runs else None)
        if not seen or not phases or (final is not None and phases[-1] != final):
            gaps.append(f"{request.label}: {task_id} seen={seen} phases={phases} sim={final}")
    if not any(e.kind == "state" for e in entries):
        gaps.append(f"{request.label}: no state entry")
    return gaps


def _final_phase(run: dict[str, Any] | None) -> str | None:
    if run is None:
        return "scheduled"
    state = str(run["state"])
    if state == "exception":
        return None  # retrying / exception / coalesced: the machine decides; not compared
    return _PHASE_OF_STATE.get(state)


@contextlib.asynccontextmanager
async def rig(
    broker_url: str,
    queue: str,
    tmp_path: Path,
    *,
    knobs: Knobs | None = None,
    sim_publishes: bool = True,
) -> AsyncIterator[Rig]:
    """A started simulator of the fixed seed (clock paused) and a config for the daemon."""
    async with scene(
        Broker(broker_url, queue),
        tmp_path,
        live_push_ci(broker_url if sim_publishes else None, seed=SEED),
        actions=ActionsSettings(max_per_request=3),
        daemon=False,
    ) as sc:
        # Scenarios stop the broker under the simulator: keep CI time running and show
        # its errors in the diagnosis.
        sc.clock.tolerate_errors = True
        the_rig = Rig(sc, tmp_path, knobs or Knobs())
        the_rig.write_config()
        try:
            yield the_rig
        finally:
            await the_rig.pause()
            await the_rig.close()


def assert_same_as_baseline(r: Rig, baseline: Outcome) -> Outcome:
    outcome = r.outcome()
    assert outcome.requests == baseline.requests
    assert outcome.campaigns == baseline.campaigns
    assert outcome.outbox == baseline.outbox  # every remedy decided once, and done
    assert outcome.performed == baseline.performed  # and performed once, at the simulator
    assert outcome.incomplete_timelines == []
    assert outcome.notifications >= baseline.notifications
    return outcome


def store_behind_sim(r: Rig) -> list[str]:
    """Watched tasks whose phase in the store is not the simulator's (exceptions aside)."""
    behind = []
    for item in r.watched:
        for task in r.sc.tasks(item.label):
            expected = _PHASE_OF_STATE.get(task.state)
            if expected is None:
                continue
            record = r.sc.reader.get_task(task.task_id)
            phase = record.phase.value if record is not None else None
            if phase != expected:
                behind.append(f"{item.label} {task.task_id}: store {phase}, sim {expected}")
    return behind


_BASELINES: dict[int, Outcome] = {}


async def baseline_outcome(broker_url: str, queue: str, tmp_path: Path) -> Outcome:
    """The fault-free run of the seed (computed once per session)."""
    if SEED not in _BASELINES:
        async with rig(broker_url, queue, tmp_path) as r:
            r.plant_standard()
            run = await r.start()
            await r.launch(run)
            r.go()
            await r.until_finished()
            code, _ = await r.terminate()
            assert code == 0, r.runs[-1].tail()
            _BASELINES[SEED] = r.outcome()
    return _BASELINES[SEED]
