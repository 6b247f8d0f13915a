"""Gecko-like task graphs: the full graph's labels and the task definitions a push creates.

Shapes follow real Firefox CI tasks (decision, `build-<platform>/<type>`,
`test-<platform>/<type>-<suite>-<chunk>`, Treeherder routes and `extra.treeherder`),
generated rather than copied.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from mozci_monitor.sim.clock import iso

JSON = dict[str, Any]

SCHEDULER_ID = "gecko-level-3"
TRUST_DOMAIN = "gecko"
LEVEL = "3"
OWNER = "sheriff@mozilla.example"

# os part of a test platform -> (build platform, build worker, test worker, th build platform)
_PLATFORMS: dict[str, tuple[str, str, str, str]] = {
    "linux1804-64": ("linux64", "b-linux-gcp", "t-linux-large-gcp", "linux64"),
    "linux2204-64-wayland": ("linux64", "b-linux-gcp", "t-linux-wayland", "linux64"),
    "windows11-64": ("win64", "b-win2022", "t-win11-64", "windows2012-64"),
    "windows10-32": ("win32", "b-win2022", "t-win10-64", "windows2012-32"),
    "macosx1015-64": ("macosx64", "b-linux-gcp", "t-osx-1015-r8", "osx-cross"),
    "android-em-7.0-x86_64": ("android-x86_64", "b-linux-gcp", "t-linux-kvm", "android-5-0-x86_64"),
}
_OS_TAG = {"linux": "linux", "windows": "windows", "macosx": "macosx", "android": "linux"}

# suite -> (treeherder group symbol, symbol prefix)
_SUITE_SYMBOLS: dict[str, tuple[str, str]] = {
    "mochitest-browser-chrome": ("M", "bc"),
    "mochitest-plain": ("M", ""),
    "mochitest-devtools-chrome": ("M", "dt"),
    "xpcshell": ("", "X"),
    "reftest": ("R", "R"),
    "crashtest": ("R", "C"),
    "web-platform-tests": ("W", "wpt"),
    "marionette": ("", "Mn"),
}


@dataclass(frozen=True)
class LabelSpec:
    """One entry of the full task graph."""

    label: str
    kind: str  # "build" | "test"
    platform: str  # treeherder machine platform, e.g. linux1804-64
    build_type: str  # opt | debug
    provisioner_id: str
    worker_type: str
    symbol: str
    group_symbol: str
    build_label: str | None = None
    suite: str | None = None
    chunk: int | None = None
    chunks: int | None = None
    # gecko's `-cf` copy of a test (transforms/test/confirm_failure.py): in the full graph
    # for the confirm-failures action only, never scheduled by a push.
    confirm_failure: bool = False


# Suites gecko copies to a `-cf` variant (by prefix), unless "backlog" or "failure" ones.
_CONFIRMABLE = ("mochitest", "reftest", "xpcshell", "web-platform")


@dataclass
class FullGraph:
    """The full task graph shared by every push (labels in creation order: builds first)."""

    specs: dict[str, LabelSpec] = field(default_factory=dict)

    @property
    def build_labels(self) -> list[str]:
        return [label for label, spec in self.specs.items() if spec.kind == "build"]

    @property
    def test_labels(self) -> list[str]:
        """The tests a push may schedule (not the `-cf` variants)."""
        return [
            label
            for label, spec in self.specs.items()
            if spec.kind == "test" and not spec.confirm_failure
        ]

    @property
    def confirm_labels(self) -> list[str]:
        return [label for label, spec in self.specs.items() if spec.confirm_failure]

    def dependencies(self, label: str) -> dict[str, str]:
        spec = self.specs[label]
        return {"build": spec.build_label} if spec.build_label else {}


def _platform_info(test_platform: str) -> tuple[str, str, str, str]:
    if test_platform in _PLATFORMS:
        return _PLATFORMS[test_platform]
    base = test_platform.split("-")[0]
    return (base, "b-linux-gcp", "t-linux-large-gcp", base)


def build_full_graph(platforms: tuple[str, ...], suites: tuple[tuple[str, int], ...]) -> FullGraph:
    """Builds for every platform, then every suite chunk on every platform."""
    graph = FullGraph()
    for entry in platforms:
        test_platform, build_type = entry.split("/", 1)
        build_platform, build_worker, _, th_build_platform = _platform_info(test_platform)
        label = f"build-{build_platform}/{build_type}"
        if label not in graph.specs:
            graph.specs[label] = LabelSpec(
                label=label,
                kind="build",
                platform=th_build_platform,
                build_type=build_type,
                provisioner_id="gecko-3",
                worker_type=build_worker,
                symbol="B",
                group_symbol="",
            )
    for entry in platforms:
        test_platform, build_type = entry.split("/", 1)
        build_platform, _, test_worker, _ = _platform_info(test_platform)
        for suite, chunks in suites:
            group, prefix = _SUITE_SYMBOLS.get(suite, ("", suite[:2]))
            for chunk in range(1, chunks + 1):
                suffix = f"-{chunk}" if chunks > 1 else ""
                label = f"test-{test_platform}/{build_type}-{suite}{suffix}"
                symbol = f"{prefix}{chunk}" if chunks > 1 or not prefix else prefix
                worker = test_worker
                if suite == "web-platform-tests" and worker == "t-linux-large-gcp":
                    worker = "t-linux-xlarge-gcp"
                graph.specs[label] = LabelSpec(
                    label=label,
                    kind="test",
                    platform=test_platform,
                    build_type=build_type,
                    provisioner_id="gecko-t",
                    worker_type=worker,
                    symbol=symbol,
                    group_symbol=group,
                    build_label=f"build-{build_platform}/{build_type}",
                    suite=suite,
                    chunk=chunk,
                    chunks=chunks,
                )
                if _has_confirm_variant(suite):
                    spec = graph.specs[label]
                    graph.specs[label + "-cf"] = replace(
                        spec,
                        label=label + "-cf",
                        # gecko: split_symbol gives "?" for a symbol without a group
                        group_symbol=(spec.group_symbol or "?") + "-cf",
                        confirm_failure=True,
                    )
    return graph


def _has_confirm_variant(suite: str) -> bool:
    return suite.startswith(_CONFIRMABLE) and "backlog" not in suite and "failure" not in suite


@dataclass(frozen=True)
class PushInfo:
    """What task definitions need to know about a push."""

    repo: str
    push_id: int
    revision: str
    owner: str
    date: float

    @property
    def head_repository(self) -> str:
        return f"https://hg.mozilla.org/{repo_path(self.repo)}"

    @property
    def treeherder_route(self) -> str:
        return f"tc-treeherder.v2.{self.repo}.{self.revision}.{self.push_id}"


def repo_path(repo: str) -> str:
    """hg.mozilla.org path of a repository (autoland lives under integration/)."""
    if repo in ("autoland", "mozilla-inbound"):
        return f"integration/{repo}"
    if repo.startswith("mozilla-") or repo == "try":
        return repo
    return f"projects/{repo}"


def tcyml_hash(repo: str, seed: int) -> str:
    """Stand-in for the hash of .taskcluster.yml that in-tree action hook ids carry."""
    return hashlib.sha256(f"{repo}:{seed}:.taskcluster.yml".encode()).hexdigest()[:10]


def _os_tag(platform: str) -> str:
    for prefix, tag in _OS_TAG.items():
        if platform.startswith(prefix):
            return tag
    return "linux"


def _common(
    *,
    task_group_id: str,
    provisioner_id: str,
    worker_type: str,
    created: float,
    deadline_hours: float,
    expires_days: float,
    retries: int,
) -> JSON:
    return {
        "provisionerId": provisioner_id,
        "workerType": worker_type,
        "taskQueueId": f"{provisioner_id}/{worker_type}",
        "schedulerId": SCHEDULER_ID,
        "projectId": "none",
        "taskGroupId": task_group_id,
        "requires": "all-completed",
        "priority": "low",
        "retries": retries,
        "created": iso(created),
        "deadline": iso(created + deadline_hours * 3600),
        "expires": iso(created + expires_days * 86400),
    }


def task_definition(
    spec: LabelSpec,
    *,
    push: PushInfo,
    task_group_id: str,
    dependencies: list[str],
    created: float,
    deadline_hours: float,
    retries: int,
    rank: int,
    extra_tags: dict[str, str] | None = None,
) -> JSON:
    """Definition of a build or test task of `push`, as the decision task creates it."""
    routes = [push.treeherder_route]
    treeherder: JSON = {
        "machine": {"platform": spec.platform},
        "collection": {spec.build_type: True},
        "symbol": spec.symbol,
        # gecko's `-cf` copies are tier 2 (transforms/test/confirm_failure.py)
        "tier": 2 if spec.confirm_failure else 1,
        "jobKind": spec.kind,
    }
    if spec.group_symbol:
        treeherder["groupSymbol"] = spec.group_symbol
    env = {
        "GECKO_HEAD_REPOSITORY": push.head_repository,
        "GECKO_HEAD_REV": push.revision,
        "MOZ_AUTOMATION": "1",
        "MOZ_SCM_LEVEL": LEVEL,
    }
    if spec.kind == "build":
        index_name = spec.label.removeprefix("build-").replace("/", "-")
        routes += [
            f"index.gecko.v2.{push.repo}.latest.firefox.{index_name}",
            f"index.gecko.v2.{push.repo}.revision.{push.revision}.firefox.{index_name}",
            f"index.gecko.v2.{push.repo}.pushlog-id.{push.push_id}.firefox.{index_name}",
        ]
        payload: JSON = {
            "command": ["/builds/worker/bin/run-task", "--", "./mach", "build"],
            "env": env,
            "maxRunTime": 7200,
            "artifacts": {
                "public/build": {"path": "/builds/worker/artifacts/", "type": "directory"}
            },
        }
        description = f"Build {spec.platform}/{spec.build_type}"
    else:
        env["MOZHARNESS_SCRIPT"] = "desktop_unittest.py"
        payload = {
            "command": [
                "/builds/worker/bin/run-task",
                "--",
                "/builds/worker/bin/test-linux.sh",
                f"--{spec.suite}-suite",
                f"--this-chunk={spec.chunk}",
                f"--total-chunks={spec.chunks}",
            ],
            "env": env,
            "maxRunTime": 5400,
            "artifacts": {
                "public/logs/": {"path": "/builds/worker/workspace/logs/", "type": "directory"}
            },
            "onExitStatus": {"retry": [4, 72]},
        }
        description = f"{spec.suite} chunk {spec.chunk} on {spec.platform}/{spec.build_type}"
    definition = _common(
        task_group_id=task_group_id,
        provisioner_id=spec.provisioner_id,
        worker_type=spec.worker_type,
        created=created,
        deadline_hours=deadline_hours,
        expires_days=28 if spec.kind == "test" else 365,
        retries=retries,
    )
    tags = {
        "createdForUser": push.owner,
        "kind": spec.kind,
        "label": spec.label,
        "os": _os_tag(spec.platform),
        "project": push.repo,
        "trust-domain": TRUST_DOMAIN,
        "worker-implementation": "docker-worker",
    }
    # gecko's transforms/task.py: from the full graph's `retrigger` attribute (tests only).
    tags["retrigger"] = "true" if spec.kind == "test" else "false"
    if spec.kind == "test":
        tags["test-type"] = spec.suite or ""
    if extra_tags:
        tags.update(extra_tags)
    definition.update(
        {
            "dependencies": dependencies,
            "routes": routes,
            "scopes": [f"secrets:get:project/releng/gecko/{spec.kind}/level-{LEVEL}/*"],
            "payload": payload,
            "metadata": _metadata(spec.label, description, push),
            "tags": tags,
            "extra": {
                "index": {"rank": rank},
                "parent": task_group_id,
                "treeherder": treeherder,
                "treeherder-platform": f"{spec.platform}/{spec.build_type}",
            },
        }
    )
    if spec.suite:
        definition["extra"]["suite"] = spec.suite
        definition["extra"]["chunks"] = {"current": spec.chunk, "total": spec.chunks}
    return definition


def _metadata(name: str, description: str, push: PushInfo) -> JSON:
    return {
        "name": name,
        "description": (
            f"{description} ([Treeherder push](https://treeherder.mozilla.org/#/jobs"
            f"?repo={push.repo}&revision={push.revision}))"
        ),
        "owner": push.owner,
        "source": f"{push.head_repository}/file/{push.revision}/taskcluster/kinds",
    }


def decision_definition(
    push: PushInfo, *, task_id: str, created: float, deadline_hours: float
) -> JSON:
    """The decision task; its taskId is also the push's taskGroupId."""
    definition = _common(
        task_group_id=task_id,
        provisioner_id="gecko-3",
        worker_type="decision-gcp",
        created=created,
        deadline_hours=deadline_hours,
        expires_days=365,
        retries=5,
    )
    definition["priority"] = "very-low"
    definition.update(
        {
            "dependencies": [],
            "routes": [
                push.treeherder_route,
                f"index.{TRUST_DOMAIN}.v2.{push.repo}.latest.taskgraph.decision",
                f"index.{TRUST_DOMAIN}.v2.{push.repo}.revision.{push.revision}.taskgraph.decision",
                f"index.{TRUST_DOMAIN}.v2.{push.repo}.pushlog-id.{push.push_id}.decision",
                f"notify.email.{push.owner}.on-failed",
                f"notify.email.{push.owner}.on-exception",
            ],
            "scopes": [
                f"assume:repo:hg.mozilla.org/{repo_path(push.repo)}:branch:default",
                f"in-tree:hook-action:project-{TRUST_DOMAIN}/in-tree-action-{LEVEL}-*",
            ],
            "payload": {
                "env": {
                    "GECKO_HEAD_REPOSITORY": push.head_repository,
                    "GECKO_HEAD_REV": push.revision,
                },
                "command": [
                    "/builds/worker/bin/run-task",
                    "--",
                    "./mach",
                    "taskgraph",
                    "decision",
                    f"--pushlog-id={push.push_id}",
                    f"--project={push.repo}",
                    f"--level={LEVEL}",
                ],
                "features": {"taskclusterProxy": True, "chainOfTrust": True},
                "maxRunTime": 1800,
            },
            "metadata": {
                "name": "Gecko Decision Task",
                "description": "The task that creates all of the other tasks in the task graph",
                "owner": push.owner,
                "source": f"{push.head_repository}/raw-file/{push.revision}/.taskcluster.yml",
            },
            "tags": {
                "createdForUser": push.owner,
                "kind": "decision-task",
                "label": "Gecko Decision Task",
            },
            "extra": {
                "treeherder": {
                    "machine": {"platform": "gecko-decision"},
                    "collection": {"opt": True},
                    "symbol": "D",
                    "tier": 1,
                    "jobKind": "other",
                },
                "tasks_for": "hg-push",
            },
        }
    )
    return definition


def action_definition(
    push: PushInfo,
    *,
    task_id: str,
    task_group_id: str,
    action_name: str,
    title: str,
    symbol: str,
    context: JSON,
    created: float,
    deadline_hours: float,
) -> JSON:
    """An action task, as the in-tree action hook's template creates it."""
    definition = _common(
        task_group_id=task_group_id,
        provisioner_id="gecko-3",
        worker_type="decision-gcp",
        created=created,
        deadline_hours=deadline_hours,
        expires_days=365,
        retries=5,
    )
    definition.update(
        {
            "dependencies": [],
            "routes": [
                push.treeherder_route,
                f"index.{TRUST_DOMAIN}.v2.{push.repo}.pushlog-id.{push.push_id}.actions.{task_id}",
            ],
            "scopes": [f"assume:repo:hg.mozilla.org/{repo_path(push.repo)}:action:generic"],
            "payload": {
                "env": {
                    "ACTION_TASK_GROUP_ID": task_group_id,
                    "ACTION_TASK_ID": context.get("taskId") or "",
                    "ACTION_CALLBACK": action_name,
                },
                "maxRunTime": 1800,
            },
            "metadata": {
                "name": f"Action: {title}",
                "description": f"Action task for {title}",
                "owner": OWNER,
                "source": f"{push.head_repository}/raw-file/{push.revision}/.taskcluster.yml",
            },
            "tags": {
                "createdForUser": OWNER,
                "kind": "action-callback",
                "action": action_name,
                "label": f"action-callback-{action_name}",
            },
            "extra": {
                "treeherder": {
                    "machine": {"platform": "gecko-decision"},
                    "collection": {"opt": True},
                    "groupSymbol": "AC",
                    "symbol": symbol,
                    "tier": 1,
                    "jobKind": "other",
                },
                "parent": task_group_id,
                "action": {"name": action_name, "context": context},
                "tasks_for": "action",
            },
        }
    )
    return definition


def full_task_graph_entry(spec: LabelSpec, template: JSON) -> JSON:
    """An entry of `public/full-task-graph.json` (label -> {task, dependencies, ...})."""
    attributes: JSON = {
        "kind": spec.kind,
        "build_platform": spec.label.split("-", 1)[1].split("/")[0]
        if spec.kind == "build"
        else None,
        "build_type": spec.build_type,
        # a `-cf` copy runs on no project: only the action schedules it
        "run_on_projects": [] if spec.confirm_failure else ["all"],
        "retrigger": spec.kind == "test",
    }
    if spec.kind == "test":
        attributes.update(
            {
                "test_platform": f"{spec.platform}/{spec.build_type}",
                "unittest_suite": spec.suite,
                "test_chunk": str(spec.chunk),
            }
        )
    task = {k: v for k, v in template.items() if k not in ("dependencies", "taskGroupId")}
    return {
        "kind": spec.kind,
        "label": spec.label,
        "attributes": {k: v for k, v in attributes.items() if v is not None},
        "optimization": {"always": None}
        if spec.confirm_failure
        else {"skip-unless-schedules": [spec.suite or spec.kind]},
        "dependencies": {"build": spec.build_label} if spec.build_label else {},
        "task": task,
    }
