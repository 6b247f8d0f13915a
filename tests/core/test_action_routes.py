"""The choice of in-tree action, as tables (core.action_routes)."""

from __future__ import annotations

from typing import Any

import pytest

from mozci_monitor.core.action_routes import (
    choose_add_new_jobs,
    choose_retrigger,
    declared_inputs,
    first_entry,
    fits,
)
from mozci_monitor.core.errors import ActionError


def entry(name: str, context: list[dict[str, str]], cb: str | None = None, **extra: Any) -> Any:
    return {
        "name": name,
        "kind": extra.pop("kind", "hook"),
        "context": context,
        "hookPayload": {"decision": {"action": {"cb_name": cb or name}}},
        **extra,
    }


@pytest.mark.parametrize(
    "context, tags, expected",
    [
        ([], None, True),  # push-level entry, asked for the push
        ([], {"kind": "test"}, False),  # push-level entry, asked for a task
        ([{}], None, False),
        ([{}], {}, True),  # any task
        ([{"retrigger": "true"}], {"retrigger": "true", "kind": "test"}, True),
        ([{"retrigger": "true"}], {"retrigger": "false"}, False),
        ([{"retrigger": "true"}], {}, False),
        (
            [{"kind": "decision-task"}, {"kind": "action-callback"}],
            {"kind": "action-callback"},
            True,
        ),
        ([{"kind": "test", "worker-implementation": "docker-worker"}], {"kind": "test"}, False),
    ],
)
def test_fits(context, tags, expected):
    assert fits(entry("x", context), tags) is expected


def test_first_fitting_entry_of_a_name_wins():
    entries = [
        entry("retrigger", [{"kind": "decision-task"}], "retrigger-decision"),
        entry("retrigger", [{"retrigger": "true"}], "retrigger"),
        entry("retrigger", [{}], "retrigger-disabled"),
    ]
    table = [
        ({"kind": "decision-task"}, 0),
        ({"kind": "test", "retrigger": "true"}, 1),
        ({"kind": "build", "retrigger": "false"}, 2),
        ({}, 2),
    ]
    for tags, index in table:
        found = first_entry(entries, "retrigger", tags)
        assert found is not None and found[0] == index, tags


def actions(*entries: Any) -> Any:
    return {"version": 1, "variables": {}, "actions": list(entries)}


RETRIGGERS = (
    entry("retrigger", [{"kind": "decision-task"}], "retrigger-decision"),
    entry("retrigger", [{"retrigger": "true"}], "retrigger"),
    entry("retrigger", [{}], "retrigger-disabled"),
)
ADD = entry("add-new-jobs", [], schema={"properties": {"tasks": {}, "times": {}}})
MULTIPLE = entry("retrigger-multiple", [])
TEST = {"kind": "test", "retrigger": "true"}
BUILD = {"kind": "build", "retrigger": "false"}


@pytest.mark.parametrize(
    "entries, tags, route, task_id",
    [
        ((*RETRIGGERS, ADD, MULTIPLE), TEST, "retrigger-multiple", None),
        ((*RETRIGGERS, ADD), TEST, "retrigger", "T"),
        # the only retrigger entry that fits is the disabled one: add-new-jobs instead
        ((RETRIGGERS[0], RETRIGGERS[2], ADD), TEST, "add-new-jobs", None),
        ((*RETRIGGERS, ADD, MULTIPLE), BUILD, "add-new-jobs", None),
        ((*RETRIGGERS, ADD, MULTIPLE), {"kind": "test"}, "add-new-jobs", None),
        ((entry("retrigger-multiple", [], kind="task"), *RETRIGGERS, ADD), TEST, "retrigger", "T"),
    ],
)
def test_retrigger_route(entries, tags, route, task_id):
    choice = choose_retrigger(actions(*entries), label="L", task_id="T", tags=tags, times=2)
    assert (choice.route, choice.task_id) == (route, task_id)


def test_inputs_by_route():
    assert choose_retrigger(
        actions(MULTIPLE, ADD), label="L", task_id="T", tags=TEST, times=3
    ).input == {"requests": [{"tasks": ["L"], "times": 3}]}
    assert choose_add_new_jobs(actions(ADD), ["A", "B"], 2).input == {
        "tasks": ["A", "B"],
        "times": 2,
    }


def test_add_new_jobs_without_times_refuses_several_runs():
    old = entry("add-new-jobs", [], schema={"properties": {"tasks": {}}})
    assert choose_add_new_jobs(actions(old), ["A"], 1).input == {"tasks": ["A"]}
    with pytest.raises(ActionError, match="times"):
        choose_add_new_jobs(actions(old), ["A"], 2)


@pytest.mark.parametrize(
    "schema, declared",
    [
        (None, None),
        ({"type": "object"}, None),
        ({"properties": {}}, frozenset()),
        ({"properties": {"additionalProperties": False, "requests": {}}}, frozenset({"requests"})),
    ],
)
def test_declared_inputs(schema, declared):
    assert declared_inputs({"schema": schema} if schema is not None else {}) == declared


def test_unsupported_version_is_refused():
    with pytest.raises(ActionError, match="version"):
        choose_add_new_jobs({"version": 2, "actions": []}, ["A"], 1)
