"""`mozci-monitor demo --json` as a user runs it, over memory:// and over a real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import structlog
from broker import RabbitMQ, unique_queue_name

from mozci_monitor.cli import main
from mozci_monitor.demo import (
    BACKFILL_GAP,
    CONFIRM_LABELS,
    PLANTED_TEST,
    REGRESSION_PUSH,
    Timeline,
    confirm_planted,
)
from mozci_monitor.observe import (
    ActionAbandoned,
    ActionDone,
    ActionRetrying,
    CampaignFinished,
    Event,
    NotificationSent,
    RequestChanged,
)
from mozci_monitor.pulse import PulseConsumer
from mozci_monitor.sim import SimConfig

FIRST_PUSH_ID = SimConfig().first_push_id

# What the demo's watch and downstream scenarios must have done, one entry per campaign:
# (kind, actions). Campaigns of other kinds (backfill, bisect, ...) are checked generically.
GIVES_UP = ("retrigger", "add-new-jobs")  # its action tasks fail: retried once, given up
EXPECTED = sorted(
    [
        ("watch", ("retrigger",)),  # 3 runs wanted, 1 scheduled
        ("watch", ("rerun",)),  # infrastructure exception
        ("watch", ("add-new-jobs",)),  # coalesced
        ("watch", ("add-new-jobs",)),  # never scheduled
        ("watch", ("retrigger",)),  # a build wanted 3 times (its route: add-new-jobs)
        ("watch", GIVES_UP),
        ("downstream", ("add-new-jobs",)),  # tests optimised away from a build
    ]
)


def _check_summary(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out)
    assert set(document) == {"campaigns", "messages_consumed"}
    assert isinstance(document["messages_consumed"], int)
    assert document["messages_consumed"] > 0
    campaigns = document["campaigns"]
    # one scenario's action tasks fail: noticed, retried once, then given up, saying why
    (failing,) = [c for c in campaigns if c["state"] != "finished"]
    assert failing["state"] == "gave-up", failing
    assert "produced nothing: action task" in failing["outcome"], failing
    ((request,),) = [failing["requests"]]
    assert (request["state"], request["failure"]) == ("failed", "action-failed")
    for campaign in campaigns:
        assert campaign is failing or campaign["state"] == "finished", campaign
        assert campaign["notifications"] == 1, campaign
        # Every action performed, but an until-fail's next batch may be withdrawn if the
        # signature was hit before the actuator got to it (core.withdrawal).
        withdrawable = ("retrigger",) if campaign["kind"] == "until-fail" else ()
        assert all(
            action["state"] == "done"
            or (action["state"] == "withdrawn" and action["kind"] in withdrawable)
            for action in campaign["actions"]
        ), campaign
    remedies = [c for c in campaigns if c["kind"] in ("watch", "downstream")]
    for campaign in remedies:
        assert campaign["requests"], campaign
        for request in campaign["requests"]:
            if campaign is not failing:
                assert (request["state"], request["failure"]) == ("completed", None), request
    done = sorted((c["kind"], tuple(a["kind"] for a in c["actions"])) for c in remedies)
    assert done == EXPECTED
    downstream = next(c for c in campaigns if c["kind"] == "downstream")
    assert len(downstream["requests"]) > 1  # the build and the tests it brought back
    # until-fail judged by the planted test: its answer names the test and counts the runs
    (by_test,) = [
        c for c in campaigns if c["kind"] == "until-fail" and "signature" in (c["answer"] or {})
    ]
    answer = by_test["answer"]
    assert answer["signature"] == f"test:{PLANTED_TEST}"
    assert answer["runs"] == answer["passes"] + answer["missing"] + (answer["hit"] is not None)
    reads = [a for a in by_test["actions"] if a["kind"] == "fetch-results"]
    assert len(reads) >= answer["runs"]
    # The backfill has pushes to fill (the label was optimised away around the regression),
    # and its answer is the planted one.
    backfill = next(c for c in campaigns if c["kind"] == "backfill")
    assert len(backfill["requests"]) >= len(BACKFILL_GAP), backfill
    # Gecko's backfill action (add-new-jobs per push as its fallback).
    assert backfill["actions"], backfill
    assert {a["kind"] for a in backfill["actions"]} <= {"backfill", "add-new-jobs"}, backfill
    assert backfill["answer"]["first_bad"]["push_id"] == FIRST_PUSH_ID + REGRESSION_PUSH
    # A confirm of each failing task: the answer per test is what was planted, through
    # gecko's confirm-failures (-cf tasks) and, for a suite without a -cf variant, retriggers.
    confirms = [c for c in campaigns if c["kind"] == "confirm"]
    assert sorted(c["answer"]["via"] for c in confirms) == ["confirm-failures", "retriggers"]
    for campaign in confirms:
        found = {test["test"]: test["answer"] for test in campaign["answer"]["tests"]}
        assert found == campaign["planted"], campaign
        assert sorted(campaign["planted"].values()) == ["intermittent", "regression"]
        acting = {a["kind"] for a in campaign["actions"] if a["kind"] != "fetch-results"}
        assert acting == {
            "confirm-failures" if campaign["answer"]["via"] == "confirm-failures" else "retrigger"
        }, campaign
    # One length of campaign id, whichever way a scenario's campaign was made.
    assert len({len(c["id"]) for c in campaigns}) == 1, [c["id"] for c in campaigns]
    return document


def test_the_text_summary_shows_each_push_s_verdict_and_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The daemon collects garbage before it freezes the heap: whatever an earlier test in
    # this process left unclosed would be reported on the demo's stderr. Collect it now,
    # so what this test reads is the demo's own output.
    gc.collect()
    capsys.readouterr()
    assert main(["demo"]) == 0
    out, err = capsys.readouterr()
    # Nothing but the timeline and the summary: the log sink's notifications (a Python
    # dict of details) stay out of the terminal, the timeline says "notify …".
    assert err == "", err
    assert "notify " in out
    summary = out[out.index("\nsummary (") :]
    bisect = summary[summary.index(" bisect ") :].split("\n  c-")[0]
    rates = re.findall(r"push (\d+) [0-9a-f]{12}  failed (\d+)/(\d+)  rate +(\d+)%", bisect)
    assert len(rates) >= 5, bisect
    for _, failures, runs, rate in rates:
        assert round(100 * int(failures) / int(runs)) == int(rate)
    backfill = summary[summary.index(" backfill ") :].split("\n  c-")[0]
    verdicts = re.findall(r"push (\d+) [0-9a-f]{12}  (passed|failed) ", backfill)
    filled = int(re.search(r"pushes filled: (\d+)", backfill).group(1))  # type: ignore[union-attr]
    assert filled >= len(BACKFILL_GAP)
    first_bad = next(int(push) for push, verdict in verdicts if verdict == "failed")
    assert first_bad == FIRST_PUSH_ID + REGRESSION_PUSH
    # each confirm: what was planted, then one line per test with its answer
    for label in CONFIRM_LABELS:
        section = summary[summary.index(f"confirm the failing tests of {label}") :]
        section = section.split("\n  c-")[0]
        regressed, once = confirm_planted(label)
        assert f"planted: {regressed} regressed; {once} failed once (intermittent)" in section
        assert re.search(rf"regression +{re.escape(regressed)}  failed in [1-9]\d* of", section)
        assert re.search(rf"intermittent +{re.escape(once)}  failed in 0 of [1-9]", section)


def test_demo_over_the_in_process_broker(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    campaigns = _check_summary(out)["campaigns"]
    # The README says what the demo runs: as many campaigns, of these kinds.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    said = re.search(r"starts the daemon against it and runs\s+(\w+) campaigns", readme)
    assert said is not None
    assert said.group(1) == _NUMBERS[len(campaigns)], (said.group(1), len(campaigns))
    kinds = Counter(c["kind"] for c in campaigns)
    assert kinds == {
        "watch": 6,
        "downstream": 1,
        "backfill": 1,
        "bisect": 1,
        "until-fail": 2,
        "fill": 1,
        "confirm": 2,
    }
    for count, kind in [("six", "watch"), ("two", "until-fail"), ("two", "confirm")]:
        assert f"{count} **{kind}** campaigns" in readme, kind


_NUMBERS = {9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen"}


@pytest.mark.rabbitmq
def test_demo_over_rabbitmq(rabbitmq: RabbitMQ, capsys: pytest.CaptureFixture[str]) -> None:
    queue = unique_queue_name("demo")
    try:
        code = main(["demo", "--json", "--broker", rabbitmq.url, "--queue", queue])
    finally:
        # The demo may not have got as far as declaring it.
        with contextlib.suppress(Exception):
            rabbitmq.delete_queue(queue)
    out = capsys.readouterr().out
    assert code == 0, out
    _check_summary(out)


# -- regressions: races the demo once lost on a slow broker or a loaded machine ------------


def test_demo_survives_a_broker_slow_to_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = PulseConsumer.start

    async def slow_start(self: PulseConsumer) -> None:
        await asyncio.sleep(0.5)  # a TLS handshake with a remote Pulse takes that long
        await original(self)

    monkeypatch.setattr(PulseConsumer, "start", slow_start)
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    _check_summary(out)


def test_demo_plants_its_scenarios_however_long_planning_takes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mozci_monitor.demo as demo

    original = demo.plan_sheriff_scenarios

    async def slow_planning(*args: Any, **kwargs: Any) -> Any:
        planned = await original(*args, **kwargs)
        await asyncio.sleep(1.5)
        return planned

    monkeypatch.setattr(demo, "plan_sheriff_scenarios", slow_planning)
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    _check_summary(out)


def test_demo_summary_counts_notifications_a_slow_sink_delivers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mozci_monitor.notify import LogSink, Notification

    original = LogSink.send

    async def slow_send(self: LogSink, notification: Notification) -> None:
        await asyncio.sleep(1.0)
        await original(self, notification)

    monkeypatch.setattr(LogSink, "send", slow_send)
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    _check_summary(out)


# -- the timeline: typed events from the daemon, not log lines ----------------------------------


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            RequestChanged("c-1-r1", "test-a", "failed", "orange", "2 of 3 runs failed"),
            "request c-1-r1                 failed/orange      test-a (2 of 3 runs failed)",
        ),
        (
            RequestChanged("c-1-r1", "test-a", "running", None, None),
            "request c-1-r1                 running            test-a",
        ),
        (
            ActionDone("k", "retrigger", "T1", ("test-a", "test-b"), "1 of 3 runs", "ok"),
            "action  retrigger              test-a, test-b — 1 of 3 runs",
        ),
        (
            ActionDone("k", "rerun", "T1", (), "exception", "ok"),
            "action  rerun                  T1 — exception",
        ),
        (
            ActionRetrying("k", "rerun", "taskcluster: boom", 2),
            "action  rerun                  action failed; will retry: taskcluster: boom",
        ),
        (
            ActionAbandoned("k", "rerun", "gone"),
            "action  rerun                  action abandoned: gone",
        ),
        (
            CampaignFinished("c-1", "watch", "finished", "completed"),
            "campaign c-1 (watch) finished: completed",
        ),
        (NotificationSent("log", "k", "c-1", "watch finished"), "notify  watch finished"),
    ],
)
def test_timeline_lines(event: Event, line: str) -> None:
    assert Timeline.line(event) == line


def test_timeline_prints_elapsed_time_and_notes() -> None:
    out = io.StringIO()
    ticks = iter([100.0, 101.5, 103.25])
    timeline = Timeline(out=out, clock=lambda: next(ticks))
    timeline(CampaignFinished("c-1", "watch", "finished", "done"))
    timeline.note("push arrives")
    assert out.getvalue().splitlines() == [
        "  1.50s  campaign c-1 (watch) finished: done",
        "  3.25s  demo    push arrives",
    ]


def test_demo_timeline_needs_no_log_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mozci_monitor.demo as demo

    def drop_every_log_event(*, verbose: bool) -> None:
        def drop(logger: Any, method: str, event: Any) -> Any:
            raise structlog.DropEvent

        structlog.configure(processors=[drop])

    monkeypatch.setattr(demo, "_configure_demo_logging", drop_every_log_event)
    code = main(["demo", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    campaigns = _check_summary(captured.out)["campaigns"]
    # --json sends the timeline to stderr: with no log at all, it still tells the whole story.
    lines = [line.split("s  ", 1)[1] for line in captured.err.splitlines()]
    finished = {
        f"campaign {c['id']} ({c['kind']}) finished: {c['outcome']}": c["kind"] for c in campaigns
    }
    told = [line for line in lines if line.startswith("campaign ") and " finished: " in line]
    assert set(told) <= set(finished)
    # The watch and downstream campaigns end on Pulse messages, after they started. (A
    # campaign finished as it starts, as a backfill over known history may be, gets no line:
    # the daemon reports finishes from its commits only.)
    # (The campaign whose action tasks fail gives up: its line says so, not "finished".)
    assert sorted(finished[line] for line in told if finished[line] in ("watch", "downstream")) == (
        sorted(kind for kind, actions in EXPECTED if actions != GIVES_UP)
    )
    assert sum(line.startswith("notify  ") for line in lines) == len(campaigns)
    assert any(line.startswith("action  retrigger ") for line in lines)
    assert any(line.startswith("request ") and "completed" in line for line in lines)
