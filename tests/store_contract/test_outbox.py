"""The outbox, its claims and named leases: same behaviour from both stores.

Claims are what lets several daemons share one outbox: an entry is attempted by the one
instance holding its claim, and taken over only once that claim's lease ran out.
"""

from __future__ import annotations

import threading
import time

import pytest
from store.pulse_builder import GROUP, slug

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.model import Push
from store_contract.conftest import AnyStore, OpenStore

AT = "2026-11-22T12:00:00.000Z"
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
LONG = 300.0  # seconds: a lease that does not run out during a test
EXPIRED = 0.0  # a lease that has run out as soon as it is given
SHORT = 1.0  # a lease a test waits to see run out (renewed: far longer than one statement)


def _action(key: str, kind: ActionKind = ActionKind.RETRIGGER, **fields: object) -> Action:
    defaults: dict[str, object] = {
        "push": PUSH,
        "request_id": "req-1",
        "task_id": slug(1),
        "why": "three runs wanted",
        "details": {"runs": 1, "label": "x", "none": None},
    }
    defaults.update(fields)
    return Action(key, kind, **defaults)  # type: ignore[arg-type]


def _fill(store: AnyStore, count: int) -> list[str]:
    keys = [f"k-{n:03d}" for n in range(count)]
    with store.transaction():
        for n, key in enumerate(keys):
            store.add_action(_action(key), f"2026-11-22T12:00:{n % 60:02d}.{n:03d}Z")
    return keys


# -- queueing and reading ----------------------------------------------------------------------


def test_add_action_is_idempotent_by_key_and_round_trips(store: AnyStore) -> None:
    action = _action("req-1/retrigger/1", times=2, labels=("a", "b"), campaign_id="c-1")
    assert store.add_action(action, AT) is True
    assert store.add_action(_action("req-1/retrigger/1", why="other"), AT) is False
    (entry,) = store.pending_actions()
    assert entry.action == action
    assert (entry.key, entry.state, entry.attempts) == (action.key, "pending", 0)
    assert entry.created_at == AT
    assert (entry.started_at, entry.done_at, entry.result, entry.last_error) == (None,) * 4
    assert store.actions_of(request_id="req-1") == [entry]
    assert store.actions_of(campaign_id="c-1") == [entry]
    assert store.actions_of(campaign_id="c-2") == []


def test_pending_actions_oldest_first_with_limit(store: AnyStore) -> None:
    store.add_action(_action("b"), "2026-11-22T12:00:01.000Z")
    store.add_action(_action("a"), "2026-11-22T12:00:02.000Z")
    store.add_action(_action("c"), "2026-11-22T12:00:01.000Z")
    assert [e.key for e in store.pending_actions()] == ["b", "c", "a"]
    assert [e.key for e in store.pending_actions(limit=2)] == ["b", "c"]


def test_count_tasks_sums_the_tasks_per_repo_and_day(store: AnyStore) -> None:
    """The daily budget counts tasks: a retrigger of 5 is 5, add-new-jobs of 2 labels
    twice is 4, a rerun 1; notifications, reads and cancels none."""
    store.add_action(_action("a", times=5), "2026-11-22T01:00:00.000Z")
    store.add_action(_action("b", ActionKind.RERUN), "2026-11-22T23:00:00.000Z")
    add = _action("j", ActionKind.ADD_NEW_JOBS, labels=("x", "y"), times=2, task_id=None)
    store.add_action(add, "2026-11-22T04:00:00.000Z")
    store.add_action(_action("n", ActionKind.NOTIFY, push=PUSH), "2026-11-22T02:00:00.000Z")
    # reading a run's test results acts on nothing: no budget spent
    store.add_action(_action("r", ActionKind.FETCH_RESULTS), "2026-11-22T02:00:00.000Z")
    store.add_action(_action("c", ActionKind.CANCEL), "2026-11-22T02:00:00.000Z")
    store.add_action(_action("d"), "2026-11-23T00:00:00.000Z")
    other = Push("mozilla-central", "f" * 40, GROUP)
    store.add_action(_action("e", push=other, times=3), "2026-11-22T03:00:00.000Z")
    assert store.count_tasks(repo="autoland", day="2026-11-22") == 5 + 1 + 4
    assert store.count_tasks(repo="autoland", day="2026-11-23") == 1
    assert store.count_tasks(repo="mozilla-central", day="2026-11-22") == 3
    assert store.count_tasks(repo="mozilla-central", day="2026-11-23") == 0


def test_a_replayed_key_counts_its_tasks_once(store: AnyStore) -> None:
    assert store.add_action(_action("a", times=4), AT) is True
    assert store.add_action(_action("a", times=4), AT) is False
    assert store.count_tasks(repo="autoland", day=AT[:10]) == 4


def test_marks_started_done_and_failed(store: AnyStore) -> None:
    for key in ("done", "retry", "dead"):
        store.add_action(_action(key), AT)
    store.mark_action_started("done", "2026-11-22T12:01:00.000Z")
    store.mark_action_done("done", "2026-11-22T12:02:00.000Z", "action task T")
    store.mark_action_started("retry", "2026-11-22T12:01:00.000Z")
    store.mark_action_failed("retry", "2026-11-22T12:02:00.000Z", "HTTP 503", final=False)
    store.mark_action_started("dead", "2026-11-22T12:01:00.000Z")
    store.mark_action_failed("dead", "2026-11-22T12:02:00.000Z", "x" * 5000, final=True)
    by_key = {e.key: e for e in store.actions_of(request_id="req-1")}
    done, retry, dead = by_key["done"], by_key["retry"], by_key["dead"]
    assert (done.state, done.attempts, done.result, done.done_at) == (
        "done",
        1,
        "action task T",
        "2026-11-22T12:02:00.000Z",
    )
    assert done.started_at == "2026-11-22T12:01:00.000Z"
    assert (retry.state, retry.attempts, retry.last_error, retry.done_at) == (
        "pending",
        1,
        "HTTP 503",
        None,
    )
    assert dead.state == "failed" and dead.done_at == "2026-11-22T12:02:00.000Z"
    assert dead.last_error == "x" * 2000
    assert [e.key for e in store.pending_actions()] == ["retry"]


def test_count_done_like_counts_other_done_entries_of_the_same_intent(store: AnyStore) -> None:
    mine = _action("req-1/retrigger/2")
    twin = _action("req-2/retrigger/1", request_id="req-2")  # same task, another request
    other_task = _action("req-3/retrigger/1", request_id="req-3", task_id=slug(2))
    undone = _action("req-4/retrigger/1", request_id="req-4")
    for action in (mine, twin, other_task, undone):
        store.add_action(action, AT)
    for action in (mine, twin, other_task):
        store.mark_action_done(action.key, AT, "ok")
    assert store.count_done_like(mine) == 1
    adds = _action("add", ActionKind.ADD_NEW_JOBS, task_id=None, labels=("b", "a"))
    same_adds = _action("add-2", ActionKind.ADD_NEW_JOBS, task_id=None, labels=("a", "b"))
    store.add_action(adds, AT)
    store.add_action(same_adds, AT)
    store.mark_action_done("add-2", AT, "ok")
    assert store.count_done_like(adds) == 1


# -- claims ------------------------------------------------------------------------------------


def test_claims_are_exclusive_until_the_lease_runs_out(store: AnyStore) -> None:
    keys = _fill(store, 4)
    first = store.claim_actions("a", lease_seconds=LONG, limit=3)
    assert [e.key for e in first] == keys[:3]
    second = store.claim_actions("b", lease_seconds=LONG)
    assert [e.key for e in second] == keys[3:]
    assert store.claim_actions("c", lease_seconds=LONG) == []
    # The holder gets its own entries again (its lease is extended), in order.
    assert [e.key for e in store.claim_actions("a", lease_seconds=LONG)] == keys[:3]
    assert store.claim_of(keys[0]) == ("a", True)
    with pytest.raises(StoreError):
        store.claim_of("nope")


def test_an_expired_claim_is_taken_over_and_the_old_holder_is_fenced(store: AnyStore) -> None:
    (key,) = _fill(store, 1)
    assert [e.key for e in store.claim_actions("dead", lease_seconds=EXPIRED)] == [key]
    assert store.mark_action_started(key, AT, owner="dead") is True  # then it died
    assert store.claim_of(key) == ("dead", False)
    (taken,) = store.claim_actions("alive", lease_seconds=LONG)
    assert taken.key == key
    assert taken.attempts == 1 and taken.started_at == AT  # in doubt: check before acting
    assert store.mark_action_started(key, AT, owner="dead") is False
    assert store.mark_action_done(key, AT, "late", owner="dead") is False
    assert store.mark_action_failed(key, AT, "late", final=True, owner="dead") is False
    assert store.mark_action_started(key, AT, owner="alive") is True
    assert store.mark_action_done(key, AT, "ok", owner="alive") is True
    (done,) = store.actions_of(request_id="req-1")
    assert (done.state, done.attempts, done.result) == ("done", 2, "ok")
    assert store.claim_actions("alive", lease_seconds=LONG) == []


def test_starting_an_attempt_renews_the_claim_for_a_whole_lease(store: AnyStore) -> None:
    """A batch is claimed at once and worked through one entry after another: the lease
    has to cover one attempt, not the whole batch."""
    (key,) = _fill(store, 1)
    store.claim_actions("a", lease_seconds=SHORT)
    deadline = time.monotonic() + 30
    while store.claim_of(key)[1]:  # let the lease run out while "a" works on others
        assert time.monotonic() < deadline, "a lease of a second never ran out"
        time.sleep(0.05)
    assert store.mark_action_started(key, AT, owner="a") is True
    assert store.claim_of(key) == ("a", True)  # renewed for another SHORT
    assert store.claim_actions("b", lease_seconds=LONG) == []


def test_a_retryable_failure_keeps_the_claim_and_a_final_one_ends_it(store: AnyStore) -> None:
    keys = _fill(store, 2)
    store.claim_actions("a", lease_seconds=LONG)
    assert store.mark_action_failed(keys[0], AT, "503", final=False, owner="a") is True
    assert store.mark_action_failed(keys[1], AT, "404", final=True, owner="a") is True
    assert store.claim_actions("b", lease_seconds=LONG) == []
    assert [e.key for e in store.claim_actions("a", lease_seconds=LONG)] == [keys[0]]


def test_release_actions_hands_pending_claims_back(store: AnyStore) -> None:
    keys = _fill(store, 3)
    store.claim_actions("a", lease_seconds=LONG)
    store.mark_action_done(keys[0], AT, "ok", owner="a")
    assert store.release_actions("a") == 2
    assert store.claim_of(keys[1]) == (None, False)
    assert [e.key for e in store.claim_actions("b", lease_seconds=LONG)] == keys[1:]


def test_racing_claimers_on_separate_connections_claim_each_entry_once(
    store: AnyStore, open_store: OpenStore
) -> None:
    keys = _fill(store, 120)
    workers = 4
    stores = [open_store() for _ in range(workers)]
    claimed: dict[str, list[str]] = {f"w{n}": [] for n in range(workers)}
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(owner: str, mine: AnyStore) -> None:
        try:
            start.wait()
            while True:
                batch = mine.claim_actions(owner, lease_seconds=LONG, limit=7)
                fresh = [e.key for e in batch if e.key not in claimed[owner]]
                if not fresh:
                    return
                for key in fresh:
                    assert mine.mark_action_started(key, AT, owner=owner)
                    assert mine.mark_action_done(key, AT, owner, owner=owner)
                claimed[owner].extend(fresh)
        except BaseException as error:  # surfaced below, not lost in the thread
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(owner, mine))
        for owner, mine in zip(claimed, stores, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    everything = [key for keys_of in claimed.values() for key in keys_of]
    assert sorted(everything) == keys  # every entry once, none twice
    entries = store.actions_of(request_id="req-1")
    assert all(e.state == "done" and e.attempts == 1 for e in entries)
    assert {e.key: e.result for e in entries} == {
        key: owner for owner, keys_of in claimed.items() for key in keys_of
    }


# -- leases ------------------------------------------------------------------------------------


def test_leases_are_exclusive_renewable_releasable_and_expire(
    store: AnyStore, open_store: OpenStore
) -> None:
    other = open_store()
    assert store.try_lease("reconcile/G", "a", LONG) is True
    assert other.try_lease("reconcile/G", "b", LONG) is False
    assert store.try_lease("reconcile/G", "a", LONG) is True  # renewal
    assert other.lease_holder("reconcile/G") == "a"
    assert other.release_lease("reconcile/G", "b") is False
    assert store.release_lease("reconcile/G", "a") is True
    assert other.lease_holder("reconcile/G") is None
    assert other.try_lease("reconcile/G", "b", EXPIRED) is True
    assert store.lease_holder("reconcile/G") is None  # ran out at once
    assert store.try_lease("reconcile/G", "a", LONG) is True
    assert other.try_lease("reconcile/H", "b", LONG) is True  # names are independent


def test_racing_lease_takers_get_one_winner(store: AnyStore, open_store: OpenStore) -> None:
    stores = [open_store() for _ in range(4)]
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def take(owner: str, mine: AnyStore) -> None:
        start.wait()
        if mine.try_lease("reconcile/G", owner, LONG):
            won.append(owner)

    threads = [threading.Thread(target=take, args=(f"o{n}", mine)) for n, mine in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert store.lease_holder("reconcile/G") == won[0]


# -- the actuator's own connection -------------------------------------------------------------


def test_the_outbox_works_while_a_batch_holds_the_store(store: AnyStore, kind: str) -> None:
    """PostgreSQL: the actuator's connection claims and marks while the engine's connection
    is inside a batch. SQLite has one write lock: the actuator shares the store's own."""
    outbox = store.outbox()
    if kind == "sqlite":
        assert outbox is store
        return
    assert outbox is not store
    (key,) = _fill(store, 1)
    with store.transaction():
        store.add_action(_action("k-batch"), AT)  # a batch in progress, not yet committed
        claimed = outbox.claim_actions("a", lease_seconds=LONG)
        assert [entry.key for entry in claimed] == [key]
        assert outbox.mark_action_started(key, AT, owner="a")
        assert outbox.mark_action_done(key, AT, "done", owner="a")
    assert [entry.state for entry in store.actions_of(request_id="req-1")] == ["done", "pending"]
