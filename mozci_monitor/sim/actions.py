"""In-tree actions: the decision task's `public/actions.json` and what triggering them does.

actions.json follows gecko's `render_actions_json`: each action is a hook in
`project-gecko`, hookId `in-tree-action-3-<permission>/<tcyml hash>`, whose
`hookPayload` the client renders with JSON-e (`{input, taskId, taskGroupId}`) and sends
to `triggerHook`. The hook creates an action task in the push's task group; when it
runs, the callback named by `decision.action.cb_name` creates/reruns tasks.
"""

from __future__ import annotations

import importlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from mozci_monitor.sim import confirm_failures
from mozci_monitor.sim.taskgraph import JSON, LEVEL, TRUST_DOMAIN, action_definition
from mozci_monitor.sim.world import Push, QueueError, SimTask, World

log = structlog.get_logger(__name__)
# Typed as Any: jsonschema ships no type information of its own.
_jsonschema: Any = importlib.import_module("jsonschema")

_TIMES = {
    "type": "integer",
    "default": 1,
    "minimum": 1,
    "maximum": 100,
    "title": "Times",
    "description": "How many times to run each task.",
}
_DOWNSTREAM = {
    "type": "boolean",
    "default": False,
    "description": "If true, downstream tasks from this one will be cloned as well. "
    "The dependencies will be updated to work with the new task at the root.",
}
# gecko publishes this schema for retrigger-multiple as is: `tasks` and `times` sit in
# `items` without `properties`, and `additionalProperties` sits among the properties.
_RETRIGGER_MULTIPLE_PUBLISHED: JSON = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "array",
            "items": {
                "tasks": {
                    "type": "array",
                    "description": "An array of task labels",
                    "items": {"type": "string"},
                },
                "times": {**{k: v for k, v in _TIMES.items() if k != "default"}},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
}
# What the callback reads (and Treeherder sends): the input is checked against this.
_RETRIGGER_MULTIPLE_READ: JSON = {
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
            },
        }
    },
}


@dataclass(frozen=True)
class ActionSpec:
    name: str
    cb_name: str
    title: str
    symbol: str
    permission: str
    order: int
    context: list[dict[str, str]]
    schema: JSON | None
    description: str
    # The schema the callback's input must meet, when it is not the published one.
    enforced: JSON | None = None

    @property
    def input_schema(self) -> JSON | None:
        return self.enforced if self.enforced is not None else self.schema


# gecko's in-tree actions that matter to the monitor, with their real contexts, schemas and
# limits (gecko_taskgraph/actions/*.py); actions.json lists them sorted by `order`, as
# taskgraph renders it (retrigger-multiple registers no order: the default, 10000).
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="retrigger",
        cb_name="retrigger-decision",
        title="Retrigger",
        symbol="rt",
        permission="generic",
        order=11,
        context=[
            {"kind": "decision-task"},
            {"kind": "action-callback"},
            {"kind": "cron-task"},
            {"action": "backfill-task"},
        ],
        schema=None,
        description="Create a clone of the task (retriggering decision, action, and cron tasks "
        "requires\nspecial scopes).",
    ),
    ActionSpec(
        name="retrigger",
        cb_name="retrigger",
        title="Retrigger",
        symbol="rt",
        permission="generic",
        order=19,
        context=[{"retrigger": "true"}],
        schema={"type": "object", "properties": {"downstream": _DOWNSTREAM, "times": _TIMES}},
        description="Create a clone of the task.",
    ),
    ActionSpec(
        name="retrigger",
        cb_name="retrigger-disabled",
        title="Retrigger (disabled)",
        symbol="rt",
        permission="generic",
        order=20,
        context=[{}],
        schema={
            "type": "object",
            "properties": {
                "downstream": _DOWNSTREAM,
                "times": _TIMES,
                "force": {
                    "type": "boolean",
                    "default": False,
                    "description": "This task should not be re-triggered. "
                    "This can be overridden by passing `true` here.",
                },
            },
        },
        description="Create a clone of the task.\n\n"
        "This type of task should typically be re-run instead of re-triggered.",
    ),
    ActionSpec(
        name="add-new-jobs",
        cb_name="add-new-jobs",
        title="Add new jobs",
        symbol="add-new",
        permission="generic",
        order=100,
        context=[],
        schema={
            "type": "object",
            "properties": {
                "tasks": {
                    "type": "array",
                    "description": "An array of task labels",
                    "items": {"type": "string"},
                },
                "times": _TIMES,
            },
        },
        description="Add new jobs using task labels.",
    ),
    ActionSpec(
        name="cancel",
        cb_name="cancel",
        title="Cancel Task",
        symbol="cx",
        permission="generic",
        order=100,
        context=[{}],
        schema=None,
        description="Cancel the given task",
    ),
    # gecko's current registration (gecko_taskgraph/actions/confirm_failure.py): order 150,
    # and a schema Treeherder never fills (it sends `input: {}`); older pushes published
    # one with `times` (tests/fixtures/actions), which `{}` meets too.
    ActionSpec(
        name="confirm-failures",
        cb_name="confirm-failures",
        title="Confirm failures in job",
        symbol="cf",
        permission="generic",
        order=150,
        context=[{"kind": "test"}],
        schema={
            "type": "object",
            "properties": {
                "label": {"type": "string", "description": "A task label"},
                "suite": {"type": "string", "description": "Test suite"},
                "test_path": {"type": "string", "description": "A full path to test"},
                "test_group": {"type": "string", "description": "A full path to group name"},
                "repeat_args": {"type": "string", "description": "args to pass to test harness"},
            },
            "additionalProperties": False,
        },
        description="Re-run Tests for original manifest, directories or tests for failing tests.",
    ),
    ActionSpec(
        name="backfill",
        cb_name="backfill",
        title="Backfill",
        symbol="Bk",
        permission="backfill",
        order=200,
        context=[{}],
        schema={
            "type": "object",
            "properties": {
                "depth": {
                    "type": "integer",
                    "default": 19,
                    "minimum": 1,
                    "maximum": 25,
                    "title": "Depth",
                },
                "inclusive": {"type": "boolean", "default": False, "title": "Inclusive Range"},
                "times": {
                    "type": "integer",
                    "default": 1,
                    "minimum": 1,
                    "maximum": 10,
                    "title": "Times",
                },
                "retrigger": {"type": "boolean", "default": True, "title": "Retrigger"},
            },
            "additionalProperties": False,
        },
        description="Given a task schedule it on previous pushes in the same project.",
    ),
    ActionSpec(
        name="rerun",
        cb_name="rerun",
        title="Rerun",
        symbol="rr",
        permission="generic",
        order=300,
        context=[{}],
        schema={"type": "object", "properties": {}},
        description="Rerun a task.\n\nThis only works on failed or exception tasks in the "
        "original taskgraph, and is CoT friendly.",
    ),
    ActionSpec(
        name="backfill-task",
        cb_name="backfill-task",
        title="Backfill task on a push.",
        symbol="backfill-task",
        permission="backfill",
        order=500,
        context=[],
        schema={
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "revision": {"type": "string"},
                "symbol": {"type": "string"},
                "test_manifests": {"type": "array", "default": [], "items": {"type": "string"}},
                "times": {"type": "integer", "default": 1, "minimum": 1, "maximum": 10},
                "retrigger": {"type": "boolean", "default": True},
            },
        },
        description="This action is normally scheduled by the backfill action. "
        "The intent is to schedule a task on previous pushes.",
    ),
    ActionSpec(
        name="retrigger-multiple",
        cb_name="retrigger-multiple",
        title="Retrigger",
        symbol="rt",
        permission="generic",
        order=10000,
        context=[],
        schema=_RETRIGGER_MULTIPLE_PUBLISHED,
        enforced=_RETRIGGER_MULTIPLE_READ,
        description="Create a clone of the task.",
    ),
)
_BY_CB = {spec.cb_name: spec for spec in ACTIONS}
_BACKFILL_SYMBOL = re.compile(r"^(.*)-[a-z0-9]{11}-bk$")


@dataclass(frozen=True)
class HookTrigger:
    """One recorded triggerHook call (for tests that count performed intents)."""

    hook_group_id: str
    hook_id: str
    action: str
    task_id: str | None
    task_group_id: str | None
    input: Any
    action_task_id: str
    at: float


@dataclass
class ActionLog:
    """Every hook trigger, plus counters by action and by (action, target)."""

    triggers: list[HookTrigger] = field(default_factory=list)
    by_action: Counter[str] = field(default_factory=Counter)
    by_target: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, trigger: HookTrigger) -> None:
        self.triggers.append(trigger)
        self.by_action[trigger.action] += 1
        self.by_target[(trigger.action, _target_key(trigger))] += 1


def _target_key(trigger: HookTrigger) -> str:
    if trigger.action == "add-new-jobs" and isinstance(trigger.input, dict):
        return ",".join(sorted(str(t) for t in trigger.input.get("tasks", [])))
    if trigger.action == "retrigger-multiple" and isinstance(trigger.input, dict):
        requests = trigger.input.get("requests", [])
        return ",".join(sorted(str(t) for r in requests for t in r.get("tasks", [])))
    if trigger.action == "backfill-task" and isinstance(trigger.input, dict):
        return f"{trigger.input.get('label')}@{trigger.task_group_id}"
    return trigger.task_id or trigger.task_group_id or ""


class Actions:
    """Renders actions.json and executes triggered in-tree actions against the world."""

    def __init__(self, world: World, tcyml_hash: str) -> None:
        self.world = world
        self.tcyml_hash = tcyml_hash
        self.log = ActionLog()
        self._fault_rng = random.Random(f"{world.config.seed}:action-faults")

    def hook_id(self, permission: str) -> str:
        return f"in-tree-action-{LEVEL}-{permission}/{self.tcyml_hash}"

    @property
    def hook_group_id(self) -> str:
        return f"project-{TRUST_DOMAIN}"

    def known_hooks(self) -> set[str]:
        return {self.hook_id(spec.permission) for spec in ACTIONS}

    def actions_json(self, push: Push) -> JSON:
        info = self.world.push_info(push)
        rendered = []
        for spec in sorted(ACTIONS, key=lambda s: s.order):
            if spec.cb_name in self.world.config.withheld_actions:
                continue
            action: JSON = {
                "name": spec.name,
                "title": spec.title,
                "description": spec.description,
                "context": spec.context,
            }
            if spec.schema is not None:
                action["schema"] = spec.schema
            action.update(
                {
                    "kind": "hook",
                    "hookGroupId": self.hook_group_id,
                    "hookId": self.hook_id(spec.permission),
                    "hookPayload": {
                        "decision": {
                            "action": {
                                "name": spec.name,
                                "title": spec.title,
                                "description": spec.description,
                                "taskGroupId": push.decision_task_id,
                                "cb_name": spec.cb_name,
                                "symbol": spec.symbol,
                            },
                            "repository": {
                                "url": info.head_repository,
                                "project": info.repo,
                                "level": LEVEL,
                            },
                            "push": {
                                "owner": "mozilla-taskcluster-maintenance@mozilla.com",
                                "pushlog_id": str(push.push_id),
                                "revision": push.revision,
                                "base_revision": push.changesets[0]["node"],
                            },
                        },
                        "user": {
                            "input": {"$eval": "input"},
                            "taskId": {"$eval": "taskId"},
                            "taskGroupId": {"$eval": "taskGroupId"},
                        },
                    },
                    "extra": {"actionPerm": spec.permission},
                }
            )
            rendered.append(action)
        return {"version": 1, "variables": {}, "actions": rendered}

    # ------------------------------------------------------------------ triggering

    def trigger(self, hook_group_id: str, hook_id: str, payload: JSON) -> SimTask:
        """Handle triggerHook: validate, record, and create the action task."""
        if hook_group_id != self.hook_group_id or hook_id not in self.known_hooks():
            raise QueueError(404, "ResourceNotFound", f"hook {hook_group_id}/{hook_id} not found")
        try:
            decision = payload["decision"]
            cb_name = str(decision["action"]["cb_name"])
            user = payload["user"]
        except (KeyError, TypeError):
            raise QueueError(400, "InputError", "payload lacks decision/user context") from None
        spec = _BY_CB.get(cb_name)
        if spec is None:
            raise QueueError(400, "InputError", f"unknown action callback {cb_name!r}")
        if hook_id != self.hook_id(spec.permission):
            raise QueueError(
                403, "InsufficientScopes", f"{cb_name} requires the {spec.permission} hook"
            )
        push = self.world.push_by_group(str(decision["action"].get("taskGroupId", "")))
        if push is None:
            raise QueueError(400, "InputError", "decision.action.taskGroupId is not a push")
        return self.start_action(
            spec,
            push,
            task_id=user.get("taskId"),
            task_group_id=user.get("taskGroupId"),
            action_input=user.get("input"),
            hook_id=hook_id,
        )

    def start_action(
        self,
        spec: ActionSpec,
        push: Push,
        *,
        task_id: str | None,
        task_group_id: str | None,
        action_input: Any,
        hook_id: str | None = None,
    ) -> SimTask:
        world = self.world
        action_task_id = world.new_task_id()
        context = {"taskGroupId": task_group_id, "taskId": task_id, "input": action_input}
        definition = action_definition(
            world.push_info(push),
            task_id=action_task_id,
            task_group_id=push.task_group_id,
            action_name=spec.name,
            title=spec.title,
            symbol=spec.symbol,
            context=context,
            created=world.events.now,
            deadline_hours=world.config.deadline_hours,
        )
        self.log.record(
            HookTrigger(
                hook_group_id=self.hook_group_id,
                hook_id=hook_id or self.hook_id(spec.permission),
                action=spec.cb_name,
                task_id=task_id,
                task_group_id=task_group_id,
                input=action_input,
                action_task_id=action_task_id,
                at=world.events.now,
            )
        )
        refusal = _validate(spec, action_input) or self._refusal(spec, task_id, action_input)
        rate = world.config.action_task_failure_rate
        if not refusal and rate > 0 and self._fault_rng.random() < rate:
            refusal = "action task failed (fault injected: action_task_failure_rate)"
        broken = world.failing_action_labels & self._labels_of(task_id, action_input)
        if not refusal and broken:
            refusal = f"action task failed (fault injected for {sorted(broken)[0]})"
        if refusal:
            # The real action task fails (and creates nothing) on input its callback rejects.
            world.force(action_task_id, 0, "failed")
            log.info("sim.action_refused", action=spec.cb_name, reason=refusal)

        def run(action_task: SimTask) -> None:
            created = self._perform(spec, push, task_id, action_input or {})
            for created_id in created:
                # taskgraph's update_parent: the action task is the created tasks' parent.
                world.tasks[created_id].definition.setdefault("extra", {})["parent"] = (
                    action_task.task_id
                )
            action_task.artifacts.setdefault(0, {})
            labels = {world.tasks[t].label: t for t in created}
            action_task.artifacts[0]["public/label-to-taskid.json"] = (
                "application/json",
                lambda: _dumps(labels),
            )

        return world.create_task(action_task_id, definition, push, on_success=run)

    def _labels_of(self, task_id: str | None, data: Any) -> set[str]:
        """The labels an action is about: its target task's, or those its input names."""
        labels = {self.world.tasks[task_id].label} if task_id in self.world.tasks else set()
        if isinstance(data, dict):
            labels.update(str(t) for t in data.get("tasks") or [])
            labels.update(str(t) for r in data.get("requests") or [] for t in r.get("tasks", []))
            if data.get("label"):
                labels.add(str(data["label"]))
        return labels

    def _refusal(self, spec: ActionSpec, task_id: str | None, data: Any) -> str | None:
        """Why the in-tree callback would exit with an error, if it would."""
        data = data if isinstance(data, dict) else {}
        graph = self.world.graph.specs
        needs_task = (
            "retrigger",
            "retrigger-disabled",
            "retrigger-decision",
            "rerun",
            "backfill",
            "cancel",
            "confirm-failures",
        )
        if spec.cb_name in needs_task and task_id not in self.world.tasks:
            return f"task {task_id} not found"
        if spec.cb_name == "retrigger-decision":
            # Cloning a decision/action/cron task needs scopes the action hook lacks.
            return "retriggering decision, action and cron tasks requires special scopes"
        clones = ("retrigger", "retrigger-disabled", "backfill")
        if spec.cb_name in clones and self.world.tasks[str(task_id)].label not in graph:
            return f"task {task_id} is not in the full task graph"
        if spec.cb_name in ("retrigger", "retrigger-disabled") and not data.get("force"):
            label = self.world.tasks[str(task_id)].label
            if not self._retriggerable(label):
                return f"Not retriggering task {label}, task should not be retrigged"
        labels: list[str] = list(data.get("tasks", [])) if spec.cb_name == "add-new-jobs" else []
        if spec.cb_name == "retrigger-multiple":
            for request in data.get("requests", []):
                labels += list(request.get("tasks", []))
        unknown = [label for label in labels if label not in graph]
        if unknown and spec.cb_name == "add-new-jobs":
            return f"{unknown[0]} was not found in the task-graph"
        if spec.cb_name == "backfill-task" and str(data.get("label", "")) not in graph:
            return f"{data.get('label')} was not found in the task-graph"
        if spec.cb_name == "confirm-failures":
            # gecko raises before anything is created when the label has no -cf copy
            cf_label = confirm_failures.cf_label(self.world.tasks[str(task_id)].definition)
            if cf_label not in graph:
                return f"{cf_label} was not found in the task-graph"
            failures = self._failures_of(str(task_id))
            if not failures and not self._retriggerable(self.world.tasks[str(task_id)].label):
                # its fallback, retrigger_action, exits 1 on a label not to be retriggered
                return "no failing test, and the task should not be retriggered"
        return None

    def _failures_of(self, task_id: str) -> list[confirm_failures.Failure]:
        """What gecko's get_failures reads: the task's latest run's errorsummary."""
        task = self.world.tasks[task_id]
        run = self.world.test_runs.get((task_id, len(task.runs) - 1))
        suite = str(task.definition.get("extra", {}).get("suite", ""))
        return confirm_failures.get_failures(run.lines if run is not None else [], suite)

    def _retriggerable(self, label: str) -> bool:
        """gecko's `_should_retrigger`: the full graph's `retrigger` attribute (False when
        the label is not in the graph)."""
        spec = self.world.graph.specs.get(label)
        return spec is not None and spec.kind == "test"

    def _perform(self, spec: ActionSpec, push: Push, task_id: str | None, data: Any) -> list[str]:
        world = self.world
        data = data if isinstance(data, dict) else {}
        times = int(data.get("times", 1))
        if spec.cb_name in ("retrigger", "retrigger-disabled"):
            target = world.tasks.get(task_id or "")
            if target is None:
                return []
            created: list[str] = []
            for _ in range(times):
                created += world.create_labels(
                    push, [target.label], extra_tags={"action": "retrigger-task"}
                )
            return created
        if spec.cb_name == "add-new-jobs":
            labels = [label for label in data.get("tasks", []) if label in world.graph.specs]
            created = []
            for _ in range(times):
                created += world.create_labels(push, labels)
            return created
        if spec.cb_name == "retrigger-multiple":
            return self._retrigger_multiple(push, data)
        if spec.cb_name == "rerun":
            target = world.tasks.get(task_id or "")
            if target is not None and target.state in ("failed", "exception"):
                world.rerun(target.task_id)
            return []
        if spec.cb_name == "cancel":
            if task_id in world.tasks:
                world.cancel(task_id)
            return []
        if spec.cb_name == "backfill":
            self._backfill(push, task_id, data)
            return []
        if spec.cb_name == "backfill-task":
            return self._backfill_task(push, data, times)
        if spec.cb_name == "confirm-failures":
            return self._confirm_failures(push, task_id, data)
        return []

    def _confirm_failures(self, push: Push, task_id: str | None, data: JSON) -> list[str]:
        """One `-cf` task per failing test (gecko's confirm_modifier); no failing test:
        the task retriggered (`retrigger_action` with the action's input)."""
        world = self.world
        target = world.tasks.get(task_id or "")
        if target is None:
            return []
        failures = self._failures_of(target.task_id)
        if not failures:
            created: list[str] = []
            for _ in range(int(data.get("times", 1))):
                created += world.create_labels(
                    push, [target.label], extra_tags={"action": "retrigger-task"}
                )
            return created
        cf_label = confirm_failures.cf_label(target.definition)
        suite = confirm_failures.suite_of(target.definition)
        created = []
        for failure in failures:
            created += world.create_labels(
                push,
                [cf_label],
                extra_tags={"action": "confirm-failure"},
                modify=confirm_failures.modifier(failure, suite, cf_label),
            )
        return created

    def _retrigger_multiple(self, push: Push, data: JSON) -> list[str]:
        """gecko's retrigger-multiple: clones the labels that may be retriggered; for any
        other label it reruns the label's failed or exception tasks and creates nothing."""
        world = self.world
        created: list[str] = []
        for request in data.get("requests", []):
            labels = [t for t in request.get("tasks", []) if t in world.graph.specs]
            clone = [label for label in labels if self._retriggerable(label)]
            for label in labels:
                if label in clone:
                    continue
                for task_id in world.task_groups.get(push.task_group_id, []):
                    task = world.tasks[task_id]
                    if task.label == label and task.state in ("failed", "exception"):
                        world.rerun(task_id)
            for _ in range(int(request.get("times", 1))):
                created += world.create_labels(
                    push, clone, extra_tags={"action": "retrigger-multiple-task"}
                )
        return created

    def _backfill_task(self, push: Push, data: JSON, times: int) -> list[str]:
        world = self.world
        label = str(data.get("label", ""))
        if not data.get("retrigger", True) and label in push.label_to_taskid:
            return []
        revision = str(data.get("revision", ""))

        def mark(definition: JSON) -> None:
            # gecko's backfill_modifier: the originating symbol plus `-<rev[:11]>-bk`, the
            # group symbol plus `-bk`, so sheriffs (and mozci) tell backfills apart.
            treeherder = definition["extra"]["treeherder"]
            symbol = str(data.get("symbol") or treeherder["symbol"])
            if not _BACKFILL_SYMBOL.match(symbol):
                symbol += f"-{revision[:11]}-bk"
            treeherder["symbol"] = symbol
            group = treeherder.get("groupSymbol")
            if group and not str(group).endswith("-bk"):
                treeherder["groupSymbol"] = f"{group}-bk"

        created: list[str] = []
        for _ in range(times):
            created += world.create_labels(
                push, [label], extra_tags={"action": "backfill-task"}, modify=mark
            )
        return created

    def _backfill(self, push: Push, task_id: str | None, data: JSON) -> None:
        world = self.world
        target = world.tasks.get(task_id or "")
        if target is None:
            return
        depth = int(data.get("depth", 19))
        first = push.index if data.get("inclusive") else push.index - 1
        earlier = [p for p in world.pushes[max(0, first - depth + 1) : first + 1] if p.arrived]
        backfill_task = _BY_CB["backfill-task"]
        task_input = {
            "label": target.label,
            "revision": push.revision,
            "symbol": target.definition.get("extra", {}).get("treeherder", {}).get("symbol", ""),
            "times": int(data.get("times", 1)),
            "retrigger": bool(data.get("retrigger", True)),
        }
        for other in reversed(earlier):
            if other.task_group_id not in world.tasks:
                continue
            self.start_action(
                backfill_task,
                other,
                task_id=None,
                task_group_id=other.task_group_id,
                action_input=dict(task_input),
            )


def _validate(spec: ActionSpec, value: Any) -> str | None:
    schema = spec.input_schema
    if schema is None:
        return None
    try:
        _jsonschema.validate(value if value is not None else {}, schema)
    except _jsonschema.ValidationError as exc:
        return str(exc.message)
    return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()
