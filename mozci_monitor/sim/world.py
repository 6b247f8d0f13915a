"""The simulated world: pushes, tasks and their runs, driven by a virtual-time scheduler.

Queue semantics modelled on Taskcluster: a task is unscheduled until its dependencies
complete, then gets a pending run, is claimed (running) and resolves completed, failed
or exception; claim-expired / worker-shutdown / intermittent-task are retried while
retriesLeft > 0 (new run, reasonCreated `retry`/`task-retry`); rerun adds a run with
reasonCreated `rerun`; the deadline resolves anything left as deadline-exceeded.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from mozci_monitor.core.errors import SimulatorError
from mozci_monitor.sim.clock import EPOCH, EventQueue, iso
from mozci_monitor.sim.config import AUTO_RETRIED, OUTCOMES, SimConfig
from mozci_monitor.sim.ids import revision_from_rng, slug_from_rng
from mozci_monitor.sim.taskgraph import (
    JSON,
    FullGraph,
    PushInfo,
    build_full_graph,
    decision_definition,
    task_definition,
)
from mozci_monitor.sim.testrun import ERRORSUMMARY_NAME, JobTestRun, run_tests

log = structlog.get_logger(__name__)

CLAIM_SECONDS = 1200.0
_RESOLVED = ("completed", "failed", "exception")
_AUTHORS = (
    ("Alice Example", "alice@mozilla.example"),
    ("Bob Example", "bob@mozilla.example"),
    ("Carol Example", "carol@mozilla.example"),
    ("Dan Example", "dan@mozilla.example"),
)
_COMPONENTS = ("dom/base", "layout/generic", "netwerk/protocol/http", "js/src/jit", "gfx/wr")


@dataclass
class Push:
    """One hg push and its CI task group."""

    index: int
    push_id: int
    revision: str
    changesets: list[JSON]
    date: float
    user: str
    decision_task_id: str
    treeherder_id: int
    scheduled_labels: list[str]
    arrived: bool = False
    label_to_taskid: dict[str, str] = field(default_factory=dict)

    @property
    def task_group_id(self) -> str:
        return self.decision_task_id


@dataclass
class SimTask:
    """A task the queue knows: definition, runs, and simulation bookkeeping."""

    task_id: str
    definition: JSON
    push: Push | None
    runs: list[JSON] = field(default_factory=list)
    retries_left: int = 5
    dependents: list[str] = field(default_factory=list)
    # Run once, just before the task resolves completed (decision/action tasks create tasks).
    on_success: Callable[[SimTask], None] | None = None
    # Artifacts per run: name -> (content type, producer of the body).
    artifacts: dict[int, dict[str, tuple[str, Callable[[], bytes]]]] = field(default_factory=dict)
    job_ids: dict[int, int] = field(default_factory=dict)
    outcomes: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(
            self.definition.get("tags", {}).get("label") or self.definition["metadata"]["name"]
        )

    @property
    def kind(self) -> str:
        return str(self.definition.get("tags", {}).get("kind", ""))

    @property
    def task_group_id(self) -> str:
        return str(self.definition["taskGroupId"])

    @property
    def state(self) -> str:
        return str(self.runs[-1]["state"]) if self.runs else "unscheduled"

    def status(self) -> JSON:
        d = self.definition
        return {
            "taskId": self.task_id,
            "provisionerId": d["provisionerId"],
            "workerType": d["workerType"],
            "taskQueueId": d["taskQueueId"],
            "schedulerId": d["schedulerId"],
            "projectId": d["projectId"],
            "taskGroupId": d["taskGroupId"],
            "deadline": d["deadline"],
            "expires": d["expires"],
            "retriesLeft": self.retries_left,
            "state": self.state,
            "runs": [dict(run) for run in self.runs],  # runs hold only scalars
        }


@dataclass(frozen=True)
class Transition:
    """A queue event worth a Pulse message, with the status snapshot at that moment."""

    kind: str  # defined | pending | running | completed | failed | exception
    task_id: str
    run_id: int | None
    status: JSON
    tags: dict[str, str]
    routes: tuple[str, ...]
    at: float
    worker_group: str | None = None
    worker_id: str | None = None
    taken_until: str | None = None


class QueueError(SimulatorError):
    """A queue request the real queue would refuse (HTTP status and code attached)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class World:
    """All simulated state plus the scheduler that moves it forward in virtual time."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        # Scenario knob (from the config, or added before the clock starts): action tasks
        # asked to act on these labels fail.
        self.failing_action_labels: set[str] = set(config.failing_action_labels)
        # Scenario knob too: other users' pending tasks per worker pool (a test drains it).
        self.pool_backlog: dict[str, int] = dict(config.pool_backlog)
        # Scenario knob too: (label, push index) -> how many runs of that label on that
        # push, added from now on, a worker claims at the usual pace; the runs after them
        # stay pending `held_pending` seconds (a scarce pool), long enough to be cancelled.
        self.held_after: dict[tuple[str, int], int] = {}
        self.held_pending = 36_000.0
        self._runs_added: dict[tuple[str, int], int] = {}
        self._graph_rng = random.Random(f"{config.seed}:graph")
        self._id_rng = random.Random(f"{config.seed}:ids")
        self._run_rng = random.Random(f"{config.seed}:runs")
        self._test_rng = random.Random(f"{config.seed}:tests")
        # (task id, run id) -> the tests that run ran, for its errorsummary.log.
        self.test_runs: dict[tuple[str, int], JobTestRun] = {}
        self.graph: FullGraph = build_full_graph(config.platforms, config.suites)
        self.tasks: dict[str, SimTask] = {}
        self.task_groups: dict[str, list[str]] = {}
        self.index: dict[str, JSON] = {}
        self.forced: dict[tuple[str, int], str] = {}
        # (label, push index, run id) -> outcome, for the first task that matches only.
        self.forced_once: dict[tuple[str, int, int], str] = {}
        self._forced_once_owner: dict[tuple[str, int, int], str] = {}
        self.listeners: list[Callable[[Transition], None]] = []
        # Called when a decision task has created its graph (artifacts are attached there).
        self.decision_listeners: list[Callable[[SimTask], None]] = []
        self.tasks_created = 0
        # Runs currently pending or running: zero means nothing moves until a deadline.
        self.active_runs = 0
        self.reruns = 0
        self._next_job_id = 400_000_000
        history = config.effective_history_pushes
        first_arrival = -history * config.push_interval + 1.0
        self.events = EventQueue(start=first_arrival - 1.0)
        self.pushes: list[Push] = [self._make_push(i, history) for i in range(config.pushes)]
        for push in self.pushes:
            self.events.at(push.date, functools.partial(self._arrive, push))

    # ---------------------------------------------------------------- identities

    def pending_tasks(self, task_queue_id: str) -> int:
        """What the queue would count as pending in the pool: the runs the scheduler has
        not claimed yet, plus the pool's backlog of other users' tasks."""
        ours = sum(
            1
            for task in self.tasks.values()
            if task.state == "pending" and task.definition.get("taskQueueId") == task_queue_id
        )
        return ours + self.pool_backlog.get(task_queue_id, 0)

    def new_task_id(self) -> str:
        while True:
            task_id = slug_from_rng(self._id_rng)
            if task_id not in self.tasks:
                return task_id

    def push_info(self, push: Push) -> PushInfo:
        return PushInfo(
            repo=self.config.repo,
            push_id=push.push_id,
            revision=push.revision,
            owner=push.user,
            date=push.date,
        )

    def push_by_group(self, task_group_id: str) -> Push | None:
        for push in self.pushes:
            if push.task_group_id == task_group_id:
                return push
        return None

    def _make_push(self, index: int, history: int) -> Push:
        rng = self._graph_rng
        changesets: list[JSON] = []
        user_email = _AUTHORS[rng.randrange(len(_AUTHORS))][1]
        for _ in range(rng.randint(1, 3)):
            name, email = _AUTHORS[rng.randrange(len(_AUTHORS))]
            bug = rng.randint(1_800_000, 1_950_000)
            component = _COMPONENTS[rng.randrange(len(_COMPONENTS))]
            changesets.append(
                {
                    "node": revision_from_rng(rng),
                    "author": f"{name} <{email}>",
                    "desc": f"Bug {bug} - Fix {component} edge case. r=reviewer",
                    "branch": "default",
                    "tags": [],
                    "files": [f"{component}/File{rng.randint(1, 99)}.cpp"],
                    "parents": [],
                }
            )
        tests = self.graph.test_labels
        wanted = round(len(tests) * self.config.scheduled_fraction)
        chosen = set(rng.sample(tests, wanted))
        # Filtered after the draw, so that the rest of the world stays as the seed makes it.
        skipped = {label for label, push_index in self.config.optimised_away if push_index == index}
        scheduled = [label for label in tests if label in chosen and label not in skipped]
        builds_needed = {self.graph.specs[label].build_label for label in scheduled}
        builds = [label for label in self.graph.build_labels if label in builds_needed]
        push_id = self.config.first_push_id + index
        return Push(
            index=index,
            push_id=push_id,
            revision=str(changesets[-1]["node"]),
            changesets=changesets,
            date=(index - history) * self.config.push_interval + 1.0,
            user=user_email,
            decision_task_id=self.new_task_id(),
            treeherder_id=1_100_000 + push_id,
            scheduled_labels=builds + scheduled,
        )

    # ---------------------------------------------------------------- pushes

    def _arrive(self, push: Push) -> None:
        push.arrived = True
        info = self.push_info(push)
        definition = decision_definition(
            info,
            task_id=push.decision_task_id,
            created=self.events.now,
            deadline_hours=self.config.deadline_hours,
        )
        self.create_task(
            push.decision_task_id, definition, push, on_success=self._decision_creates_graph
        )
        if self.listeners:  # live pushes only: history is simulated silently
            log.info("sim.push_arrived", push_id=push.push_id, revision=push.revision)

    def _decision_creates_graph(self, decision: SimTask) -> None:
        push = decision.push
        assert push is not None
        self.create_labels(push, push.scheduled_labels, into=push.label_to_taskid)
        for listener in self.decision_listeners:
            listener(decision)

    def create_labels(
        self,
        push: Push,
        labels: list[str],
        *,
        into: dict[str, str] | None = None,
        extra_tags: dict[str, str] | None = None,
        reuse: dict[str, str] | None = None,
        modify: Callable[[JSON], None] | None = None,
    ) -> list[str]:
        """Create tasks for `labels` on `push`; missing dependencies are created too.

        `reuse` maps labels to existing task ids (the push's builds) that new tasks
        depend on instead of creating their own, like taskgraph's `create_tasks`.
        """
        existing = dict(reuse if reuse is not None else push.label_to_taskid)
        created: list[str] = []
        info = self.push_info(push)

        def ensure(label: str, *, forced_new: bool) -> str:
            if not forced_new and label in existing:
                return existing[label]
            spec = self.graph.specs[label]
            deps = [
                ensure(dep, forced_new=False) for dep in self.graph.dependencies(label).values()
            ]
            task_id = self.new_task_id()
            definition = task_definition(
                spec,
                push=info,
                task_group_id=push.task_group_id,
                dependencies=deps,
                created=self.events.now,
                deadline_hours=self.config.deadline_hours,
                retries=self.config.retries,
                rank=int(push.date),
                extra_tags=extra_tags if forced_new else None,
            )
            if forced_new and modify is not None:
                modify(definition)  # what the action changes in the tasks it asked for
            existing[label] = task_id
            if into is not None:
                into[label] = task_id
            self.create_task(task_id, definition, push)
            created.append(task_id)
            return task_id

        for label in labels:
            ensure(label, forced_new=True)
        return created

    # ---------------------------------------------------------------- queue operations

    def create_task(
        self,
        task_id: str,
        definition: JSON,
        push: Push | None,
        *,
        on_success: Callable[[SimTask], None] | None = None,
    ) -> SimTask:
        if task_id in self.tasks:
            raise QueueError(409, "RequestConflict", f"task {task_id} already exists")
        for dep in definition.get("dependencies", []):
            if dep not in self.tasks and dep != task_id:
                raise QueueError(400, "InputError", f"dependency {dep} does not exist")
        task = SimTask(
            task_id=task_id,
            definition=definition,
            push=push,
            retries_left=int(definition.get("retries", 5)),
            on_success=on_success,
        )
        self.tasks[task_id] = task
        self.task_groups.setdefault(task.task_group_id, []).append(task_id)
        self.tasks_created += 1
        for dep in definition.get("dependencies", []):
            if dep in self.tasks and dep != task_id:
                self.tasks[dep].dependents.append(task_id)
        self._emit("defined", task, None)
        deadline = _seconds_of(definition["deadline"], self.events.now)
        self.events.at(deadline, lambda: self._deadline(task))
        if self._dependencies_completed(task):
            self._add_run(task, "scheduled")
        return task

    def rerun(self, task_id: str) -> SimTask:
        task = self._get(task_id)
        if task.state in ("pending", "running"):
            return task
        if self._past_deadline(task):
            raise QueueError(409, "RequestConflict", "task is past its deadline")
        if len(task.runs) >= 50:
            raise QueueError(409, "RequestConflict", "task has reached the maximum number of runs")
        self.reruns += 1
        task.retries_left = int(task.definition.get("retries", 5))
        self._add_run(task, "rerun")
        return task

    def cancel(self, task_id: str) -> SimTask:
        task = self._get(task_id)
        if task.state in _RESOLVED:
            return task
        if self._past_deadline(task):
            raise QueueError(409, "RequestConflict", "task is past its deadline")
        self._ensure_run(task)
        self._finish_run(task, len(task.runs) - 1, "exception", "canceled")
        return task

    def force(self, task_id_or_label: str, run_id: int, outcome: str) -> None:
        """Scenario knob: the run `run_id` of this task (or of every task with this label)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.forced[(task_id_or_label, run_id)] = outcome

    def force_once(self, label: str, push_index: int, outcome: str, run_id: int = 0) -> None:
        """Scenario knob: only the first task of `label` on that push gets `outcome` for
        run `run_id`; tasks added later for the same label (a retrigger, add-new-jobs) run
        normally, so a remedy can be seen to work."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.forced_once[(label, push_index, run_id)] = outcome

    def _get(self, task_id: str) -> SimTask:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise QueueError(404, "ResourceNotFound", f"task {task_id} not found") from None

    # ---------------------------------------------------------------- scheduler

    def _dependencies_completed(self, task: SimTask) -> bool:
        requires = task.definition.get("requires", "all-completed")
        for dep in task.definition.get("dependencies", []):
            if dep == task.task_id:
                return False
            state = self.tasks[dep].state
            if requires == "all-resolved":
                if state not in _RESOLVED:
                    return False
            elif state != "completed":
                return False
        return True

    def _new_run(self, run_id: int, reason_created: str) -> JSON:
        return {
            "runId": run_id,
            "state": "pending",
            "reasonCreated": reason_created,
            "scheduled": iso(self.events.now),
        }

    def _add_run(self, task: SimTask, reason_created: str) -> None:
        run_id = len(task.runs)
        task.runs.append(self._new_run(run_id, reason_created))
        self.active_runs += 1
        self._emit("pending", task, run_id)
        delay = self._run_rng.expovariate(1.0 / self.config.mean_pending)
        if self._held(task):
            delay = self.held_pending
        self.events.after(delay, lambda: self._claim(task, run_id))

    def _held(self, task: SimTask) -> bool:
        """Is this new run one the `held_after` knob keeps pending?"""
        if task.push is None or not self.held_after:
            return False
        key = (task.label, task.push.index)
        if key not in self.held_after:
            return False
        self._runs_added[key] = self._runs_added.get(key, 0) + 1
        return self._runs_added[key] > self.held_after[key]

    def _claim(self, task: SimTask, run_id: int) -> None:
        run = task.runs[run_id]
        if run["state"] != "pending":
            return
        outcome = self._decide(task, run_id)
        task.outcomes[run_id] = outcome
        if outcome == "deadline-exceeded":
            # Nobody claimed it in time: resolved by the queue, never started.
            self._finish_run(task, run_id, "exception", "deadline-exceeded")
            return
        rng = self._run_rng
        run["state"] = "running"
        run["workerGroup"] = f"us-central1-{'abcf'[rng.randrange(4)]}"
        run["workerId"] = str(rng.randrange(10**18, 10**19))
        run["takenUntil"] = iso(self.events.now + CLAIM_SECONDS)
        run["started"] = iso(self.events.now)
        self._emit("running", task, run_id)
        low, high = self._runtime_range(task)
        runtime = rng.uniform(low, high)
        if outcome == "claim-expired":
            runtime = min(runtime, CLAIM_SECONDS)
        self.events.after(runtime, lambda: self._resolve(task, run_id, outcome))

    def _runtime_range(self, task: SimTask) -> tuple[float, float]:
        if task.kind == "decision-task":
            return self.config.decision_runtime
        if task.kind == "action-callback":
            return self.config.action_runtime
        if task.kind == "build":
            return self.config.build_runtime
        return self.config.test_runtime

    def _decide(self, task: SimTask, run_id: int) -> str:
        for key in ((task.task_id, run_id), (task.label, run_id)):
            if key in self.forced:
                return self.forced[key]
        push = task.push
        if push is not None:
            once = (task.label, push.index, run_id)
            if once in self.forced_once:
                owner = self._forced_once_owner.setdefault(once, task.task_id)
                if owner == task.task_id:
                    return self.forced_once[once]
        for forced in self.config.forced:
            if (
                forced.label == task.label
                and forced.run_id == run_id
                and (forced.push is None or (push is not None and push.index == forced.push))
            ):
                return forced.outcome
        if task.kind in ("decision-task", "action-callback"):
            return "completed"
        if self.config.tests is not None and self.config.tests.covers(task.label):
            return self._run_tests(task, run_id)
        planted = (self.config.regression, *self.config.regressions)
        for regression in planted:
            if (
                regression is not None
                and regression.label == task.label
                and push is not None
                and push.index >= regression.from_push
            ):
                if regression.rate >= 1.0 or self._run_rng.random() < regression.rate:
                    return "failed"
                return "completed"
        cfg = self.config
        draw = self._run_rng.random()
        for outcome, rate in (
            ("claim-expired", cfg.claim_expired_rate),
            ("worker-shutdown", cfg.worker_shutdown_rate),
            ("superseded", cfg.superseded_rate),
            ("deadline-exceeded", cfg.deadline_exceeded_rate),
            ("failed", cfg.label_failure_rates.get(task.label, cfg.intermittent_rate)),
        ):
            if draw < rate:
                return outcome
            draw -= rate
        return "completed"

    def _run_tests(self, task: SimTask, run_id: int) -> str:
        """A covered test job: infrastructure first, then its tests decide its colour."""
        cfg = self.config
        assert cfg.tests is not None
        draw = self._run_rng.random()
        for outcome, rate in (
            ("claim-expired", cfg.claim_expired_rate),
            ("worker-shutdown", cfg.worker_shutdown_rate),
            ("superseded", cfg.superseded_rate),
            ("deadline-exceeded", cfg.deadline_exceeded_rate),
        ):
            if draw < rate:
                return outcome
            draw -= rate
        env = task.definition.get("payload", {}).get("env", {})
        run = run_tests(
            cfg.tests,
            task.label,
            task.push.index if task.push is not None else None,
            self._test_rng,
            only=_test_paths(env),
            dump_all=bool(env.get("MOZLOG_DUMP_ALL_TESTS")),
            repeat=_repeat(task.definition.get("payload", {}).get("command", [])),
            first_of_push=run_id == 0
            and task.push is not None
            and task.push.label_to_taskid.get(task.label) == task.task_id,
        )
        self.test_runs[(task.task_id, run_id)] = run
        return "failed" if run.orange else "completed"

    def _resolve(self, task: SimTask, run_id: int, outcome: str) -> None:
        run = task.runs[run_id]
        if run["state"] != "running":
            return
        if outcome == "completed" and task.on_success is not None:
            effect, task.on_success = task.on_success, None
            effect(task)
        if outcome == "completed":
            self._finish_run(task, run_id, "completed", "completed")
        elif outcome == "failed":
            self._finish_run(task, run_id, "failed", "failed")
        else:
            self._finish_run(task, run_id, "exception", outcome)

    def _finish_run(self, task: SimTask, run_id: int, state: str, reason: str) -> None:
        run = task.runs[run_id]
        started = run.get("started") is not None
        if run["state"] in ("pending", "running"):
            self.active_runs -= 1
        run["state"] = state
        run["reasonResolved"] = reason
        run["resolved"] = iso(self.events.now)
        if not started:
            run.pop("takenUntil", None)
        self._attach_log(task, run_id)
        retry = state == "exception" and reason in AUTO_RETRIED and task.retries_left > 0
        if retry:
            # Like the queue: the retry's task-pending replaces the task-exception message.
            task.retries_left -= 1
            reason_created = "task-retry" if reason == "intermittent-task" else "retry"
            task.runs.append(self._new_run(run_id + 1, reason_created))
            self.active_runs += 1
            self._emit("pending", task, run_id + 1)
            delay = self._run_rng.expovariate(1.0 / self.config.mean_pending)
            self.events.after(delay, lambda: self._claim(task, run_id + 1))
            return
        worker = (run.get("workerGroup"), run.get("workerId")) if started else (None, None)
        self._emit(state, task, run_id, worker_group=worker[0], worker_id=worker[1])
        if state == "completed":
            self._index(task)
            for dependent_id in task.dependents:
                dependent = self.tasks[dependent_id]
                if dependent.state == "unscheduled" and self._dependencies_completed(dependent):
                    self._add_run(dependent, "scheduled")
        elif task.definition.get("requires") == "all-resolved":
            for dependent_id in task.dependents:
                dependent = self.tasks[dependent_id]
                if dependent.state == "unscheduled" and self._dependencies_completed(dependent):
                    self._add_run(dependent, "scheduled")

    def _deadline(self, task: SimTask) -> None:
        if task.state in _RESOLVED:
            return
        self._ensure_run(task)
        self._finish_run(task, len(task.runs) - 1, "exception", "deadline-exceeded")

    def _ensure_run(self, task: SimTask) -> None:
        """An unscheduled task resolved by the queue gets a run created just for that."""
        if not task.runs:
            run = self._new_run(0, "exception")
            run["state"] = "exception"  # never pending: not an active run
            task.runs.append(run)

    def _past_deadline(self, task: SimTask) -> bool:
        return self.events.now >= _seconds_of(task.definition["deadline"], self.events.now)

    def _index(self, task: SimTask) -> None:
        rank = int(task.definition.get("extra", {}).get("index", {}).get("rank", 0))
        for route in task.definition.get("routes", []):
            if route.startswith("index."):
                namespace = route.removeprefix("index.")
                self.index[namespace] = {
                    "namespace": namespace,
                    "taskId": task.task_id,
                    "rank": rank,
                    "data": {},
                    "expires": task.definition["expires"],
                }

    def _attach_log(self, task: SimTask, run_id: int) -> None:
        run = dict(task.runs[run_id])
        label = task.label

        def body() -> bytes:
            return _live_log(label, task.task_id, run).encode()

        artifacts = task.artifacts.setdefault(run_id, {})
        artifacts["public/logs/live_backing.log"] = ("text/plain; charset=utf-8", body)
        tests = self.test_runs.get((task.task_id, run_id))
        if tests is not None and run["state"] in ("completed", "failed"):
            name = ERRORSUMMARY_NAME.format(suite=tests.suite)
            artifacts[name] = ("text/plain; charset=utf-8", tests.errorsummary)

    def _emit(
        self,
        kind: str,
        task: SimTask,
        run_id: int | None,
        *,
        worker_group: str | None = None,
        worker_id: str | None = None,
    ) -> None:
        if run_id is not None and run_id not in task.job_ids and kind != "defined":
            task.job_ids[run_id] = self._next_job_id
            self._next_job_id += 1
        if not self.listeners:
            return
        run = task.runs[run_id] if run_id is not None else None
        transition = Transition(
            kind=kind,
            task_id=task.task_id,
            run_id=run_id,
            status=task.status(),
            tags=dict(task.definition.get("tags", {})),
            routes=tuple(task.definition.get("routes", [])),
            at=self.events.now,
            worker_group=worker_group or (run.get("workerGroup") if run else None),
            worker_id=worker_id or (run.get("workerId") if run else None),
            taken_until=run.get("takenUntil") if run else None,
        )
        for listener in self.listeners:
            listener(transition)

    # ---------------------------------------------------------------- time

    def advance_to(self, until: float) -> int:
        return self.events.run_until(until)


def _test_paths(env: JSON) -> tuple[str, ...]:
    """The paths a pinned run is limited to, as gecko passes them to the harness:
    `MOZHARNESS_CONFIRM_PATHS` (confirm-failures) or `MOZHARNESS_TEST_PATHS` (backfill's
    testPath), each a JSON object {suite: [paths]}."""
    for key in ("MOZHARNESS_CONFIRM_PATHS", "MOZHARNESS_TEST_PATHS"):
        try:
            by_suite = json.loads(env.get(key) or "{}")
        except ValueError:
            continue
        paths = [p for ps in by_suite.values() if isinstance(ps, list) for p in ps if p]
        if paths:
            return tuple(str(p) for p in paths)
    return ()


def _repeat(command: object) -> int:
    """The harness's `--repeat=N` (confirm-failures adds it to its `-cf` tasks)."""
    for part in command if isinstance(command, list) else []:
        if isinstance(part, str) and part.startswith("--repeat="):
            try:
                return max(0, int(part.removeprefix("--repeat=")))
            except ValueError:
                return 0
    return 0


def _seconds_of(stamp: str, fallback: float) -> float:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return (moment - EPOCH).total_seconds()


def _live_log(label: str, task_id: str, run: JSON) -> str:
    """A short mozharness-style log; failures carry TEST-UNEXPECTED-FAIL lines."""
    lines = [
        f"[taskcluster {run.get('started', run['scheduled'])}] Task ID: {task_id}",
        f"[taskcluster {run.get('started', run['scheduled'])}] Worker Group: "
        f"{run.get('workerGroup', '-')}",
        f"[task {run.get('started', run['scheduled'])}] label: {label}",
        "[task] + ./mach run-task",
    ]
    if run["state"] == "failed":
        lines += [
            f"[task] TEST-UNEXPECTED-FAIL | {label}/test_simulated.js | "
            "Assertion failed - got false, expected true",
            "[task] Return code: 1",
            f"[taskcluster {run['resolved']}] === Task Finished ===",
            f"[taskcluster {run['resolved']}] Unsuccessful task run with exit code: 1",
        ]
    elif run["state"] == "completed":
        lines += [
            "[task] TEST-PASS | all tests passed",
            "[task] Return code: 0",
            f"[taskcluster {run['resolved']}] === Task Finished ===",
            f"[taskcluster {run['resolved']}] Successful task run with exit code: 0",
        ]
    else:
        lines.append(f"[taskcluster] Task resolved as exception: {run.get('reasonResolved')}")
    return "\n".join(lines) + "\n"
