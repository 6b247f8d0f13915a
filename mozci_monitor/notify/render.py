"""One wording for every channel, so a notification reads the same in a log, a room or a mail."""

from __future__ import annotations

import html

from mozci_monitor.notify.model import Notification


def _one_line(value: str) -> str:
    # Titles and subjects must stay on one line: a stray newline breaks mail headers and chat
    # previews.
    return " ".join(value.split())


def _summary_line(notification: Notification) -> str:
    return f"Campaign {notification.campaign_id} ({notification.kind}): {notification.outcome}"


def render_title(notification: Notification) -> str:
    """The one-line headline (mail subject, first line of chat messages)."""
    return _one_line(notification.title)


def render_text(notification: Notification) -> str:
    """Plain text: headline, a line with campaign, kind and outcome, then the body."""
    lines = [render_title(notification), _summary_line(notification)]
    body = notification.text.strip("\n")
    if body:
        lines.append("")
        lines.append(body)
    return "\n".join(lines)


def render_markdown(notification: Notification) -> str:
    """Markdown for mail: the same lines as :func:`render_text`, with hard line breaks.

    Markdown joins consecutive lines into one paragraph; two trailing spaces keep the
    body's line structure (one item per line) as written.
    """
    body = notification.text.strip("\n")
    parts = [f"**{render_title(notification)}**", "", _summary_line(notification)]
    if body:
        parts.append("")
        parts.extend(f"{line}  " if line.strip() else "" for line in body.splitlines())
    return "\n".join(parts)


def render_html(notification: Notification) -> str:
    """Minimal HTML (Matrix ``formattedBody``, hookshot ``html``): escaped, no links rewritten."""
    title = html.escape(render_title(notification))
    summary = html.escape(_summary_line(notification))
    out = f"<p><strong>{title}</strong><br>{summary}</p>"
    body = notification.text.strip("\n")
    if body:
        escaped = "<br>".join(html.escape(line) for line in body.splitlines())
        out += f"<p>{escaped}</p>"
    return out
