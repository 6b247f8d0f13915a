"""Tests inside simulated test jobs: manifests, per-test intermittents, planted regressions.

A real Firefox CI test job runs a few manifests of tests; the job is orange when any test
has an unexpected result, which is most often some unrelated test's intermittent. With a
`JobTestModel` in the simulator's config, every test task of a covered label runs its
manifests: each flaky test fails at its own rate (so a job can be orange for several
unrelated reasons at once), a planted `PlantedTestRegression` makes one test fail from a given
push on, known intermittents are written with `known_intermittent` (and do not turn the
job orange, as in mozlog), and a crash can be planted with its signature. The run is
published as `public/test_info/<suite>_errorsummary.log` in mozlog's format and as
Treeherder failure lines.

The manifests of a label depend only on the label, so every push, retrigger and `-cf`
rerun of it runs the same tests.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

ERRORSUMMARY_NAME = "public/test_info/{suite}_errorsummary.log"


@dataclass(frozen=True)
class PlantedTestRegression:
    """`test` (a path in `label`'s manifests) fails at `rate` from push `from_push` on;
    with `crash_signature` it fails by crashing with that signature. `once`: it fails only
    in the first run of each push's own task of the label, never in a retrigger, a rerun
    or a `-cf` task: an intermittent that struck once, whatever the seed."""

    label: str
    test: str
    from_push: int
    rate: float = 1.0
    crash_signature: str | None = None
    once: bool = False


@dataclass(frozen=True)
class JobTestModel:
    # Labels whose jobs run tests; empty: every test task.
    labels: tuple[str, ...] = ()
    manifests_per_label: int = 3
    tests_per_manifest: int = 8
    # Probability that some unrelated test fails in one run (spread over `flaky_tests`).
    background_orange: float = 0.2
    flaky_tests: int = 4
    # Probability that one known-intermittent failure is logged (the job stays green).
    known_intermittent_rate: float = 0.3
    regressions: tuple[PlantedTestRegression, ...] = ()
    # (label, background_orange) for covered labels that differ from `background_orange`
    # (0.0: its tests fail only as planted).
    background_by_label: tuple[tuple[str, float], ...] = ()

    def background_of(self, label: str) -> float:
        base = label.removesuffix("-cf")
        return dict(self.background_by_label).get(base, self.background_orange)

    def covers(self, label: str) -> bool:
        base = label.removesuffix("-cf")  # confirm-failures reruns run the same tests
        return base.startswith("test-") and (not self.labels or base in self.labels)


@dataclass(frozen=True)
class Manifest:
    group: str
    tests: tuple[str, ...]


@dataclass
class JobTestRun:
    """What one run of a test job did; `lines` is its errorsummary.log, line by line."""

    suite: str
    lines: list[dict[str, object]] = field(default_factory=list)
    orange: bool = False
    failing_tests: list[str] = field(default_factory=list)

    def errorsummary(self) -> bytes:
        return "".join(json.dumps(line) + "\n" for line in self.lines).encode()

    def failure_lines(self) -> list[str]:
        """The TEST-UNEXPECTED / PROCESS-CRASH lines Treeherder would extract from the log."""
        texts = []
        for line in self.lines:
            if line["action"] == "test_result":
                known = line["known_intermittent"]
                assert isinstance(known, list)
                if line["status"] != line["expected"] and line["status"] not in known:
                    texts.append(
                        f"TEST-UNEXPECTED-{line['status']} | {line['test']} | {line['message']}"
                    )
            elif line["action"] == "crash":
                texts.append(
                    f"PROCESS-CRASH | application crashed [@ {line['signature']}] | {line['test']}"
                )
        return texts


def suite_of(label: str) -> str:
    """`test-linux1804-64/opt-mochitest-browser-chrome-2` -> `mochitest-browser-chrome`."""
    name = label.split("/", 1)[-1].split("-", 1)[-1]
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() and head else name


def manifests_for(model: JobTestModel, label: str) -> tuple[Manifest, ...]:
    base = label.removesuffix("-cf")
    suite = suite_of(base)
    chunk = base.rsplit("-", 1)[-1] if base.rsplit("-", 1)[-1].isdigit() else "1"
    rng = random.Random(zlib.crc32(base.encode()))
    areas = ("dom/base", "layout/generic", "netwerk/test", "toolkit/components", "browser/base")
    manifests = []
    for index in range(model.manifests_per_label):
        area = areas[(index + int(chunk)) % len(areas)]
        directory = f"{area}/test/{suite}-{chunk}-{index}"
        tests = tuple(
            f"{directory}/test_{rng.randrange(16**6):06x}.js"
            for _ in range(model.tests_per_manifest)
        )
        manifests.append(Manifest(group=f"{directory}/{suite}.toml", tests=tests))
    return tuple(manifests)


def flaky_tests_of(model: JobTestModel, label: str) -> tuple[str, ...]:
    tests = [test for manifest in manifests_for(model, label) for test in manifest.tests]
    return tuple(tests[1 :: max(1, len(tests) // max(1, model.flaky_tests))][: model.flaky_tests])


def run_tests(
    model: JobTestModel,
    label: str,
    push_index: int | None,
    rng: random.Random,
    *,
    only: Sequence[str] = (),
    dump_all: bool = False,
    repeat: int = 0,
    first_of_push: bool = True,
) -> JobTestRun:
    """One run of the job. `only`: the paths a `-cf` or testPath-pinned run is limited to
    (a test path, or a manifest's directory); `dump_all`: passing tests written too;
    `repeat`: each test runs that many more times (the harness's `--repeat`);
    `first_of_push`: the first run of the push's own task (planted `once` failures)."""
    suite = suite_of(label.removesuffix("-cf"))
    run = JobTestRun(suite=suite)
    manifests = [
        Manifest(m.group, tuple(t for t in m.tests if _selected(t, m.group, only)))
        for m in manifests_for(model, label)
    ]
    manifests = [m for m in manifests if m.tests]
    run.lines.append({"action": "test_groups", "groups": [m.group for m in manifests]})
    flaky = set(flaky_tests_of(model, label))
    per_test = 1.0 - math.pow(1.0 - model.background_of(label), 1.0 / max(1, len(flaky)))
    planted = {
        r.test: r
        for r in model.regressions
        if r.label == label.removesuffix("-cf")
        and push_index is not None
        and push_index >= r.from_push
        and (first_of_push or not r.once)
    }
    known_test = None
    if model.known_intermittent_rate and rng.random() < model.known_intermittent_rate:
        candidates = [t for m in manifests for t in m.tests if t not in flaky and t not in planted]
        known_test = rng.choice(candidates) if candidates else None
    for manifest in manifests:
        group_failed = False
        for _ in range(1 + repeat):
            for test in manifest.tests:
                failed = _run_one(run, test, manifest.group, planted, flaky, per_test, rng)
                if failed:
                    group_failed = True
                elif test == known_test:
                    line = _result(test, manifest.group, "FAIL", "PASS", "known intermittent")
                    line["known_intermittent"] = ["FAIL"]
                    run.lines.append(line)
                elif dump_all:
                    run.lines.append(_result(test, manifest.group, "OK", "OK", None))
        status = "ERROR" if group_failed else "OK"
        run.lines.append({"action": "group_result", "group": manifest.group, "status": status})
    run.orange = bool(run.failing_tests)
    for number, line in enumerate(run.lines):
        line["line"] = number
    return run


def _run_one(
    run: JobTestRun,
    test: str,
    group: str,
    planted: dict[str, PlantedTestRegression],
    flaky: set[str],
    per_test: float,
    rng: random.Random,
) -> bool:
    """One run of one test: a planted regression or a flaky test may fail it."""
    regression = planted.get(test)
    if regression is not None and rng.random() < regression.rate:
        if test not in run.failing_tests:
            run.failing_tests.append(test)
        if regression.crash_signature:
            run.lines.append(_crash(test, group, regression.crash_signature))
            run.lines.append(_result(test, group, "CRASH", "OK", "crashed"))
        else:
            run.lines.append(_result(test, group, "FAIL", "PASS", "regressed"))
        return True
    if test in flaky and rng.random() < per_test:
        if test not in run.failing_tests:
            run.failing_tests.append(test)
        run.lines.append(_result(test, group, "FAIL", "PASS", "intermittent"))
        return True
    return False


def _selected(test: str, group: str, only: Sequence[str]) -> bool:
    if not only:
        return True
    directory = group.rpartition("/")[0]
    return any(test == path or path in (group, directory) for path in only)


def _result(
    test: str, group: str, status: str, expected: str, message: str | None
) -> dict[str, object]:
    return {
        "action": "test_result",
        "test": test,
        "subtest": None,
        "group": group,
        "status": status,
        "expected": expected,
        "message": message,
        "stack": None,
        "modifiers": "",
        "known_intermittent": [],
    }


def _crash(test: str, group: str, signature: str) -> dict[str, object]:
    return {
        "action": "crash",
        "test": test,
        "group": group,
        "signature": signature,
        "stackwalk_stdout": None,
        "stackwalk_stderr": None,
    }
