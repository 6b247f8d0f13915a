"""LogSink: one structured event per notification."""

from __future__ import annotations

from dataclasses import replace

from structlog.testing import capture_logs

from mozci_monitor.notify import LogSink, Notification, Sink, render_text


async def test_logs_one_event_with_the_notification(notification: Notification) -> None:
    sink = LogSink()
    with capture_logs() as logs:
        await sink.send(notification)
    assert len(logs) == 1
    event = logs[0]
    assert event["event"] == "notification"
    assert event["log_level"] == "warning"  # gave-up needs a human
    assert event["key"] == notification.key
    assert event["campaign_id"] == "c-42.7"
    assert event["kind"] == "until-fail"
    assert event["outcome"] == "gave-up"
    assert event["text"] == render_text(notification)
    assert event["details"]["runs"] == 20


async def test_satisfied_is_info(notification: Notification) -> None:
    with capture_logs() as logs:
        await LogSink().send(replace(notification, outcome="satisfied"))
    assert logs[0]["log_level"] == "info"


def test_is_a_sink() -> None:
    sink = LogSink(name="audit")
    assert isinstance(sink, Sink)
    assert sink.name == "audit"
