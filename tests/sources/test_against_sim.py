"""The source clients against the local Firefox CI simulator (mozci_monitor.sim)."""

from __future__ import annotations

import pytest

from mozci_monitor.sim import SimConfig, Simulator
from mozci_monitor.sources import (
    NotFound,
    Policy,
    SourceSettings,
    SourceUnavailable,
    analyse_revisions,
    create_clients,
    create_session,
    render_action,
)

REPO = "autoland"


@pytest.fixture
async def sim():
    config = SimConfig(
        seed=7,
        repo=REPO,
        pushes=4,
        history_pushes=4,
        broker_url=None,
        auto_advance=False,
        platforms=("linux1804-64/opt", "windows11-64/debug"),
        suites=(("mochitest-browser-chrome", 2), ("xpcshell", 1)),
    )
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
async def clients(sim, clock):
    settings = SourceSettings(
        taskcluster_root_url=sim.root_url,
        taskcluster_credentials={"clientId": "project/mozci/monitor", "accessToken": "tok"},
        treeherder_url=sim.treeherder_url,
        hg_url=sim.hg_url,
        policies={
            name: Policy(rate_limit=5, attempts=3, breaker_threshold=3, timeout=5.0)
            for name in ("taskcluster", "treeherder", "hgmo")
        },
    )
    async with create_session() as session:
        yield create_clients(session, settings, clock=clock, sleep=clock.sleep)


async def test_pushlog_ranges_and_revision_lookup(sim, clients):
    pushes = sim.pushes
    last = await clients.hgmo.last_push_id(REPO)
    assert last == pushes[-1].push_id
    got = await clients.hgmo.pushes(REPO, pushes[1].push_id, pushes[2].push_id, full=True)
    assert [p.id for p in got] == [pushes[1].push_id, pushes[2].push_id]
    assert got[0].revision == pushes[1].revision
    assert got[0].changesets[0].desc
    assert await clients.hgmo.push_id(REPO, pushes[3].revision) == pushes[3].push_id
    with pytest.raises(NotFound):
        await clients.hgmo.push_for_revision(REPO, "f" * 40)


async def test_taskcluster_and_treeherder_agree_on_a_push(sim, clients):
    push = sim.pushes[0]
    decision = await clients.taskcluster.find_decision_task(REPO, push.revision)
    assert decision == push.decision_task_id
    members = await clients.taskcluster.list_task_group(decision)
    labels = {m.label for m in members}
    assert set(push.scheduled_labels) <= labels

    th_push = await clients.treeherder.push(REPO, push.revision)
    jobs = await clients.treeherder.jobs(th_push.id)
    job_labels = {j.label for j in jobs}
    assert set(push.scheduled_labels) <= job_labels
    by_task = {m.task_id for m in members}
    assert all(job.task_id in by_task for job in jobs)


async def test_retrigger_through_the_in_tree_action(sim, clients):
    push = sim.pushes[-1]
    tc = clients.taskcluster
    decision = await tc.find_decision_task(REPO, push.revision)
    actions_json = await tc.artifact_json(decision, "public/actions.json")
    label = push.scheduled_labels[-1]
    target = push.label_to_taskid[label]
    task = await tc.task(target)
    call = render_action(
        actions_json, "retrigger", decision, target, {"times": 2}, task_tags=task["tags"]
    )
    action_task = await tc.trigger_hook(*call)
    assert action_task
    (trigger,) = sim.hook_triggers
    assert trigger.action == "retrigger"
    assert trigger.task_id == target
    assert trigger.task_group_id == decision
    assert trigger.input == {"times": 2}
    assert trigger.action_task_id == action_task


async def test_injected_5xx_and_429_are_absorbed(sim, clients, clock):
    push = sim.pushes[0]
    sim.faults.add(r"/api/queue/v1/task/.*/status", kind="500", count=2)
    status = await clients.taskcluster.status(push.decision_task_id)
    assert status.task_id == push.decision_task_id

    sim.faults.add(r"/treeherder/api/project/.*/push/", kind="429", count=1, retry_after=9)
    await clients.treeherder.push(REPO, push.revision)
    assert 9.0 in clock.sleeps


async def test_dead_source_opens_the_breaker(sim, clients):
    sim.faults.add(r"/hg/", kind="500", count=None)
    with pytest.raises(SourceUnavailable) as info:
        await clients.hgmo.last_push_id(REPO)
    assert info.value.source == "hgmo"
    assert clients.gates["hgmo"].meter.total == 3
    # Other sources are unaffected.
    await clients.taskcluster.find_decision_task(REPO, sim.pushes[0].revision)


async def test_analyse_a_range_of_revisions(sim, clients):
    pushes = await clients.hgmo.pushes(REPO, sim.pushes[0].push_id, sim.pushes[-1].push_id)
    lines: list[str] = []

    async def analyse(push):
        th_push = await clients.treeherder.push(REPO, push.revision)
        jobs = await clients.treeherder.jobs(th_push.id)
        return len(jobs)

    outcomes = await analyse_revisions(
        pushes, analyse, log=lambda o: lines.append(f"{o.push.id}: {o.summary} jobs")
    )
    assert [o.push.id for o in outcomes] == sorted((p.id for p in pushes), reverse=True)
    assert all(o.ok and o.summary for o in outcomes)
    assert lines[0].startswith(str(sim.pushes[-1].push_id))
    for gate in clients.gates.values():
        assert gate.max_observed_rate() <= 5


async def test_a_pools_pending_count_comes_from_the_scheduler(sim, clients):
    """`queue.taskQueueCounts` through the official client: the pool's runs not claimed
    yet (a rerun adds one) plus the backlog other users keep in it."""
    resolved = ("completed", "failed", "exception")
    task = next(t for t in sim.world.tasks.values() if t.kind == "test" and t.state in resolved)
    pool = task.definition["taskQueueId"]
    before = await clients.taskcluster.pending_tasks(pool)
    assert before == sim.world.pending_tasks(pool)
    sim.world.rerun(task.task_id)
    sim.world.pool_backlog[pool] = 40
    assert await clients.taskcluster.pending_tasks(pool) == before + 1 + 40
    assert await clients.taskcluster.pending_tasks("gecko-t/no-such-pool") == 0
