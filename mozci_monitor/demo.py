"""`mozci-monitor demo`: the simulator and the daemon in one process, one campaign of each kind.

Nothing outside this machine is touched: the simulator serves Taskcluster, Treeherder and
the hg pushlog on loopback and publishes Pulse messages to an in-process broker
(`memory://`, or a real RabbitMQ with `--broker`); the daemon consumes them into a
temporary SQLite store, acts through the simulated Hooks service and notifies in the log.
Scenarios are planted on a push that is just arriving, so every remedy gets exercised:
runs missing, an infrastructure exception, a coalesced task, a job never scheduled, the
tests of a finished build that were optimised away, more runs of a build (builds are not
retriggered: add-new-jobs) and an in-tree action whose action task fails (noticed,
retried once by another route, then given up with the reason).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from mozci_monitor.campaign_text import answer_rows
from mozci_monitor.config import (
    ActionsSettings,
    DaemonSettings,
    PulseSettings,
    Settings,
    SourcesSettings,
    StoreSettings,
)
from mozci_monitor.core.campaign import Campaign, CampaignKind, new_campaign_id
from mozci_monitor.core.confirm import is_confirm_label
from mozci_monitor.core.kinds import Budgets, DownstreamParams, WatchParams
from mozci_monitor.core.kinds import downstream as kinds_downstream
from mozci_monitor.core.kinds import watch as kinds_watch
from mozci_monitor.core.model import Push, Request
from mozci_monitor.observe import (
    ActionAbandoned,
    ActionDone,
    ActionRetrying,
    ActionWithdrawn,
    CampaignFinished,
    Event,
    NotificationSent,
    RequestChanged,
)
from mozci_monitor.shutdown import stop_within
from mozci_monitor.sim.testrun import JobTestModel, PlantedTestRegression, manifests_for

log = structlog.get_logger("mozci_monitor.demo")

DEMO_QUEUE = "queue/mozci-demo/requests"  # with --broker, pick your own with --queue

# Planted in the simulated world, so that each sheriff campaign has a known right answer.
BACKFILL_LABEL = "test-windows11-64/opt-reftest-1"  # fails for good from REGRESSION_PUSH on
REGRESSION_PUSH = 4
# Optimised away on the pushes around the regression, so the backfill has pushes to fill.
BACKFILL_GAP = range(REGRESSION_PUSH - 1, REGRESSION_PUSH + 3)
BISECT_LABEL = "test-macosx1015-64/opt-xpcshell-1"  # fails 60% of the time from INTERMITTENT_PUSH
INTERMITTENT_PUSH = 5
INTERMITTENT_RATE = 0.6
# Its jobs run tests: unrelated flaky tests make it orange UNTIL_FAIL_RATE of the time, and
# one test, PLANTED_TEST, fails PLANTED_TEST_RATE of the time on every push.
UNTIL_FAIL_LABEL = "test-linux1804-64/debug-mochitest-plain-1"
UNTIL_FAIL_RATE = 0.25
PLANTED_TEST_RATE = 0.1
# A confirm of each: the push's own task of the label fails for two tests, one regressed for
# good, one intermittent that struck once (nothing else fails in these jobs). The first
# label has a -cf variant (gecko's confirm-failures), the second (crashtest) none: retriggers.
CONFIRM_LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-2"
CONFIRM_RETRIGGER_LABEL = "test-linux1804-64/opt-crashtest"
CONFIRM_LABELS = (CONFIRM_LABEL, CONFIRM_RETRIGGER_LABEL)
JOB_TESTS = JobTestModel(
    labels=(UNTIL_FAIL_LABEL, *CONFIRM_LABELS),
    background_orange=UNTIL_FAIL_RATE,
    background_by_label=tuple((label, 0.0) for label in CONFIRM_LABELS),
)
PLANTED_TEST = manifests_for(JOB_TESTS, UNTIL_FAIL_LABEL)[1].tests[2]


def confirm_planted(label: str) -> tuple[str, str]:
    """(the test regressed for good, the test that failed once) of a confirm's label."""
    manifests = manifests_for(JOB_TESTS, label)
    return manifests[0].tests[1], manifests[2].tests[4]


def planted_tests() -> tuple[PlantedTestRegression, ...]:
    """Every test failure the demo plants in its simulated jobs."""
    planted = [PlantedTestRegression(UNTIL_FAIL_LABEL, PLANTED_TEST, 0, PLANTED_TEST_RATE)]
    for label in CONFIRM_LABELS:
        regressed, once = confirm_planted(label)
        planted.append(PlantedTestRegression(label, regressed, 0))
        planted.append(PlantedTestRegression(label, once, 0, once=True))
    return tuple(planted)


RESERVED = (BACKFILL_LABEL, BISECT_LABEL, UNTIL_FAIL_LABEL, *CONFIRM_LABELS)


@dataclass(frozen=True)
class Scenario:
    title: str
    campaign: Campaign
    requests: tuple[Request, ...]
    force: tuple[tuple[str, str], ...] = ()  # (label, outcome of its first run)
    expected: str = ""  # what the simulator planted, to compare with the answer
    actions_fail: bool = False  # the in-tree actions asked for its label fail
    # What was planted, as the answer would say it (a confirm: test -> its answer).
    planted: dict[str, str] | None = None


def plan_scenarios(
    push: Push, scheduled: Sequence[str], graph: dict[str, dict[str, str]], budget: int
) -> list[Scenario]:
    """Pick labels of the push for each scenario; deterministic for a given world."""
    tests = [label for label in scheduled if label.startswith("test-") and label not in RESERVED]
    unscheduled = sorted(
        label
        for label in graph
        if label.startswith("test-") and label not in scheduled and label not in RESERVED
    )
    builds = [label for label in scheduled if label.startswith("build-")]
    # The build with the most optimised-away tests makes the clearest downstream case.
    downstream_build = max(
        builds,
        key=lambda b: sum(1 for label in unscheduled if graph[label].get("build") == b),
    )
    unscheduled_elsewhere = [
        label for label in unscheduled if graph[label].get("build") != downstream_build
    ]
    missing_label = (unscheduled_elsewhere or unscheduled)[0]
    other_builds = [b for b in builds if b != downstream_build] or builds

    budgets = Budgets(per_request=budget, per_campaign=None)

    def watch(
        title: str,
        label: str,
        times: int,
        force: tuple[tuple[str, str], ...] = (),
        *,
        actions_fail: bool = False,
    ) -> Scenario:
        params = WatchParams(
            repo=push.repo,
            revision=push.revision,
            task_group=push.task_group_id,
            label=label,
            times=times,
        )
        campaign, requests = kinds_watch.build(params, new_campaign_id(), budgets)
        return Scenario(title, campaign, tuple(requests), force, actions_fail=actions_fail)

    downstream, build_requests = kinds_downstream.build(
        DownstreamParams(
            repo=push.repo,
            revision=push.revision,
            task_group=push.task_group_id,
            build=downstream_build,
        ),
        new_campaign_id(),
        budgets,
    )
    return [
        watch("3 runs wanted, 1 scheduled: retrigger the rest", tests[0], 3),
        watch("infrastructure exception: rerun", tests[1], 1, ((tests[1], "internal-error"),)),
        watch("coalesced (superseded): schedule again", tests[2], 1, ((tests[2], "superseded"),)),
        watch("never scheduled (optimised away): add it", missing_label, 1),
        watch("a build wanted 3 times: add-new-jobs (not retriggerable)", other_builds[0], 3),
        watch("its action tasks fail: noticed, retried, given up", tests[3], 2, actions_fail=True),
        Scenario(
            f"downstream of {downstream_build}: add its optimised-away tests",
            downstream,
            tuple(build_requests),
        ),
    ]


async def plan_sheriff_scenarios(
    sim: Any, services: Any, live: Push, fill_exclude: Sequence[str]
) -> list[Scenario]:
    """Backfill, bisect, until-fail and fill, planned against the simulator's sources."""
    from mozci_monitor import planner

    live_index = next(p.index for p in sim.world.pushes if p.task_group_id == live.task_group_id)
    repo = sim.config.repo
    pushes = sim.world.pushes
    history = [p for p in pushes if p.index < live_index]
    failing = next(
        p
        for p in reversed(history)
        if any(t.runs and t.runs[-1]["state"] == "failed" for t in sim.tasks_of(p, BACKFILL_LABEL))
    )
    backfill = await planner.plan_backfill(
        services.pushlog,
        services.taskcluster,
        repo=repo,
        revision=failing.revision,
        label=BACKFILL_LABEL,
        max_revisions=failing.index,
        times=1,
    )
    culprit = pushes[REGRESSION_PUSH]
    last = history[-1]
    bisect = await planner.plan_bisect(
        services.pushlog,
        services.taskcluster,
        repo=repo,
        revision=last.revision,
        label=BISECT_LABEL,
        first_revision=pushes[1].revision,
        times=10,
        # The demo shows the rate of every push: a sweep.
        strategy="sweep",
    )
    worse = pushes[INTERMITTENT_PUSH]
    until_fail = planner.plan_until_fail(live, label=UNTIL_FAIL_LABEL, batch=5, budget=40)
    # The same label judged by the planted test, on the push before (its own runs).
    before = history[-1]
    by_test = planner.plan_until_fail(
        Push(repo, before.revision, before.task_group_id),
        label=UNTIL_FAIL_LABEL,
        batch=5,
        budget=60,
        test=PLANTED_TEST,
    )
    orange = 1 - (1 - UNTIL_FAIL_RATE) * (1 - PLANTED_TEST_RATE)
    fill = planner.plan_fill(live, include=["xpcshell"], exclude=list(fill_exclude))
    confirms = [await _confirm_scenario(sim, services, history, label) for label in CONFIRM_LABELS]
    return [
        Scenario(
            f"backfill {BACKFILL_LABEL} from {failing.revision[:12]}",
            backfill.campaign,
            backfill.requests,
            expected=f"first bad {culprit.revision[:12]} (push {culprit.push_id})",
        ),
        Scenario(
            f"bisect the failure rate of {BISECT_LABEL}",
            bisect.campaign,
            bisect.requests,
            expected=f"rate rises at {worse.revision[:12]} (push {worse.push_id})"
            f" from 0% to {INTERMITTENT_RATE:.0%}",
        ),
        Scenario(
            f"retrigger {UNTIL_FAIL_LABEL} until it fails",
            until_fail.campaign,
            until_fail.requests,
            expected=f"the job orange {orange:.0%} of the time (unrelated flaky tests"
            f" {UNTIL_FAIL_RATE:.0%}, {PLANTED_TEST} {PLANTED_TEST_RATE:.0%})",
        ),
        Scenario(
            f"retrigger {UNTIL_FAIL_LABEL} until {PLANTED_TEST} fails",
            by_test.campaign,
            by_test.requests,
            expected=f"{PLANTED_TEST} failing {PLANTED_TEST_RATE:.0%} of the runs, under"
            f" unrelated oranges {UNTIL_FAIL_RATE:.0%} of the time",
        ),
        Scenario("fill the push's missing xpcshell jobs", fill.campaign, fill.requests),
        *confirms,
    ]


async def _confirm_scenario(
    sim: Any, services: Any, history: Sequence[Any], label: str
) -> Scenario:
    """A confirm of the newest push's failing task of `label`, through the planner."""
    from mozci_monitor import planner
    from mozci_monitor.core.kinds import ConfirmParams

    push, task = next(
        (p, t)
        for p in reversed(history)
        for t in sim.tasks_of(p, label)
        if t.runs and t.runs[-1]["state"] == "failed"
    )
    params = ConfirmParams(repo=sim.config.repo, revision=push.revision, task_id=task.task_id)
    plan = await planner.plan_campaign(params, services, Budgets(per_request=3, per_campaign=None))
    regressed, once = confirm_planted(label)
    via = plan.campaign.params["confirm"]["via"]
    return Scenario(
        f"confirm the failing tests of {label} ({via})",
        plan.campaign,
        plan.requests,
        expected=f"{regressed} regressed; {once} failed once (intermittent)",
        planted={regressed: "regression", once: "intermittent"},
    )


class Timeline:
    """The demo's live timeline, one line per change, from the daemon's typed events.

    It is the daemon's observer (see :mod:`mozci_monitor.observe`), so the timeline does not
    depend on log event names; the daemon's log itself is shown only with `verbose` (warnings
    and errors always), so a person sees what happens, not how.
    """

    def __init__(self, *, out: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self._clock = clock
        self.started = clock()

    def __call__(self, event: Event) -> None:
        self._print(self.line(event))

    def note(self, text: str) -> None:
        self._print(f"demo    {text}")

    def _print(self, line: str) -> None:
        elapsed = self._clock() - self.started
        print(f"{elapsed:6.2f}s  {line}", file=self.out, flush=True)

    @staticmethod
    def line(event: Event) -> str:
        match event:
            case RequestChanged():
                state = event.state + (f"/{event.failure}" if event.failure else "")
                reason = f" ({event.reason})" if event.reason else ""
                return f"request {event.request_id:<22} {state:<18} {event.label}{reason}"
            case ActionDone():
                what = ", ".join(event.labels) or event.task_id or ""
                return f"action  {event.kind:<22} {what} — {event.why}"
            case ActionRetrying():
                return f"action  {event.kind:<22} action failed; will retry: {event.error}"
            case ActionAbandoned():
                return f"action  {event.kind:<22} action abandoned: {event.error}"
            case ActionWithdrawn():
                return f"action  {event.kind:<22} {event.why}"
            case CampaignFinished():
                return f"campaign {event.campaign_id} ({event.kind}) {event.state}: {event.outcome}"
            case NotificationSent():
                return f"notify  {event.title}"


def _configure_demo_logging(*, verbose: bool) -> None:
    def quiet(logger: Any, method: str, event: Any) -> Any:
        if verbose:
            return event
        # The log sink's copy of a notification: the timeline already says "notify …", and
        # the gave-up watch is one of the scenarios, not a warning for the person watching.
        is_notification = isinstance(event, dict) and event.get("event") == "notification"
        if method in ("warning", "error", "critical", "exception") and not is_notification:
            return event
        raise structlog.DropEvent

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            quiet,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


async def run_demo(args: argparse.Namespace) -> int:
    from mozci_monitor import wiring
    from mozci_monitor.sim import Regression, SimConfig, Simulator

    started = time.monotonic()
    _configure_demo_logging(verbose=args.verbose)
    timeline = Timeline(out=sys.stderr if args.json else sys.stdout)
    broker = args.broker or "memory://"
    workdir = Path(tempfile.mkdtemp(prefix="mozci-monitor-demo-"))
    sim = Simulator(
        SimConfig(
            seed=args.seed,
            broker_url=broker,
            pushes=12,
            history_pushes=10,
            push_interval=900.0,
            time_scale=args.time_scale,
            intermittent_rate=0.0,
            claim_expired_rate=0.02,
            worker_shutdown_rate=0.0,
            regressions=(
                Regression(BACKFILL_LABEL, REGRESSION_PUSH),
                Regression(BISECT_LABEL, INTERMITTENT_PUSH, rate=INTERMITTENT_RATE),
            ),
            tests=replace(JOB_TESTS, regressions=planted_tests()),
            optimised_away=tuple((BACKFILL_LABEL, index) for index in BACKFILL_GAP),
        )
    )
    # Plant the scenarios on the first push still to arrive, before the clock starts, so
    # that they hold however long anything below takes.
    world_push = next(p for p in sim.world.pushes if not p.arrived)
    push = Push(sim.config.repo, world_push.revision, world_push.task_group_id)
    graph = {
        label: sim.world.graph.dependencies(label)
        for label in sim.world.graph.specs
        if not is_confirm_label(label)  # only the confirm-failures action schedules these
    }
    scenarios = plan_scenarios(push, world_push.scheduled_labels, graph, budget=3)
    for scenario in scenarios:
        if scenario.actions_fail:  # a callback broken for that label: its action tasks fail
            sim.world.failing_action_labels.add(scenario.requests[0].label)
    for scenario in scenarios:
        for label, outcome in scenario.force:
            sim.world.force_once(label, world_push.index, outcome)
    await sim.start()
    settings = Settings(
        pulse=PulseSettings(url=broker, queue=args.queue, heartbeat=10.0, prefetch=500),
        store=StoreSettings(path=str(workdir / "demo.sqlite3")),
        daemon=DaemonSettings(batch_wait=0.05, bindings_refresh=0.2, reconcile_interval=2.0),
        sources=SourcesSettings(
            taskcluster_root_url=sim.root_url,
            treeherder_url=sim.treeherder_url,
            hg_url=sim.hg_url,
            taskcluster_rate=200,
        ),
        actions=ActionsSettings(dry_run=args.dry_run),
    )
    runtime = wiring.build(settings, api=False, observer=timeline)
    daemon, store, services = runtime.daemon, runtime.store, runtime.services
    runner = asyncio.create_task(daemon.run(install_signal_handlers=False), name="daemon")
    try:
        while not daemon.health.started:
            if runner.done():
                return await runner
            await asyncio.sleep(0.05)
        watched = [r.label for sc in scenarios for r in sc.requests]
        downstream_build = next(
            sc.campaign.label for sc in scenarios if sc.campaign.kind is CampaignKind.DOWNSTREAM
        )
        watched += [label for label, deps in graph.items() if deps.get("build") == downstream_build]
        scenarios += await plan_sheriff_scenarios(
            sim, services, push, fill_exclude=[re.escape(label) for label in watched]
        )
        timeline.note(f"push {push.repo}@{push.revision[:12]} (group {push.task_group_id}) arrives")
        for scenario in scenarios:
            await runtime.campaigns.start(scenario.campaign, scenario.requests)
            timeline.note(
                f"campaign {scenario.campaign.campaign_id} [{scenario.campaign.kind.value}]"
                f" {scenario.title}: {scenario.campaign.label}"
            )
        ids = [s.campaign.campaign_id for s in scenarios]
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            campaigns = [await daemon.in_store(store.get_campaign, i) for i in ids]
            if all(c is not None and c.is_final for c in campaigns):
                # A campaign ends, then its notification goes out: wait for that too.
                outbox = [await daemon.in_store(store.actions_of, campaign_id=i) for i in ids]
                if all(e.state != "pending" for entries in outbox for e in entries):
                    break
            await asyncio.sleep(0.2)
        summary = await _summary(daemon, store, ids, sim)
    finally:
        daemon.request_stop()
        # The daemon's own shutdown is bounded; this bounds the demo even if it were not.
        await stop_within([runner], 30, step="daemon")
        await sim.stop()
    planted = {s.campaign.campaign_id: s.planted for s in scenarios}
    for campaign in summary["campaigns"]:
        campaign["planted"] = planted[campaign["id"]]
    _print_summary(summary, scenarios, as_json=args.json, elapsed=time.monotonic() - started)
    return 0 if all(c["final"] for c in summary["campaigns"]) else 1


async def _summary(daemon: Any, store: Any, ids: list[str], sim: Any) -> dict[str, Any]:
    campaigns = []
    for campaign_id in ids:
        campaign = await daemon.in_store(store.get_campaign, campaign_id)
        requests = await daemon.in_store(store.campaign_requests, campaign_id)
        outbox = await daemon.in_store(store.actions_of, campaign_id=campaign_id)
        requests_outbox = []
        for request in requests:
            requests_outbox += await daemon.in_store(
                store.actions_of, request_id=request.request_id
            )
        actions = {e.key: e for e in [*outbox, *requests_outbox]}.values()
        campaigns.append(
            {
                "id": campaign_id,
                "kind": campaign.kind.value,
                "state": campaign.state.value,
                "outcome": campaign.outcome,
                "label": campaign.label,
                "final": campaign.is_final,
                "requests": [
                    {
                        "id": r.request_id,
                        "label": r.label,
                        "state": r.state.value,
                        "failure": r.failure.value if r.failure else None,
                        "reason": r.reason,
                        "tasks": len(r.task_ids),
                    }
                    for r in requests
                ],
                "actions": [
                    {"kind": e.action.kind.value, "state": e.state, "why": e.action.why}
                    for e in actions
                    if e.action.kind.value != "notify"
                ],
                "answer": dict(campaign.summary).get("answer"),
                "notifications": sum(
                    1 for e in actions if e.action.kind.value == "notify" and e.state == "done"
                ),
            }
        )
    counters = daemon.health.counters
    return {
        "campaigns": campaigns,
        "messages_consumed": counters.get("messages", 0),
        "simulator": {
            "hook_triggers": sim.stats.hook_triggers,
            "reruns": sim.stats.reruns,
        },
    }


def _print_summary(
    summary: dict[str, Any], scenarios: Sequence[Scenario], *, as_json: bool, elapsed: float
) -> None:
    if as_json:
        document = {
            "campaigns": [
                {
                    "id": c["id"],
                    "kind": c["kind"],
                    "state": c["state"],
                    "outcome": c["outcome"],
                    "requests": c["requests"],
                    "actions": c["actions"],
                    "notifications": c["notifications"],
                    "answer": c["answer"],
                    # what was planted, as the answer says it (a confirm: test -> answer)
                    **({"planted": c["planted"]} if c["planted"] is not None else {}),
                }
                for c in summary["campaigns"]
            ],
            "messages_consumed": summary["messages_consumed"],
        }
        print(json.dumps(document, indent=2))
        return
    print()
    print(f"summary ({elapsed:.1f} s, {summary['messages_consumed']} Pulse messages consumed)")
    titles = {s.campaign.campaign_id: s.title for s in scenarios}
    expected = {s.campaign.campaign_id: s.expected for s in scenarios}
    for campaign in summary["campaigns"]:
        title = titles[campaign["id"]]
        print(f"  {campaign['id']}  {campaign['kind']:<10} {campaign['state']:<9} {title}")
        print(f"      outcome: {campaign['outcome']}")
        if expected[campaign["id"]]:
            print(f"      planted: {expected[campaign['id']]}")
        rows = answer_rows(campaign["answer"])
        if rows:  # backfill and bisect: one line per push says more than one per request
            if campaign["kind"] == "backfill":
                print(f"      pushes filled: {len(campaign['requests'])}")
            for row in rows:
                print(f"      {row}")
        for request in [] if rows else campaign["requests"]:
            state = request["state"] + (f"/{request['failure']}" if request["failure"] else "")
            print(f"      request {request['label']}: {state}, {request['tasks']} task(s)")
        reads = [a for a in campaign["actions"] if a["kind"] == "fetch-results"]
        for action in campaign["actions"]:
            if action["kind"] != "fetch-results":
                print(f"      action {action['kind']} ({action['why']}): {action['state']}")
        if reads:
            done = sum(1 for a in reads if a["state"] == "done")
            print(f"      test results read: {done} of {len(reads)} runs")
        print(f"      notifications sent: {campaign['notifications']}")
    print(
        f"  simulator saw hook triggers {summary['simulator']['hook_triggers']}"
        f" and {summary['simulator']['reruns']} rerun(s)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="kombu URL of a broker (default: memory://, in-process)")
    parser.add_argument("--queue", default=DEMO_QUEUE, help="Pulse queue the daemon consumes")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (same seed, same run)")
    parser.add_argument(
        "--time-scale", type=float, default=2.0, help="wall seconds per simulated CI hour"
    )
    parser.add_argument("--timeout", type=float, default=55.0, help="give up after this long")
    parser.add_argument("--dry-run", action="store_true", help="decide actions, perform none")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--verbose", action="store_true", help="also show the daemon's log")


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    parser = argparse.ArgumentParser(prog="mozci-monitor demo")
    add_arguments(parser)
    return asyncio.run(run_demo(parser.parse_args(argv)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
