"""Requests, tasks, timeline, rejections and campaigns: same answers from both stores."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from store.pulse_builder import GROUP, LABEL, OTHER_GROUP, OTHER_LABEL, FakeTask, make_request, slug

from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.machine import observe
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import (
    ActionTask,
    FailureKind,
    Phase,
    Push,
    RemedyPolicy,
    Request,
    RequestState,
    TaskRecord,
    TimelineEntry,
)
from mozci_monitor.store.postgres import PostgresStore
from mozci_monitor.store.sql import REJECTED_BODY_LIMIT
from mozci_monitor.store.sqlite import SqliteStore
from store_contract.conftest import AnyStore, OpenStore

AT = "2026-11-22T12:00:00.000Z"
LATER = "2026-11-22T12:05:00.000Z"
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)


def _record(task: FakeTask, *steps: str) -> TaskRecord:
    """The record the engine would store after the task's messages up to `steps`."""
    record: TaskRecord | None = None
    for step in steps:
        if step == "pending":
            message = task.pending()
        elif step == "running":
            message = task.running()
        else:
            state, _, reason = step.partition(":")
            message = task.resolve(state, reason or None)
        event = message.event()
        record = observe(record, event.status, event.label).record
    assert record is not None
    return record


def test_the_postgres_store_has_every_public_method_of_the_sqlite_store() -> None:
    """SqliteStore grows with the daemon; PostgresStore must grow with it."""

    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(SqliteStore) - public(PostgresStore) == set()


# -- requests ----------------------------------------------------------------------------------


def test_request_round_trip_keeps_every_field(store: AnyStore) -> None:
    request = make_request(
        "req-1",
        wanted=3,
        task_ids=(slug(1), slug(2)),
        campaign_id=None,
        remedy=RemedyPolicy.WATCH,
        require_green=True,
        max_actions=4,
        actions=1,
        expected_new=2,
        awaiting_rerun=(slug(1),),
        replaced=(slug(2),),
    )
    store.add_request(request, AT)
    assert store.get_request("req-1") == request


def test_request_round_trip_of_every_model_field(store: AnyStore) -> None:
    """Every field set away from its default: a field added to Request must be stored."""
    request = Request(
        request_id="req-all",
        push=PUSH,
        label="test-\x00label",
        wanted=7,
        state=RequestState.RUNNING,
        failure=FailureKind.ORANGE,
        reason="why \\u0000 not",
        campaign_id="c-9",
        task_ids=(slug(1), slug(2)),
        remedy=RemedyPolicy.UNTIL_SIGNATURE,
        require_green=True,
        max_actions=9,
        actions=2,
        tasks=6,
        expected_new=1,
        awaiting_rerun=(slug(1),),
        replaced=(slug(2),),
        batch=5,
        cancel_on_fail=False,
        judge_by_results=True,
        runs_green=3,
        runs_orange=1,
        first_orange=slug(2),
        action_tasks=(
            ActionTask(slug(3), "req-all/action-1", "retrigger-multiple", times=2),
            ActionTask(
                slug(4),
                "req-all/action-2",
                "add-new-jobs",
                times=2,
                state="completed",
                completed_at=AT,
                retry_of="req-all/action-1",
            ),
        ),
        opened_at=AT,
    )
    default = Request("d", Push("r", "v", "g"), "x")
    unchanged = [
        f.name for f in fields(Request) if getattr(request, f.name) == getattr(default, f.name)
    ]
    assert unchanged == [], f"set these in the test too: {unchanged}"
    store.add_request(request, AT)
    got = store.get_request("req-all")
    assert got is not None
    if got.label != request.label:  # PostgreSQL text cannot hold NUL: it becomes U+FFFD
        assert got == replace(request, label="test-\ufffdlabel")
    else:
        assert got == request


def test_save_request_updates_state_failure_reason_and_tasks(store: AnyStore) -> None:
    request = make_request("req-1")
    store.add_request(request, AT)
    saved = replace(
        request,
        state=RequestState.FAILED,
        failure=FailureKind.EXCEPTION,
        reason="internal-error",
        task_ids=(slug(5),),
    )
    store.save_request(saved, LATER)
    assert store.get_request("req-1") == saved
    assert [r.request_id for r in store.requests_serving(slug(5), GROUP, None)] == ["req-1"]
    assert store.open_task_groups() == set()  # failed is final: no longer open


def test_save_and_get_of_unknown_request(store: AnyStore) -> None:
    assert store.get_request("nope") is None
    with pytest.raises(StoreError):
        store.save_request(make_request("nope"), AT)


def test_list_requests_newest_first_open_only_and_limit(store: AnyStore) -> None:
    store.add_request(make_request("a"), "2026-11-22T10:00:00.000Z")
    store.add_request(make_request("b", state=RequestState.COMPLETED), "2026-11-22T11:00:00.000Z")
    store.add_request(make_request("c"), "2026-11-22T11:00:00.000Z")
    assert [r.request_id for r in store.list_requests()] == ["b", "c", "a"]
    assert [r.request_id for r in store.list_requests(open_only=True)] == ["c", "a"]
    assert [r.request_id for r in store.list_requests(limit=1)] == ["b"]


def test_find_requests_by_prefix_bytewise_and_without_wildcards(store: AnyStore) -> None:
    for request_id in ("ab_1", "abc", "abd", "aB", "b", "ab%"):
        store.add_request(make_request(request_id), AT)
    assert [r.request_id for r in store.find_requests("ab")] == ["ab%", "ab_1", "abc", "abd"]
    assert [r.request_id for r in store.find_requests("ab_")] == ["ab_1"]
    assert [r.request_id for r in store.find_requests("ab%")] == ["ab%"]
    assert [r.request_id for r in store.find_requests("z")] == []


def test_open_task_groups_are_groups_of_open_requests_and_campaigns(store: AnyStore) -> None:
    assert store.count_open_requests() == 0
    store.add_request(make_request("a", group=GROUP), AT)
    store.add_request(make_request("b", group=OTHER_GROUP, state=RequestState.COMPLETED), AT)
    store.add_request(make_request("c", group=GROUP), AT)
    assert store.open_task_groups() == {GROUP}
    assert store.count_open_requests() == 2
    # A fill or downstream campaign watches its push before it has any request.
    third = slug(3_000)
    fill = Campaign("c-fill", CampaignKind.FILL, Push("autoland", "b" * 40, third))
    store.add_campaign(fill, AT)
    assert store.open_task_groups() == {GROUP, third}
    assert store.watched_among([GROUP, OTHER_GROUP, third, slug(4_000)]) == {GROUP, third}
    store.save_campaign(replace(fill, state=CampaignState.FINISHED), LATER)
    assert store.open_task_groups() == {GROUP}
    assert store.watched_among([third, OTHER_GROUP]) == set()
    assert store.watched_among([]) == set()


def test_watched_among_answers_for_more_groups_than_one_statement_lists(
    store: AnyStore,
) -> None:
    groups = [slug(5_000 + n) for n in range(600)]
    for n, group in enumerate(groups[::3]):
        store.add_request(make_request(f"r{n}", group=group), AT)
    assert store.watched_among([*groups, GROUP]) == set(groups[::3])


def test_meta_values_are_kept_and_replaced(store: AnyStore, open_store: OpenStore) -> None:
    assert store.get_meta("pulse.bound_groups") is None
    store.set_meta("pulse.bound_groups", '["a"]')
    store.set_meta("other", "x")
    store.set_meta("pulse.bound_groups", '["a", "b"]')
    assert open_store().get_meta("pulse.bound_groups") == '["a", "b"]'
    assert store.get_meta("other") == "x"


def test_requests_serving_by_task_and_by_open_group_and_label(store: AnyStore) -> None:
    store.add_request(make_request("owner", task_ids=(slug(1),)), AT)
    store.add_request(make_request("wants-label"), AT)
    store.add_request(make_request("other-label", label=OTHER_LABEL), AT)
    store.add_request(make_request("closed", state=RequestState.COMPLETED), AT)
    serving = {r.request_id for r in store.requests_serving(slug(1), GROUP, LABEL)}
    assert serving == {"owner", "wants-label"}
    assert [r.request_id for r in store.requests_serving(slug(1), GROUP, None)] == ["owner"]
    assert store.requests_serving(slug(9), OTHER_GROUP, LABEL) == []


# -- tasks -------------------------------------------------------------------------------------


def test_task_round_trip_and_replacement(store: AnyStore) -> None:
    task = FakeTask(slug(1))
    pending = _record(task, "pending")
    store.save_task(pending, AT)
    assert store.get_task(slug(1)) == pending
    finished = _record(task, "running", "exception:claim-expired")
    store.save_task(finished, LATER)
    got = store.get_task(slug(1))
    assert got == finished
    assert got is not None and got.phase is not Phase.PENDING


def test_unlabelled_unscheduled_task_round_trip(store: AnyStore) -> None:
    event = FakeTask(slug(2), label=None).defined().event()
    record = observe(None, event.status, event.label).record
    store.save_task(record, AT)
    assert store.get_task(slug(2)) == record


def test_get_tasks_and_tasks_in_group(store: AnyStore) -> None:
    records = [_record(FakeTask(slug(n)), "pending") for n in range(1, 600)]
    other = _record(FakeTask(slug(9000), group=OTHER_GROUP), "pending")
    with store.transaction():
        for record in [*records, other]:
            store.save_task(record, AT)
    wanted = [slug(n) for n in range(1, 600, 2)] + [slug(7777)]
    found = store.get_tasks(wanted)
    assert set(found) == {slug(n) for n in range(1, 600, 2)}
    assert found[slug(3)] == records[2]
    in_group = store.tasks_in_group(GROUP)
    assert [r.task_id for r in in_group] == sorted(r.task_id for r in records)
    assert store.tasks_in_group(OTHER_GROUP) == [other]
    assert store.get_task(slug(7777)) is None


# -- timeline and rejections -------------------------------------------------------------------


def test_timeline_keeps_append_order_and_details(store: AnyStore) -> None:
    store.add_request(make_request("req-1"), AT)
    store.append_timeline(
        "req-1",
        [
            TimelineEntry("registered", None, {"wanted": 2, "labels": ["a", "b"]}),
            TimelineEntry("task", slug(1), {"phase": "pending", "nested": {"x": None}}),
            TimelineEntry("odd", None, {"text": "a\\u0000b", "bytes": "\\"}),
        ],
        AT,
    )
    store.append_timeline("req-1", [TimelineEntry("final", None, {"state": "completed"})], LATER)
    store.append_timeline("req-1", [], LATER)
    entries = store.timeline("req-1")
    assert [(e.kind, e.task_id, e.at) for e in entries] == [
        ("registered", None, AT),
        ("task", slug(1), AT),
        ("odd", None, AT),
        ("final", None, LATER),
    ]
    assert entries[0].detail == {"wanted": 2, "labels": ["a", "b"]}
    assert entries[1].detail == {"phase": "pending", "nested": {"x": None}}
    assert entries[2].detail == {"text": "a\\u0000b", "bytes": "\\"}
    assert entries[0].seq < entries[1].seq < entries[2].seq < entries[3].seq
    assert store.timeline("unknown") == []


def test_rejections_newest_first_truncated_and_counted(store: AnyStore) -> None:
    big = b"\x00\xff" * REJECTED_BODY_LIMIT
    store.record_rejection(Rejection("exchange/a", "rk.1", "not json", b"{"), AT)
    store.record_rejection(Rejection("exchange/b", "rk.2", "bad\x00reason", big), LATER)
    assert store.count_rejections() == 2
    newest, oldest = store.rejections()
    assert oldest == (AT, "exchange/a", "rk.1", "not json")
    assert newest[:3] == (LATER, "exchange/b", "rk.2")
    assert newest[3].startswith("bad") and newest[3].endswith("reason")
    assert store.rejections(limit=1) == [newest]


# -- campaigns ---------------------------------------------------------------------------------


def _campaign(campaign_id: str = "c-1", **fields: object) -> Campaign:
    return Campaign(
        campaign_id,
        CampaignKind.WATCH,
        PUSH,
        label=LABEL,
        params={"times": 3, "builds": ["x"]},
        **fields,  # type: ignore[arg-type]
    )


def test_campaign_round_trip_and_save(store: AnyStore) -> None:
    campaign = _campaign(max_actions=5, dry_run=True, summary={"requests": 0})
    store.add_campaign(campaign, AT)
    assert store.get_campaign("c-1") == campaign

    finished = replace(
        campaign,
        state=CampaignState.FINISHED,
        outcome="all green",
        actions=2,
        tasks=5,
        params={"times": 3, "expanded": True},
        summary={"requests": 1, "states": {"completed": 1}},
    )
    store.save_campaign(finished, LATER)
    assert store.get_campaign("c-1") == finished
    assert store.list_campaigns(open_only=True) == []
    with pytest.raises(StoreError):
        store.save_campaign(_campaign("missing"), AT)
    assert store.get_campaign("missing") is None


def test_find_and_list_campaigns(store: AnyStore) -> None:
    store.add_campaign(_campaign("c-aa"), "2026-11-22T10:00:00.000Z")
    store.add_campaign(_campaign("c-ab"), "2026-11-22T11:00:00.000Z")
    store.add_campaign(_campaign("d-1", state=CampaignState.CANCELED), "2026-11-22T12:00:00.000Z")
    assert [c.campaign_id for c in store.find_campaigns("c-a")] == ["c-aa", "c-ab"]
    assert [c.campaign_id for c in store.list_campaigns()] == ["d-1", "c-ab", "c-aa"]
    assert [c.campaign_id for c in store.list_campaigns(open_only=True, limit=1)] == ["c-ab"]


def test_campaign_requests_in_creation_order(store: AnyStore) -> None:
    store.add_campaign(_campaign("c-1"), AT)
    store.add_request(make_request("r-2", campaign_id="c-1"), LATER)
    store.add_request(make_request("r-1", campaign_id="c-1"), AT)
    store.add_request(make_request("r-3"), AT)
    assert [r.request_id for r in store.campaign_requests("c-1")] == ["r-1", "r-2"]


def test_a_second_connection_sees_committed_rows(store: AnyStore, open_store: OpenStore) -> None:
    with store.transaction():
        store.add_request(make_request("req-1"), AT)
    other = open_store()
    assert other.get_request("req-1") == make_request("req-1")


def test_nul_characters_from_hostile_messages_are_stored(store: AnyStore) -> None:
    """SQLite keeps NUL; PostgreSQL text and JSONB cannot, so it becomes U+FFFD there."""
    record = _record(FakeTask(slug(3), label="evil\x00label"), "pending")
    store.save_task(record, AT)
    store.add_request(make_request("req-1"), AT)
    store.append_timeline("req-1", [TimelineEntry("task", slug(3), {"label": "a\x00b"})], AT)
    got = store.get_task(slug(3))
    (entry,) = store.timeline("req-1")
    assert got is not None
    assert got.label in ("evil\x00label", "evil\ufffdlabel")
    assert entry.detail["label"] in ("a\x00b", "a\ufffdb")
