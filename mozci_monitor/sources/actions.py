"""Render a Firefox CI in-tree action (decision task's `public/actions.json`) into a hook call.

Pure: no I/O. The caller fetches actions.json (`TaskclusterClient.artifact_json`)
and fires the result (`TaskclusterClient.trigger_hook`). Which entry performs which remedy
is the core's choice (`core.action_routes`); this module renders it:

- only `kind: "hook"` actions can be fired (the `task` kind is legacy);
- `hookPayload` is a JSON-e template rendered with `{taskGroupId, taskId, input}` plus the
  file's `variables`; like Treeherder's lodash `defaults`, the three explicit keys win over
  a variable of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jsone

from mozci_monitor.core.action_routes import (
    ActionChoice,
    check_version,
    first_entry,
    offered,
)
from mozci_monitor.core.errors import ActionError as ActionError
from mozci_monitor.core.errors import ActionNotFound as ActionNotFound

SUPPORTED_VERSION = 1


class HookCall(NamedTuple):
    """What to pass to Hooks.triggerHook."""

    hook_group_id: str
    hook_id: str
    payload: dict[str, Any]


def render_action(
    actions_json: Mapping[str, Any],
    name: str,
    task_group_id: str,
    task_id: str | None,
    input: Any,
    *,
    task_tags: Mapping[str, str] | None = None,
) -> HookCall:
    """The hook call for action `name` on `task_id` (None: a task-group action).

    `task_group_id` is the decision task's ID (= its task group). The entry is the first
    of that name whose context fits `task_tags` (the target task's definition `tags`); a
    task whose tags are not given has none, so only the `[{}]` entries fit it — never a
    context meant for decision or action tasks.
    """
    entries = _entries(actions_json)
    tags = None if task_id is None else dict(task_tags or {})
    found = first_entry(entries, name, tags)
    if found is None:
        raise ActionNotFound(name, offered(entries, tags), for_task=task_id is not None)
    return _render(actions_json, found[1], task_group_id, task_id, input)


def render_choice(
    actions_json: Mapping[str, Any], choice: ActionChoice, task_group_id: str
) -> HookCall:
    """The hook call for an entry the core chose (`core.action_routes`)."""
    entries = _entries(actions_json)
    if not 0 <= choice.index < len(entries):
        raise ActionError(f"actions.json has no entry {choice.index} ({choice.route})")
    return _render(actions_json, entries[choice.index], task_group_id, choice.task_id, choice.input)


def available_actions(
    actions_json: Mapping[str, Any],
    task_id: str | None,
    task_tags: Mapping[str, str] | None = None,
) -> list[str]:
    """Names of the actions that apply to the task (or to the group when task_id is None)."""
    tags = None if task_id is None else dict(task_tags or {})
    return offered(actions_json.get("actions", ()), tags)


def _entries(actions_json: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return check_version(actions_json)


def _render(
    actions_json: Mapping[str, Any],
    action: Mapping[str, Any],
    task_group_id: str,
    task_id: str | None,
    input: Any,
) -> HookCall:
    name = action.get("name")
    if action.get("kind") != "hook":
        raise ActionError(f"action {name!r} is of kind {action.get('kind')!r}; only hooks fire")
    context: dict[str, Any] = dict(actions_json.get("variables") or {})
    context.update({"taskGroupId": task_group_id, "taskId": task_id, "input": input})
    try:
        payload = jsone.render(action["hookPayload"], context)
    except jsone.JSONTemplateError as exc:
        raise ActionError(f"action {name!r}: hookPayload does not render: {exc}") from exc
    if not isinstance(payload, dict):
        raise ActionError(f"action {name!r}: hookPayload rendered to a non-object")
    return HookCall(str(action["hookGroupId"]), str(action["hookId"]), payload)
