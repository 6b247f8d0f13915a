"""The shared wording of notifications."""

from __future__ import annotations

import json
from dataclasses import replace

from mozci_monitor.notify import (
    Notification,
    render_html,
    render_markdown,
    render_text,
    render_title,
)


def test_text_has_title_summary_and_body(notification: Notification) -> None:
    lines = render_text(notification).splitlines()
    assert lines[0] == notification.title
    assert lines[1] == "Campaign c-42.7 (until-fail): gave-up"
    assert lines[2] == ""
    assert lines[3:] == notification.text.splitlines()


def test_text_without_body_is_two_lines(notification: Notification) -> None:
    assert render_text(replace(notification, text="")).count("\n") == 1


def test_title_is_forced_onto_one_line(notification: Notification) -> None:
    multi = replace(notification, title="line one\nline\ttwo  ")
    assert render_title(multi) == "line one line two"
    assert render_text(multi).splitlines()[0] == "line one line two"


def test_html_escapes_everything(notification: Notification) -> None:
    hostile = replace(notification, title="<script>x</script>", text="a & b\n<b>c</b>")
    out = render_html(hostile)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    assert "a &amp; b<br>&lt;b&gt;c&lt;/b&gt;" in out
    assert out.startswith("<p><strong>")


def test_markdown_keeps_line_breaks(notification: Notification) -> None:
    out = render_markdown(notification)
    assert out.startswith(f"**{notification.title}**")
    for line in notification.text.splitlines():
        assert f"{line}  " in out.splitlines()


def test_as_json_is_json_serialisable(notification: Notification) -> None:
    data = json.loads(json.dumps(notification.as_json()))
    assert data["campaignId"] == "c-42.7"
    assert data["details"]["runs"] == 20
    assert data["key"] == notification.key


def test_default_details_are_empty() -> None:
    bare = Notification(
        key="k", campaign_id="c", kind="watch", outcome="satisfied", title="t", text=""
    )
    assert bare.as_json()["details"] == {}
