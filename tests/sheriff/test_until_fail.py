"""Until-fail end to end: retrigger a label in batches until a run fails, or the budget ends.

`Script` decides, at the simulator, how each new run of the label will end (the k-th new
task fails, the ones after it stay open), so the exact answer is known; a clock hold keeps
the still-open runs open until the daemon has cancelled them. A second test lets a real
failure rate decide and checks what holds for every draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from support.brokers import Broker
from support.ci import history_ci
from support.scene import Scene, scene
from support.waiting import until

from mozci_monitor import planner
from mozci_monitor.core.campaign import CampaignState
from mozci_monitor.sim import SimTask
from mozci_monitor.sim.world import Transition
from sheriff.harness import intended, performed

PUSH = -1  # the newest push: its jobs are long done


@dataclass
class Script:
    """New tasks of `label` on the push, in order: `green` complete, then one fails and
    the rest of its batch stay open (their runs keep expiring and being retried)."""

    sc: Scene
    label: str
    green: int
    new: list[str] = field(default_factory=list)
    failed_at: float | None = None  # CI time the scripted failure resolved

    @property
    def failing(self) -> str:
        return self.new[self.green]

    def __call__(self, transition: Transition) -> None:
        task = self.sc.sim.task(transition.task_id)
        if task.label != self.label or task.push is not self.sc.pushes[PUSH]:
            return
        # a new task's first pending (the push's own task ran long before the test)
        if transition.kind == "pending" and transition.run_id == 0:
            self._script(task)
        if transition.kind == "failed" and self.failed_at is None:
            self.failed_at = self.sc.sim.now

    def _script(self, task: SimTask) -> None:
        self.new.append(task.task_id)
        position = len(self.new) - 1
        if position == self.green:
            self.sc.sim.force_outcome(task.task_id, 0, "failed")
        elif position > self.green:
            for run_id in range(5):
                self.sc.sim.force_outcome(task.task_id, run_id, "claim-expired")


def _retriggers(sc: Scene) -> list[int]:
    """`times` of every retrigger the simulator ran, in order."""
    return [
        request["times"]
        for t in sc.sim.hook_triggers
        if t.action == "retrigger-multiple"
        for request in t.input["requests"]
    ]


def _last_run(sc: Scene, task_id: str) -> tuple[str, str | None]:
    run = sc.sim.task(task_id).runs[-1]
    return run["state"], run.get("reasonResolved")


async def _run_scripted(broker: Broker, tmp_path: Path, *, restart: bool) -> None:
    batch, budget = 4, 40
    # Runs of at least 600 CI s: four expired claims outlast the scripted failure.
    config = history_ci(broker.url, test_runtime=(600.0, 1200.0))
    async with scene(broker, tmp_path, config) as sc:
        label = sorted(lbl for lbl in sc.pushes[PUSH].scheduled_labels if lbl.startswith("test-"))[
            0
        ]
        original = sc.pushes[PUSH].label_to_taskid[label]
        script = Script(sc, label, green=2 * batch)
        sc.on_transition(script)
        plan = planner.plan_until_fail(sc.push_at(PUSH), label=label, batch=batch, budget=budget)
        campaign_id = plan.campaign.campaign_id
        if restart:
            sc.gate.close_after(1)  # the first batch, then the second is held back (429)
        await sc.start(plan.campaign, *plan.requests)
        # CI time stops once the scripted failure is in: the rest of its batch stays open.
        sc.go(hold=lambda: script.failed_at is not None)
        if restart:
            await until(lambda: sc.gate.passed == 1 and sc.gate.refused >= 1, "batch 2 held")
            await sc.stop_daemon()
            assert _retriggers(sc) == [batch]
            assert not sc.campaign(campaign_id).is_final
            sc.gate.release()
            await sc.start_daemon()
        final = await sc.finished(campaign_id)
        await sc.settled(campaign_id)

        assert final.state is CampaignState.FINISHED
        failing = script.failing
        green = 1 + 2 * batch  # the push's own run and two batches
        assert final.summary["answer"] == {"failed_task": failing, "green": green, "orange": 1}
        assert final.outcome == (
            f"failure hit on run {green + 1} ({green} green before it): task {failing}"
        )
        # three batches, each a retrigger of the push's own task, and no fourth
        assert _retriggers(sc) == [batch, batch, batch]
        assert performed(sc.sim) == {("retrigger", sc.pushes[PUSH].task_group_id, label): 3}
        assert intended(sc.acts(campaign_id)) == performed(sc.sim)
        assert len(script.new) == 3 * batch
        # the rest of the failing batch was cancelled, once each; nothing else was
        still_open = script.new[2 * batch + 1 :]
        cancels = [e for e in sc.acts(campaign_id) if e.action.kind.value == "cancel"]
        assert sorted(e.action.task_id or "" for e in cancels) == sorted(still_open)
        assert all(e.state == "done" for e in cancels)
        for task_id in still_open:
            assert _last_run(sc, task_id) == ("exception", "canceled")
        assert _last_run(sc, failing) == ("failed", "failed")
        for task_id in [original, *script.new[: 2 * batch]]:
            assert _last_run(sc, task_id) == ("completed", "completed")
        sc.notified_once(campaign_id)


async def test_until_fail_stops_at_the_first_failure_and_cancels_the_rest(
    broker: Broker, tmp_path: Path
) -> None:
    await _run_scripted(broker, tmp_path, restart=False)


async def test_until_fail_resumes_after_a_restart_without_repeating(
    broker: Broker, tmp_path: Path
) -> None:
    await _run_scripted(broker, tmp_path, restart=True)


async def test_until_fail_reports_the_pass_count_when_the_budget_runs_out(
    broker: Broker, tmp_path: Path
) -> None:
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        label = sorted(lbl for lbl in sc.pushes[PUSH].scheduled_labels if "test-" in lbl)[0]
        plan = planner.plan_until_fail(sc.push_at(PUSH), label=label, batch=5, budget=12)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED
        assert final.outcome == "no failure in 12 runs (budget reached)"
        assert final.summary["answer"] == {"failed_task": None, "green": 12, "orange": 0}
        # the push's own run, then 5 + 5 + 1: exactly the budget
        assert _retriggers(sc) == [5, 5, 1]
        assert len(sc.tasks_at(PUSH, label)) == 12
        assert not [
            e for e in sc.acts(plan.campaign.campaign_id) if e.action.kind.value == "cancel"
        ]
        sc.notified_once(plan.campaign.campaign_id)


async def test_until_fail_campaign_budget_holds(broker: Broker, tmp_path: Path) -> None:
    """The campaign budget counts tasks: 4 of them are a batch of 3, then the next batch
    sized down to the 1 left, then nothing."""
    async with scene(broker, tmp_path, history_ci(broker.url)) as sc:
        label = sorted(lbl for lbl in sc.pushes[PUSH].scheduled_labels if "test-" in lbl)[0]
        plan = planner.plan_until_fail(
            sc.push_at(PUSH), label=label, batch=3, budget=12, campaign_budget=4
        )
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.GAVE_UP
        assert final.outcome == "campaign task budget spent; 5 green runs, no failure"
        assert final.summary["answer"] == {"failed_task": None, "green": 5, "orange": 0}
        assert _retriggers(sc) == [3, 1]
        assert (final.actions, final.tasks) == (2, 4)
        assert len(sc.tasks_at(PUSH, label)) == 5
        sc.notified_once(plan.campaign.campaign_id)


async def test_until_fail_on_a_known_failure_rate(broker: Broker, tmp_path: Path) -> None:
    """Half the runs fail: whatever the draw, it stops at the first failure it sees."""
    suite = [f"test-linux1804-64/opt-mochitest-browser-chrome-{i}" for i in (1, 2, 3)]
    suite += [f"test-windows11-64/opt-web-platform-tests-{i}" for i in (1, 2, 3)]
    config = history_ci(broker.url, label_failure_rates=dict.fromkeys(suite, 0.5))
    async with scene(broker, tmp_path, config) as sc:
        # a push where one of those labels ran and passed (so there is something to do)
        index, label = next(
            (i, lbl)
            for i in range(len(sc.pushes) - 1, -1, -1)
            for lbl in suite
            if lbl in sc.pushes[i].label_to_taskid
            and _last_run(sc, sc.pushes[i].label_to_taskid[lbl])[0] == "completed"
        )
        failures: list[float] = []
        group = sc.pushes[index].task_group_id

        def on_failure(transition: Transition) -> None:
            task = sc.sim.task(transition.task_id)
            if transition.kind == "failed" and task.label == label and task.task_group_id == group:
                failures.append(sc.sim.now)

        sc.on_transition(on_failure)
        plan = planner.plan_until_fail(sc.push_at(index), label=label, batch=5, budget=50)
        await sc.start(plan.campaign, *plan.requests)
        sc.go()
        final = await sc.finished(plan.campaign.campaign_id)
        await sc.settled(plan.campaign.campaign_id)

        assert final.state is CampaignState.FINISHED
        answer = final.summary["answer"]
        assert answer["orange"] >= 1
        failed_task = answer["failed_task"]
        assert sc.sim.task(failed_task).label == label
        assert sc.sim.task(failed_task).task_group_id == group
        assert any(run["state"] == "failed" for run in sc.sim.task(failed_task).runs)
        assert final.outcome is not None and final.outcome.startswith("failure hit on run")
        assert failed_task in final.outcome
        # no batch was asked for once a run had failed
        triggers = [t for t in sc.sim.hook_triggers if t.action == "retrigger-multiple"]
        assert triggers, "the push's own run passed: at least one batch ran"
        assert all(t.at <= failures[0] for t in triggers)
        assert intended(sc.acts(plan.campaign.campaign_id)) == performed(sc.sim)
        # whatever was cancelled belongs to this request and was not the failing task
        for entry in sc.acts(plan.campaign.campaign_id):
            if entry.action.kind.value == "cancel":
                assert entry.action.task_id != failed_task
                assert sc.sim.task(entry.action.task_id or "").label == label
        sc.notified_once(plan.campaign.campaign_id)
