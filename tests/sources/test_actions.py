"""In-tree action rendering on a realistic actions.json (gecko's taskgraph layout)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mozci_monitor.sources.actions import (
    ActionError,
    ActionNotFound,
    HookCall,
    available_actions,
    render_action,
)

DECISION = "cIysKHAiSBOhhHrvgKMo1w"
TASK = "VgWOLbyLSTS5-yO3fyBZHg"


@pytest.fixture
def actions_json():
    return json.loads((Path(__file__).parent / "data" / "actions.json").read_text())


def test_retrigger_renders_the_hook_payload_for_a_retriggerable_task(actions_json):
    call = render_action(
        actions_json,
        "retrigger",
        DECISION,
        TASK,
        {"requests": [{"tasks": ["test-linux1804-64/opt-mochitest-1"], "times": 3}]},
        task_tags={"retrigger": "true", "kind": "test", "label": "test-linux/opt-mochitest-1"},
    )
    assert isinstance(call, HookCall)
    group, hook, payload = call  # unpacks as (hook_group_id, hook_id, payload)
    assert (group, hook) == ("project-gecko", "in-tree-action-3-generic/9ffde487f6")
    assert payload["user"] == {
        "input": {"requests": [{"tasks": ["test-linux1804-64/opt-mochitest-1"], "times": 3}]},
        "taskId": TASK,
        "taskGroupId": DECISION,
    }
    # The decision part is static data from the decision task, passed through untouched.
    assert payload["decision"]["action"]["cb_name"] == "retrigger-action"
    assert payload["decision"]["push"]["revision"] == "5f90901a36bb9735cef6dc7d746d06880a61226d"


def test_first_matching_action_wins_by_task_tags(actions_json):
    # A task without retrigger=true falls to the second "retrigger" entry.
    call = render_action(
        actions_json, "retrigger", DECISION, TASK, {"force": True}, task_tags={"kind": "build"}
    )
    assert call.payload["decision"]["action"]["cb_name"] == "retrigger-disabled"


def test_add_new_jobs_is_a_task_group_action(actions_json):
    labels = ["test-linux1804-64/opt-xpcshell-1", "test-windows11-64/debug-mochitest-2"]
    call = render_action(
        actions_json, "add-new-jobs", DECISION, None, {"tasks": labels, "times": 2}
    )
    assert call.payload["user"] == {
        "input": {"tasks": labels, "times": 2},
        "taskId": None,
        "taskGroupId": DECISION,
    }
    assert call.payload["decision"]["action"]["cb_name"] == "add-new-jobs-action"


def test_add_new_jobs_does_not_apply_to_a_single_task(actions_json):
    with pytest.raises(ActionNotFound) as info:
        render_action(actions_json, "add-new-jobs", DECISION, TASK, {"tasks": []}, task_tags={})
    assert "add-new-jobs" in str(info.value)
    assert "this task" in str(info.value)
    assert "rerun" in info.value.available


def test_variables_are_in_context_but_cannot_shadow_the_explicit_keys(actions_json):
    actions_json["variables"]["taskId"] = "SHADOW"
    call = render_action(actions_json, "backfill", DECISION, TASK, {}, task_tags={})
    assert call.payload["user"]["repo"] == "autoland"
    assert call.payload["user"]["taskId"] == TASK


def test_missing_action_says_what_exists(actions_json):
    with pytest.raises(ActionNotFound) as info:
        render_action(actions_json, "confetti", DECISION, None, {})
    assert info.value.available == ("add-new-jobs", "legacy")
    assert "confetti" in str(info.value)
    assert "task group" in str(info.value)


def test_task_kind_actions_are_refused(actions_json):
    with pytest.raises(ActionError, match="only hooks"):
        render_action(actions_json, "legacy", DECISION, None, {})


def test_wrong_version_is_refused(actions_json):
    actions_json["version"] = 2
    with pytest.raises(ActionError, match="version"):
        render_action(actions_json, "rerun", DECISION, TASK, {})


def test_unrenderable_template_is_an_action_error(actions_json):
    broken = copy.deepcopy(actions_json)
    broken["actions"][2]["hookPayload"] = {"x": {"$eval": "undefinedVariable"}}
    with pytest.raises(ActionError, match="does not render"):
        render_action(broken, "rerun", DECISION, TASK, {}, task_tags={})


def test_without_tags_a_task_only_fits_the_any_task_context(actions_json):
    # Tags not given are no tags: the `[{}]` entry, never one meant for tagged tasks.
    call = render_action(actions_json, "retrigger", DECISION, TASK, {})
    assert call.payload["decision"]["action"]["cb_name"] == "retrigger-disabled"


def test_available_actions(actions_json):
    assert available_actions(actions_json, TASK, {"retrigger": "true"}) == [
        "retrigger",
        "rerun",
        "backfill",
    ]
    assert available_actions(actions_json, None) == ["add-new-jobs", "legacy"]


def test_rendering_does_not_mutate_actions_json(actions_json):
    before = copy.deepcopy(actions_json)
    render_action(actions_json, "backfill", DECISION, TASK, {"depth": 5}, task_tags={})
    assert actions_json == before
