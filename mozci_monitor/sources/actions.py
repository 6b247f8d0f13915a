"""Render a Firefox CI in-tree action (decision task's `public/actions.json`) into a hook call.

Pure: no I/O. The caller fetches actions.json (`TaskclusterClient.artifact_json`)
and fires the result (`TaskclusterClient.trigger_hook`).

Follows the actions.json spec as Treeherder and mozci implement it:
- the first action with the requested name whose `context` fits the task wins
  (order in the file is significant); a task fits a context when its tags
  are a superset of one of the context's tag-sets; an action with an empty
  context applies to the task group, not to a task;
- only `kind: "hook"` actions can be fired (the `task` kind is legacy);
- `hookPayload` is a JSON-e template rendered with
  `{taskGroupId, taskId, input}` plus the file's `variables`; like Treeherder's
  lodash `defaults`, the three explicit keys win over a variable of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jsone

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

    `task_group_id` is the decision task's ID (= its task group). Give
    `task_tags` (the target task's definition `tags`) to select among actions
    sharing a name exactly as the spec says; without them, any action with a
    non-empty context is taken to fit the task.
    """
    version = actions_json.get("version")
    if version != SUPPORTED_VERSION:
        raise ActionError(f"unsupported actions.json version {version!r} (expected 1)")
    action = _select(actions_json.get("actions", ()), name, task_id, task_tags)
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


def available_actions(
    actions_json: Mapping[str, Any],
    task_id: str | None,
    task_tags: Mapping[str, str] | None = None,
) -> list[str]:
    """Names of the actions that apply to the task (or to the group when task_id is None)."""
    seen: list[str] = []
    for action in actions_json.get("actions", ()):
        if action["name"] not in seen and _fits(action, task_id, task_tags):
            seen.append(action["name"])
    return seen


def _select(
    actions: Sequence[Mapping[str, Any]],
    name: str,
    task_id: str | None,
    task_tags: Mapping[str, str] | None,
) -> Mapping[str, Any]:
    for action in actions:
        if action.get("name") == name and _fits(action, task_id, task_tags):
            return action
    available = available_actions({"actions": actions}, task_id, task_tags)
    raise ActionNotFound(name, available, for_task=task_id is not None)


def _fits(
    action: Mapping[str, Any], task_id: str | None, task_tags: Mapping[str, str] | None
) -> bool:
    context = action.get("context", [])
    if task_id is None:
        return len(context) == 0
    if task_tags is None:
        return len(context) > 0
    return any(
        all(task_tags.get(tag) == value for tag, value in tag_set.items()) for tag_set in context
    )
