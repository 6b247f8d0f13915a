"""Tests inside simulated test jobs: errorsummary.log artifacts in mozlog's format and
Treeherder failure lines, read back through the project's own clients and parser; a
planted test regression, unrelated intermittents, known intermittents and crashes."""

from __future__ import annotations

import random
from collections import Counter

import aiohttp

from mozci_monitor.core.errorsummary import parse_errorsummary
from mozci_monitor.core.signature import FailureSignature, SignatureKind, SignatureVerdict, judge
from mozci_monitor.patterns import re2_search
from mozci_monitor.sim import Simulator
from mozci_monitor.sim.testrun import (
    JobTestModel,
    PlantedTestRegression,
    flaky_tests_of,
    manifests_for,
    run_tests,
    suite_of,
)
from mozci_monitor.sources import SourceSettings, create_clients
from mozci_monitor.sources.task_results import errorsummary_of_task, failure_lines_of_job

from .conftest import SimFactory

LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-1"
OTHER = "test-linux1804-64/opt-mochitest-browser-chrome-2"


def model(**overrides: object) -> JobTestModel:
    values: dict[str, object] = {"background_orange": 0.0, "known_intermittent_rate": 0.0}
    values.update(overrides)
    return JobTestModel(**values)  # type: ignore[arg-type]


def planted_test(label: str = LABEL) -> str:
    return manifests_for(model(), label)[1].tests[3]


def test_suite_of_a_label() -> None:
    assert suite_of(LABEL) == "mochitest-browser-chrome"
    assert suite_of("test-windows11-64/debug-xpcshell") == "xpcshell"


def test_covered_labels_include_their_confirm_failures_variant() -> None:
    chosen = model(labels=(LABEL,))
    assert chosen.covers(LABEL) and chosen.covers(LABEL + "-cf")
    assert not chosen.covers(OTHER) and not chosen.covers("build-linux64/opt")
    assert model().covers(OTHER) and not model().covers("build-linux64/opt")


def test_a_label_runs_the_same_manifests_on_every_push_and_chunks_differ() -> None:
    assert manifests_for(model(), LABEL) == manifests_for(model(), LABEL)
    assert manifests_for(model(), LABEL + "-cf") == manifests_for(model(), LABEL)
    tests = {t for m in manifests_for(model(), LABEL) for t in m.tests}
    other = {t for m in manifests_for(model(), OTHER) for t in m.tests}
    assert len(tests) == 24 and not tests & other


def test_background_intermittents_turn_about_the_asked_share_of_jobs_orange() -> None:
    rng = random.Random(3)
    chosen = model(background_orange=0.3, flaky_tests=4)
    runs = [run_tests(chosen, LABEL, 0, rng) for _ in range(2000)]
    orange = sum(run.orange for run in runs) / len(runs)
    assert 0.26 < orange < 0.34
    failing = Counter(test for run in runs for test in run.failing_tests)
    assert set(failing) == set(flaky_tests_of(chosen, LABEL))
    # several unrelated reasons at once happen too
    assert any(len(run.failing_tests) > 1 for run in runs)


def test_a_run_reads_back_as_mozlog_would_have_written_it() -> None:
    rng = random.Random(5)
    regression = PlantedTestRegression(LABEL, planted_test(), from_push=2)
    chosen = model(known_intermittent_rate=1.0, regressions=(regression,))
    before = parse_errorsummary(run_tests(chosen, LABEL, 1, rng).errorsummary())
    after = parse_errorsummary(run_tests(chosen, LABEL, 2, rng).errorsummary())
    assert before.bad_lines == after.bad_lines == 0
    assert before.failing_tests == frozenset()
    assert after.failing_tests == {planted_test()}
    assert len(before.known_intermittent) == len(after.known_intermittent) == 1
    assert before.complete and after.complete
    signature = FailureSignature(SignatureKind.TEST, planted_test())
    assert judge(signature, before, match=re2_search) is SignatureVerdict.PASSED
    assert judge(signature, after, match=re2_search) is SignatureVerdict.HIT


def test_pinned_runs_run_only_their_paths_and_dump_passes() -> None:
    rng = random.Random(1)
    test = planted_test()
    group = next(m.group for m in manifests_for(model(), LABEL) if test in m.tests)
    pinned = parse_errorsummary(
        run_tests(model(), LABEL + "-cf", 0, rng, only=[test], dump_all=True).errorsummary()
    )
    assert pinned.groups == {group}
    assert pinned.passed == {test}
    directory = group.rpartition("/")[0]
    manifest = parse_errorsummary(
        run_tests(model(), LABEL, 0, rng, only=[directory]).errorsummary()
    )
    assert manifest.groups == {group}


def test_a_planted_crash_has_its_signature() -> None:
    regression = PlantedTestRegression(
        LABEL, planted_test(), from_push=0, crash_signature="Foo::Bar()"
    )
    run = run_tests(model(regressions=(regression,)), LABEL, 0, random.Random(1))
    summary = parse_errorsummary(run.errorsummary())
    assert [crash.signature for crash in summary.crashes] == ["Foo::Bar()"]
    assert run.failure_lines() == [
        f"PROCESS-CRASH | application crashed [@ Foo::Bar()] | {planted_test()}",
        f"TEST-UNEXPECTED-CRASH | {planted_test()} | crashed",
    ]


async def test_the_simulator_publishes_errorsummary_and_failure_lines(
    make_sim: SimFactory,
) -> None:
    regression = PlantedTestRegression(LABEL, planted_test(), from_push=4)
    sim: Simulator = await make_sim(
        tests=model(labels=(LABEL,), regressions=(regression,)),
        scheduled_fraction=1.0,
    )
    await sim.run_until_idle()
    before, after = sim.pushes[3], sim.pushes[4]
    (good,) = sim.tasks_of(before, LABEL)
    (bad,) = sim.tasks_of(after, LABEL)
    assert (good.state, bad.state) == ("completed", "failed")
    settings = SourceSettings(
        taskcluster_root_url=sim.root_url, treeherder_url=sim.treeherder_url, hg_url=sim.hg_url
    )
    async with aiohttp.ClientSession() as session:
        sources = create_clients(session, settings)
        good_results = await errorsummary_of_task(sources.taskcluster, good.task_id)
        bad_results = await errorsummary_of_task(sources.taskcluster, bad.task_id)
        lines = await failure_lines_of_job(sources.treeherder, "autoland", bad.job_ids[0])
        # a label the model does not cover publishes no errorsummary
        (uncovered,) = sim.tasks_of(after, OTHER)
        assert await errorsummary_of_task(sources.taskcluster, uncovered.task_id) is None
    assert good_results is not None and bad_results is not None
    assert bad_results.artifacts == ("public/test_info/mochitest-browser-chrome_errorsummary.log",)
    signature = FailureSignature(SignatureKind.TEST, planted_test())
    assert judge(signature, good_results.summary, match=re2_search) is SignatureVerdict.PASSED
    assert judge(signature, bad_results.summary, match=re2_search) is SignatureVerdict.HIT
    assert lines.summary.failing_tests == {planted_test()}
