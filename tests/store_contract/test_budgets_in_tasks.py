"""Budgets count tasks: the outbox and campaigns record tasks, on both stores, and a store
made before they did migrates with its rows' tasks computed from their payloads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store.pulse_builder import GROUP, slug

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.codec import action_to_json
from mozci_monitor.core.model import Push
from mozci_monitor.store.postgres import PostgresStore
from mozci_monitor.store.sqlite import SqliteStore
from store_contract.conftest import AnyStore

AT = "2026-11-22T12:00:00.000Z"
DAY = AT[:10]
PUSH = Push("autoland", "219d38523a321229f7f48aca6592f76b993fb1aa", GROUP)
# The last schema before the outbox and campaigns recorded tasks, per dialect.
BEFORE_TASKS = {"sqlite": 6, "postgres": 5}


def _campaign(**fields: Any) -> Campaign:
    return Campaign("c-0123456789", CampaignKind.WATCH, PUSH, "test-a", **fields)


# What a store queued before the migration: each kind's tasks, by the rule of tasks_of.
OLD_ROWS = [
    (Action("r5", ActionKind.RETRIGGER, PUSH, campaign_id="c-0123456789", times=5), 5),
    (Action("rr", ActionKind.RERUN, PUSH, campaign_id="c-0123456789", task_id=slug(1)), 1),
    (
        Action("add", ActionKind.ADD_NEW_JOBS, PUSH, labels=("a", "b", "c"), times=2),
        6,
    ),
    (
        Action("bf", ActionKind.BACKFILL, PUSH, labels=("a",), times=2, details={"depth": 4}),
        8,
    ),
    (
        Action("cf", ActionKind.CONFIRM_FAILURES, PUSH, task_id=slug(4), details={"expect": 3}),
        3,
    ),
    (Action("cx", ActionKind.CANCEL, PUSH, campaign_id="c-0123456789", task_id=slug(2)), 0),
    (Action("nt", ActionKind.NOTIFY, PUSH, campaign_id="c-0123456789"), 0),
    (Action("fr", ActionKind.FETCH_RESULTS, PUSH, task_id=slug(3)), 0),
]
OLD_CAMPAIGN_TASKS = 5 + 1  # its retrigger and rerun (its cancel and notification: none)


def test_a_campaign_keeps_its_tasks(store: AnyStore) -> None:
    store.add_campaign(_campaign(max_actions=10, actions=2, tasks=7), AT)
    found = store.get_campaign("c-0123456789")
    assert found is not None and (found.actions, found.tasks, found.tasks_left) == (2, 7, 3)
    store.save_campaign(_campaign(max_actions=10, actions=3, tasks=10), AT)
    found = store.get_campaign("c-0123456789")
    assert found is not None and (found.tasks, found.tasks_left) == (10, 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_old_store_migrates_with_its_tasks_computed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        path = tmp_path / "old.sqlite3"
        _old_sqlite(path)
        store: AnyStore = SqliteStore(path)
    else:
        dsn = request.getfixturevalue("pg_dsn")
        _old_postgres(dsn)
        store = PostgresStore(dsn)
    try:
        assert store.count_tasks(repo="autoland", day=DAY) == sum(n for _, n in OLD_ROWS)
        campaign = store.get_campaign("c-0123456789")
        assert campaign is not None
        assert (campaign.actions, campaign.tasks) == (3, OLD_CAMPAIGN_TASKS)
        # New entries add their own tasks to the old ones.
        store.add_action(Action("new", ActionKind.RETRIGGER, PUSH, times=3), AT)
        assert store.count_tasks(repo="autoland", day=DAY) == sum(n for _, n in OLD_ROWS) + 3
    finally:
        store.close()


def _outbox_row(action: Action) -> tuple[Any, ...]:
    return (
        action.key,
        action.kind.value,
        action.request_id,
        action.campaign_id,
        PUSH.repo,
        DAY,
        json.dumps(action_to_json(action)),
        AT,
    )


_OLD_CAMPAIGN = (
    "INSERT INTO campaigns (campaign_id, kind, repo, revision, task_group_id, label, params,"
    " state, outcome, summary, max_actions, actions, dry_run, created_at, updated_at, is_open)"
    " VALUES ('c-0123456789', 'watch', 'autoland', {rev}, {group}, 'test-a', '{{}}', 'running',"
    " NULL, '{{}}', 10, 3, {false}, {at}, {at}, {true})"
)


def _old_sqlite(path: Path) -> None:
    from mozci_monitor.store.dialect import statements
    from mozci_monitor.store.sqlite import MIGRATIONS

    db = sqlite3.connect(path)
    try:
        for script in MIGRATIONS[: BEFORE_TASKS["sqlite"]]:
            for statement in statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version={BEFORE_TASKS['sqlite']}")
        db.executemany(
            "INSERT INTO outbox (key, kind, request_id, campaign_id, repo, day, payload,"
            " created_at) VALUES (?,?,?,?,?,?,?,?)",
            [_outbox_row(action) for action, _ in OLD_ROWS],
        )
        db.execute(
            _OLD_CAMPAIGN.format(rev="?", group="?", false="0", true="1", at="?"),
            (PUSH.revision, PUSH.task_group_id, AT, AT),
        )
        db.commit()
    finally:
        db.close()


def _old_postgres(dsn: str) -> None:
    import psycopg

    from mozci_monitor.store.postgres import MIGRATIONS

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
        )
        for number, script in enumerate(MIGRATIONS[: BEFORE_TASKS["postgres"]], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO outbox (key, kind, request_id, campaign_id, repo, day, payload,"
                " created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                [_outbox_row(action) for action, _ in OLD_ROWS],
            )
        conn.execute(
            _OLD_CAMPAIGN.format(rev="%s", group="%s", false="FALSE", true="TRUE", at="%s"),
            (PUSH.revision, PUSH.task_group_id, AT, AT),
        )
