"""Which in-tree action performs a remedy, chosen from the push's `public/actions.json`.

Pure: the caller fetched actions.json and the target task's tags; rendering the chosen
entry's hook payload (JSON-e) and triggering it happen at the edges.

The rules are Treeherder's (`ui/models/taskcluster.js`, `ui/models/job.js`), checked against
what gecko's callbacks (`gecko_taskgraph/actions/`) do with the input:

- entries are read in file order; per name, the first entry whose `context` fits wins. An
  empty context is a push-level action (no task); otherwise the entry fits a task when one
  of its tag sets is contained in the task's tags (`[{}]` fits every task).
- a retrigger goes through `retrigger-multiple` (`{"requests": [{"tasks": [label],
  "times": N}]}`, no taskId) when offered, else through the `retrigger` entry that fits the
  task, else through add-new-jobs. Never through `retrigger-decision` (it clones a
  decision/action/cron task as is) nor `retrigger-disabled` (its callback exits 1 without
  `force`: the action task fails and nothing is created).
- gecko's retrigger callbacks only clone labels whose task says `retrigger: "true"`; for any
  other label `retrigger-multiple` *reruns* the label's failed or exception tasks and
  creates nothing. A request that wants more runs of such a label (a build, or any task of
  a push older than the tag) gets them from add-new-jobs, which schedules any label of the
  full task graph.
- only the inputs an entry's schema declares are sent: several real schemas say
  `additionalProperties: false` (backfill), and their properties changed over the years
  (backfill's `testPath` is gone from newer files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mozci_monitor.core.errors import ActionError, ActionNotFound

SUPPORTED_VERSION = 1
FIRABLE_KINDS = frozenset({"hook"})  # `task` is the legacy kind: nothing to trigger
# Callbacks that must never serve a monitor's retrigger (see the module docstring).
UNSAFE_RETRIGGER_CALLBACKS = frozenset({"retrigger-decision", "retrigger-disabled"})


@dataclass(frozen=True, slots=True)
class ActionChoice:
    """The entry of actions.json to trigger, and with what.

    `route` names the way the remedy goes (recorded with the action); `why` says why this
    route and not an earlier one.
    """

    name: str  # the entry's name (several entries can share it)
    callback: str  # gecko's callback (`decision.action.cb_name`), what will really run
    index: int  # position of the entry in actions.json
    task_id: str | None  # None: a push-level action
    input: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    @property
    def route(self) -> str:
        return self.name if self.callback == self.name else f"{self.name}/{self.callback}"


def check_version(actions_json: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The entries of a supported actions.json."""
    version = actions_json.get("version")
    if version != SUPPORTED_VERSION:
        raise ActionError(f"unsupported actions.json version {version!r} (expected 1)")
    entries = actions_json.get("actions")
    if not isinstance(entries, list):
        raise ActionError("actions.json has no list of actions")
    return entries


def callback_of(entry: Mapping[str, Any]) -> str:
    """The callback a hook entry runs (its name when the payload does not say)."""
    payload = entry.get("hookPayload")
    if isinstance(payload, Mapping):
        decision = payload.get("decision")
        action = decision.get("action") if isinstance(decision, Mapping) else None
        if isinstance(action, Mapping) and isinstance(action.get("cb_name"), str):
            return str(action["cb_name"])
    return str(entry.get("name", ""))


def fits(entry: Mapping[str, Any], tags: Mapping[str, str] | None) -> bool:
    """Does the entry apply to a task with these tags (None: to the push itself)?"""
    context = entry.get("context")
    if not isinstance(context, list):
        return False
    if tags is None:
        return len(context) == 0
    return any(
        isinstance(tag_set, Mapping)
        and all(tags.get(tag) == value for tag, value in tag_set.items())
        for tag_set in context
    )


def first_entry(
    entries: Sequence[Mapping[str, Any]], name: str, tags: Mapping[str, str] | None
) -> tuple[int, Mapping[str, Any]] | None:
    """The entry Treeherder offers under `name` for this task (None: for the push)."""
    for index, entry in enumerate(entries):
        if entry.get("name") == name and fits(entry, tags):
            return index, entry
    return None


def offered(entries: Sequence[Mapping[str, Any]], tags: Mapping[str, str] | None) -> list[str]:
    """Names offered for the task (or the push), in file order."""
    names: list[str] = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if name not in names and fits(entry, tags):
            names.append(name)
    return names


def declared_inputs(entry: Mapping[str, Any]) -> frozenset[str] | None:
    """The input properties the entry's schema declares; None when it declares none."""
    schema = entry.get("schema")
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return None
    # A malformed real schema lists `additionalProperties` among the properties.
    return frozenset(k for k, v in properties.items() if isinstance(v, Mapping))


def is_retriggerable(tags: Mapping[str, str]) -> bool:
    """gecko clones a label only when its task is tagged `retrigger: "true"`."""
    return tags.get("retrigger") == "true"


def choose_retrigger(
    actions_json: Mapping[str, Any],
    *,
    label: str,
    task_id: str,
    tags: Mapping[str, str],
    times: int,
) -> ActionChoice:
    """How to get `times` new tasks of `label` (whose task `task_id` has `tags`)."""
    entries = check_version(actions_json)
    if not is_retriggerable(tags):
        return _add_new_jobs(
            entries,
            [label],
            times,
            why=f'{label} is not tagged retrigger "true": retrigger-multiple would only rerun'
            " its failed tasks and retrigger is retrigger-disabled; add-new-jobs schedules it",
        )
    found = first_entry(entries, "retrigger-multiple", None)
    if found is not None and _firable(found[1]):
        index, entry = found
        request = {"tasks": [label], "times": times}
        return ActionChoice(
            name="retrigger-multiple",
            callback=callback_of(entry),
            index=index,
            task_id=None,
            input={"requests": [request]},
            why="retrigger-multiple is offered",
        )
    found = first_entry(entries, "retrigger", tags)
    if found is not None and _firable(found[1]):
        index, entry = found
        callback = callback_of(entry)
        if callback not in UNSAFE_RETRIGGER_CALLBACKS:
            return ActionChoice(
                name="retrigger",
                callback=callback,
                index=index,
                task_id=task_id,
                input=_only_declared(entry, {"times": times}),
                why="no retrigger-multiple; the retrigger entry that fits the task",
            )
    return _add_new_jobs(entries, [label], times, why="no usable retrigger entry")


def choose_add_new_jobs(
    actions_json: Mapping[str, Any], labels: Sequence[str], times: int
) -> ActionChoice:
    return _add_new_jobs(check_version(actions_json), list(labels), times, why="add-new-jobs")


def choose_task_action(
    actions_json: Mapping[str, Any],
    name: str,
    *,
    task_id: str,
    tags: Mapping[str, str],
    user_input: Mapping[str, Any] | None = None,
) -> ActionChoice:
    """A task-level action (rerun, cancel, backfill, confirm-failures) by name."""
    entries = check_version(actions_json)
    found = first_entry(entries, name, tags)
    if found is None or not _firable(found[1]):
        raise ActionNotFound(name, offered(entries, tags), for_task=True)
    index, entry = found
    return ActionChoice(
        name=name,
        callback=callback_of(entry),
        index=index,
        task_id=task_id,
        input=_only_declared(entry, dict(user_input or {})),
        why=f"the {name} entry that fits the task",
    )


def choose_backfill(
    actions_json: Mapping[str, Any],
    *,
    task_id: str,
    tags: Mapping[str, str],
    depth: int,
    times: int = 1,
    inclusive: bool = False,
    test_path: str | None = None,
    retrigger: bool | None = None,
) -> ActionChoice:
    """The in-tree backfill of the task: `depth` pushes back, `times` runs on each.

    `retrigger=False` (newer gecko): pushes that already ran the label are left alone.
    """
    wanted: dict[str, Any] = {"depth": depth, "times": times, "inclusive": inclusive}
    if test_path:
        wanted["testPath"] = test_path
    if retrigger is not None:
        wanted["retrigger"] = retrigger
    return choose_task_action(
        actions_json, "backfill", task_id=task_id, tags=tags, user_input=wanted
    )


def _add_new_jobs(
    entries: Sequence[Mapping[str, Any]], labels: list[str], times: int, *, why: str
) -> ActionChoice:
    found = first_entry(entries, "add-new-jobs", None)
    if found is None or not _firable(found[1]):
        raise ActionNotFound("add-new-jobs", offered(entries, None), for_task=False)
    index, entry = found
    declared = declared_inputs(entry)
    if times > 1 and declared is not None and "times" not in declared:
        raise ActionError("this push's add-new-jobs takes no `times`: one run per label only")
    return ActionChoice(
        name="add-new-jobs",
        callback=callback_of(entry),
        index=index,
        task_id=None,
        input=_only_declared(entry, {"tasks": labels, "times": times}),
        why=why,
    )


def _firable(entry: Mapping[str, Any]) -> bool:
    return entry.get("kind") in FIRABLE_KINDS


def _only_declared(entry: Mapping[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    declared = declared_inputs(entry)
    if declared is None:
        return wanted
    return {key: value for key, value in wanted.items() if key in declared}
