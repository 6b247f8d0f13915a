"""Conformance against real Firefox CI `public/actions.json` files (tests/fixtures/actions/).

For each remedy the monitor performs, the entry it chooses and the hook payload it renders
(JSON-e, with the decision task's context as Treeherder and gecko's `trigger_action` build
it) must fit that entry's real schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mozci_monitor.core.action_routes import (
    choose_add_new_jobs,
    choose_backfill,
    choose_retrigger,
    choose_task_action,
)
from mozci_monitor.core.errors import ActionNotFound
from mozci_monitor.sources.actions import render_action, render_choice

FIXTURES = Path(__file__).parent.parent / "fixtures" / "actions"
AUTOLAND_DECISION = "f7Jj_h6MTEKr5Ln_7aFqbw"
CENTRAL_DECISION = "ZccXq7SFRLyRF7l6unyxkQ"

# What the malformed real `retrigger-multiple` schema evidently means (gecko's callback reads
# `requests[].tasks` and `requests[].times`): the schema the payload is checked against.
RETRIGGER_MULTIPLE_INTENT = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "tasks": {"type": "array", "items": {"type": "string"}},
                    "times": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                "required": ["tasks"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["requests"],
    "additionalProperties": False,
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def autoland() -> Any:
    return load("autoland-treeherder-sherlock.json")


@pytest.fixture
def raptor() -> Any:
    return load("autoland-treeherder-sherlock-task.json")


@pytest.fixture
def build_2018() -> Any:
    return load("mozilla-central-2018-build-task.json")


@pytest.fixture
def test_2018() -> Any:
    return load("mozilla-central-2018-test-task.json")


def entry_schema(actions_json: Any, index: int) -> Any:
    return actions_json["actions"][index].get("schema")


def check_user_part(payload: Any, decision: str, task_id: str | None, user_input: Any) -> None:
    assert payload["user"] == {"input": user_input, "taskGroupId": decision, "taskId": task_id}


def test_the_real_file_is_in_its_real_order(autoland):
    routes = [
        (a["name"], a["hookPayload"]["decision"]["action"]["cb_name"]) for a in autoland["actions"]
    ]
    assert routes[1:4] == [
        ("retrigger", "retrigger-decision"),
        ("retrigger", "retrigger"),
        ("retrigger", "retrigger-disabled"),
    ]
    assert routes[-1] == ("retrigger-multiple", "retrigger-multiple")


def test_the_real_retrigger_multiple_schema_is_malformed(autoland):
    """Say it plainly: the schema gecko publishes refuses the input Treeherder sends.

    `tasks` and `times` sit directly in `items` (no `properties`) next to
    `additionalProperties: false`, so every key of a request is "additional"; and another
    `additionalProperties: false` sits inside `properties`, as if it were an input. Gecko's
    callback reads `requests[].tasks` and `requests[].times` and Treeherder sends exactly
    that, so payloads are checked against that evident intent instead.
    """
    index = next(i for i, a in enumerate(autoland["actions"]) if a["name"] == "retrigger-multiple")
    schema = entry_schema(autoland, index)
    assert schema["properties"]["additionalProperties"] is False
    assert "properties" not in schema["properties"]["requests"]["items"]
    as_treeherder_sends = {"requests": [{"tasks": ["a-label"], "times": 3}]}
    with pytest.raises(jsonschema.ValidationError, match="'tasks', 'times' were unexpected"):
        jsonschema.validate(as_treeherder_sends, schema)
    jsonschema.validate(as_treeherder_sends, RETRIGGER_MULTIPLE_INTENT)
    for wrong in ({"requests": [{"tasks": "a-label"}]}, {"requests": [{"tasks": [], "times": 0}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, RETRIGGER_MULTIPLE_INTENT)


@pytest.mark.parametrize(
    "fixture, decision",
    [
        ("autoland-treeherder-sherlock.json", AUTOLAND_DECISION),
        ("mozilla-central-perfcompare-retrigger-multiple.json", CENTRAL_DECISION),
    ],
)
def test_retrigger_of_a_retriggerable_test_goes_through_retrigger_multiple(
    fixture, decision, raptor
):
    actions_json = load(fixture)
    label = raptor["metadata"]["name"]
    choice = choose_retrigger(
        actions_json, label=label, task_id="TASKID", tags=raptor["tags"], times=3
    )
    assert (choice.route, choice.task_id) == ("retrigger-multiple", None)
    call = render_choice(actions_json, choice, decision)
    user_input = {"requests": [{"tasks": [label], "times": 3}]}
    check_user_part(call.payload, decision, None, user_input)
    assert call.payload["decision"]["action"]["cb_name"] == "retrigger-multiple"
    assert call.payload["decision"]["action"]["taskGroupId"] == decision
    published = entry_schema(actions_json, choice.index)
    assert "properties" not in published["properties"]["requests"]["items"]  # malformed, see above
    jsonschema.validate(user_input, RETRIGGER_MULTIPLE_INTENT)


def test_without_retrigger_multiple_the_fitting_retrigger_entry_serves(autoland, raptor):
    older = copy.deepcopy(autoland)
    older["actions"] = [a for a in older["actions"] if a["name"] != "retrigger-multiple"]
    choice = choose_retrigger(
        older, label=raptor["metadata"]["name"], task_id="TASKID", tags=raptor["tags"], times=2
    )
    assert choice.route == "retrigger"  # the entry whose callback is `retrigger` itself
    call = render_choice(older, choice, AUTOLAND_DECISION)
    check_user_part(call.payload, AUTOLAND_DECISION, "TASKID", {"times": 2})
    jsonschema.validate({"times": 2}, entry_schema(older, choice.index))


@pytest.mark.parametrize("tagged", ["false", None])
def test_retrigger_of_a_build_schedules_it_with_add_new_jobs(autoland, build_2018, tagged):
    # Modern builds are tagged retrigger "false" (gecko transforms/task.py); 2018 tasks carry
    # no such tag. Either way gecko's retrigger callbacks would not clone them.
    tags = dict(build_2018["task"]["tags"])
    if tagged is not None:
        tags["retrigger"] = tagged
    label = build_2018["task"]["metadata"]["name"]
    choice = choose_retrigger(
        autoland, label=label, task_id=build_2018["taskId"], tags=tags, times=2
    )
    assert (choice.route, choice.task_id) == ("add-new-jobs", None)
    assert "retrigger-multiple would only rerun" in choice.why
    call = render_choice(autoland, choice, AUTOLAND_DECISION)
    user_input = {"tasks": [label], "times": 2}
    check_user_part(call.payload, AUTOLAND_DECISION, None, user_input)
    jsonschema.validate(user_input, entry_schema(autoland, choice.index))


def test_a_2018_test_without_the_tag_is_not_sent_to_retrigger_disabled(autoland, test_2018):
    tags = test_2018["task"]["tags"]
    choice = choose_retrigger(
        autoland, label=tags["label"], task_id=test_2018["taskId"], tags=tags, times=1
    )
    assert choice.callback == "add-new-jobs"
    # What Treeherder offers under "retrigger" for that task: the disabled callback, which
    # fails without `force` — the reason the monitor does not go that way.
    offered = render_action(
        autoland, "retrigger", AUTOLAND_DECISION, test_2018["taskId"], {}, task_tags=tags
    )
    assert offered.payload["decision"]["action"]["cb_name"] == "retrigger-disabled"


def test_a_task_without_known_tags_never_gets_retrigger_decision(autoland):
    call = render_action(autoland, "retrigger", AUTOLAND_DECISION, "TASKID", {"times": 1})
    assert call.payload["decision"]["action"]["cb_name"] == "retrigger-disabled"


def test_add_new_jobs_fits_its_schema(autoland):
    labels = ["test-linux64-shippable-qr/opt-raptor-assorted-dom-firefox-e10s"]
    choice = choose_add_new_jobs(autoland, labels, 4)
    call = render_choice(autoland, choice, AUTOLAND_DECISION)
    check_user_part(call.payload, AUTOLAND_DECISION, None, {"tasks": labels, "times": 4})
    jsonschema.validate(call.payload["user"]["input"], entry_schema(autoland, choice.index))


@pytest.mark.parametrize("name", ["rerun", "cancel"])
def test_task_actions_fit_their_schema(autoland, raptor, name):
    choice = choose_task_action(autoland, name, task_id="TASKID", tags=raptor["tags"])
    assert choice.route == name
    call = render_choice(autoland, choice, AUTOLAND_DECISION)
    check_user_part(call.payload, AUTOLAND_DECISION, "TASKID", {})
    schema = entry_schema(autoland, choice.index)
    if name == "cancel":
        assert schema is None  # the real cancel entry takes no input at all
    else:
        jsonschema.validate({}, schema)


def test_backfill_sends_what_the_schema_declares(autoland, raptor):
    choice = choose_backfill(
        autoland,
        task_id="TASKID",
        tags=raptor["tags"],
        depth=5,
        times=2,
        test_path="dom/tests/mochitest/general",
    )
    call = render_choice(autoland, choice, AUTOLAND_DECISION)
    user_input = {
        "depth": 5,
        "times": 2,
        "inclusive": False,
        "testPath": "dom/tests/mochitest/general",
    }
    check_user_part(call.payload, AUTOLAND_DECISION, "TASKID", user_input)
    assert call.hook_id == "in-tree-action-3-generic/9353e8f146"
    jsonschema.validate(user_input, entry_schema(autoland, choice.index))
    # Newer gecko dropped `testPath` and refuses unknown keys: only declared keys are sent.
    newer = copy.deepcopy(autoland)
    del newer["actions"][choice.index]["schema"]["properties"]["testPath"]
    trimmed = choose_backfill(newer, task_id="TASKID", tags=raptor["tags"], depth=5, test_path="x")
    jsonschema.validate(trimmed.input, entry_schema(newer, trimmed.index))
    assert "testPath" not in trimmed.input


def test_backfill_limits_are_the_real_ones(autoland, raptor):
    choice = choose_backfill(autoland, task_id="TASKID", tags=raptor["tags"], depth=26, times=11)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(choice.input, entry_schema(autoland, choice.index))


def test_an_extract_without_add_new_jobs_says_what_is_missing(build_2018):
    actions_json = load("mozilla-central-perfcompare-retrigger-multiple.json")
    with pytest.raises(ActionNotFound, match=r"add-new-jobs.*retrigger-multiple"):
        choose_retrigger(
            actions_json,
            label="build-android-api-16/opt",
            task_id=build_2018["taskId"],
            tags=build_2018["task"]["tags"],
            times=1,
        )
