"""What the capacity check reads from the outbox, the same from both stores: where an
action's tasks go (pool from the known task's status, platform from the label), the tasks
scheduled on a UTC day, and a deferral that undoes the attempt just started."""

from __future__ import annotations

from store.pulse_builder import GROUP, slug

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.model import Phase, Push, Run, RunState, TaskRecord, TaskStatus
from mozci_monitor.ports.store import ScheduledTasks
from store_contract.conftest import AnyStore

PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
LABEL = "test-linux1804-64/opt-mochitest-1"
OTHER = "test-windows11-64/debug-xpcshell-2"
AT = "2026-11-22T12:00:00.000Z"
NEXT_DAY = "2026-11-23T08:00:00.000Z"


def _known_task(store: AnyStore, n: int, label: str, pool: str) -> None:
    provisioner, worker_type = pool.split("/")
    status = TaskStatus(
        slug(n),
        GROUP,
        "completed",
        0,
        (Run(0, RunState.COMPLETED, "scheduled"),),
        provisioner_id=provisioner,
        worker_type=worker_type,
    )
    store.save_task(TaskRecord(slug(n), GROUP, label, status, Phase.COMPLETED), AT)


def test_tasks_of_an_action_by_pool_and_platform(store: AnyStore) -> None:
    with store.transaction():
        _known_task(store, 1, LABEL, "gecko-t/t-linux-xlarge")
    retrigger = Action("r", ActionKind.RETRIGGER, PUSH, task_id=slug(1), labels=(LABEL,), times=3)
    assert store.tasks_of_action(retrigger) == [
        ScheduledTasks("gecko-t/t-linux-xlarge", "linux1804-64", 3, LABEL)
    ]
    # A label without a known task on the push: only its platform is known.
    jobs = Action("a", ActionKind.ADD_NEW_JOBS, PUSH, labels=(LABEL, OTHER), times=2)
    assert store.tasks_of_action(jobs) == [
        ScheduledTasks("gecko-t/t-linux-xlarge", "linux1804-64", 2, LABEL),
        ScheduledTasks(None, "windows11-64", 2, OTHER),
    ]
    assert store.tasks_of_action(Action("c", ActionKind.CANCEL, PUSH, task_id=slug(1))) == []
    # A label the push never ran runs where another push's task of it ran.
    elsewhere = Push("autoland", "1" * 40, "otherGroupAAAAAAAAAAAA")
    later = Action("l", ActionKind.ADD_NEW_JOBS, elsewhere, labels=(LABEL,))
    assert store.tasks_of_action(later) == [
        ScheduledTasks("gecko-t/t-linux-xlarge", "linux1804-64", 1, LABEL)
    ]


def test_tasks_scheduled_on_a_day_count_performed_and_started_actions(store: AnyStore) -> None:
    with store.transaction():
        _known_task(store, 1, LABEL, "gecko-t/t-linux-xlarge")
        for key in ("done", "dry", "started", "mine", "untried", "notify"):
            kind = ActionKind.NOTIFY if key == "notify" else ActionKind.RERUN
            store.add_action(Action(key, kind, PUSH, task_id=slug(1)), AT)
    store.mark_action_started("done", AT)
    store.mark_action_done("done", AT, "rerun: task now has 2 runs")
    store.mark_action_started("dry", AT)
    store.mark_action_done("dry", AT, "dry-run: would rerun")
    store.claim_actions("other", lease_seconds=300.0)
    store.mark_action_started("started", AT, owner="other")  # another instance, in progress
    store.mark_action_started("notify", AT, owner="other")
    store.mark_action_done("notify", AT, "notified", owner="other")
    one = ScheduledTasks("gecko-t/t-linux-xlarge", "linux1804-64", 1, LABEL)
    assert store.tasks_scheduled_on(AT[:10]) == [one, one]
    # The instance's own entries in progress are its capacity check's to count.
    assert store.tasks_scheduled_on(AT[:10], owner="other") == [one]
    assert store.tasks_scheduled_on(NEXT_DAY[:10]) == []


def test_a_deferral_undoes_the_attempt_just_started(store: AnyStore) -> None:
    with store.transaction():
        store.add_action(Action("k", ActionKind.RERUN, PUSH, task_id=slug(1)), AT)
    store.claim_actions("me", lease_seconds=300.0)
    assert store.mark_action_started("k", AT, owner="me") is True
    assert store.mark_action_deferred("k", "deferred: pool full", started_at=None, owner="me")
    (entry,) = store.pending_actions()
    assert (entry.attempts, entry.started_at, entry.last_error) == (0, None, "deferred: pool full")
    assert not store.mark_action_deferred("k", "x", started_at=None, owner="someone-else")


def test_entries_waiting_for_capacity_are_claimed_after_the_others(store: AnyStore) -> None:
    with store.transaction():
        for n, key in enumerate(("b-old", "c-old", "a-newer")):  # keys against the order
            at = f"2026-11-22T12:00:0{n}.000Z"
            store.add_action(Action(key, ActionKind.RERUN, PUSH, task_id=slug(n + 1)), at)
    # Oldest first, as long as nothing waits for capacity.
    assert [e.key for e in store.claim_actions("me", lease_seconds=300.0, limit=1)] == ["b-old"]
    store.claim_actions("me", lease_seconds=300.0)
    for key in ("b-old", "c-old"):
        store.mark_action_started(key, AT, owner="me")
        store.mark_action_deferred(key, "deferred: quota", started_at=None, owner="me")
    store.release_actions("me")
    assert [e.key for e in store.claim_actions("me", lease_seconds=300.0, limit=1)] == ["a-newer"]
    claimed = store.claim_actions("me", lease_seconds=300.0, limit=3)
    assert sorted(e.key for e in claimed) == ["a-newer", "b-old", "c-old"]


def test_an_action_sized_down_counts_what_it_schedules(store: AnyStore) -> None:
    """The daily budget and the capacity quota count the sized action once it is recorded,
    and only the instance holding the entry may record it."""
    with store.transaction():
        _known_task(store, 1, LABEL, "gecko-t/t-linux-xlarge")
        decided = Action("r", ActionKind.RETRIGGER, PUSH, task_id=slug(1), labels=(LABEL,), times=5)
        store.add_action(decided, AT)
    assert store.count_tasks(repo=PUSH.repo, day=AT[:10]) == 5
    store.claim_actions("mine", lease_seconds=300.0)
    store.mark_action_started("r", AT, owner="mine")
    sized = Action(
        "r",
        ActionKind.RETRIGGER,
        PUSH,
        task_id=slug(1),
        labels=(LABEL,),
        times=2,
        details={"sized_from": 5},
    )
    assert store.mark_action_sized(sized, owner="someone-else") is False
    assert store.mark_action_sized(sized, owner="mine") is True
    assert store.count_tasks(repo=PUSH.repo, day=AT[:10]) == 2
    assert store.tasks_scheduled_on(AT[:10], owner="other") == [
        ScheduledTasks("gecko-t/t-linux-xlarge", "linux1804-64", 2, LABEL)
    ]
    (entry,) = store.pending_actions()
    assert entry.action == sized  # a retry performs what was admitted
