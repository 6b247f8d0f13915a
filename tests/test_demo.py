"""`mozci-monitor demo --json` as a user runs it, over memory:// and over a real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from broker import RabbitMQ, unique_queue_name

from mozci_monitor.cli import main
from mozci_monitor.pulse import PulseConsumer

# What the demo's watch and downstream scenarios must have done, one entry per campaign:
# (kind, actions). Campaigns of other kinds (backfill, bisect, ...) are checked generically.
EXPECTED = sorted(
    [
        ("watch", ("retrigger",)),  # 3 runs wanted, 1 scheduled
        ("watch", ("rerun",)),  # infrastructure exception
        ("watch", ("add-new-jobs",)),  # coalesced
        ("watch", ("add-new-jobs",)),  # never scheduled
        ("downstream", ("add-new-jobs",)),  # tests optimised away from a build
    ]
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The CLI configures structlog for the whole process, bound to this test's captured
    # streams: later tests must not log into them once they are closed.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _check_summary(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out)
    assert set(document) == {"campaigns", "messages_consumed"}
    assert isinstance(document["messages_consumed"], int)
    assert document["messages_consumed"] > 0
    campaigns = document["campaigns"]
    for campaign in campaigns:
        assert campaign["state"] == "finished", campaign
        assert campaign["notifications"] == 1, campaign
        assert all(action["state"] == "done" for action in campaign["actions"]), campaign
    remedies = [c for c in campaigns if c["kind"] in ("watch", "downstream")]
    for campaign in remedies:
        assert campaign["requests"], campaign
        for request in campaign["requests"]:
            assert (request["state"], request["failure"]) == ("completed", None), request
    done = sorted((c["kind"], tuple(a["kind"] for a in c["actions"])) for c in remedies)
    assert done == EXPECTED
    downstream = next(c for c in campaigns if c["kind"] == "downstream")
    assert len(downstream["requests"]) > 1  # the build and the tests it brought back
    return document


def test_demo_over_the_in_process_broker(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    _check_summary(out)


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
