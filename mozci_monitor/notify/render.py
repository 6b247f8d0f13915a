"""One wording for every channel, so a notification reads the same in a log, a room or a mail."""

from __future__ import annotations

import html
import re

from mozci_monitor.notify.model import Cell, Link, Notification, Table

# Characters Markdown would read as markup in a label or a reason.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def _one_line(value: str) -> str:
    # Titles and subjects must stay on one line: a stray newline breaks mail headers and chat
    # previews.
    return " ".join(value.split())


def _summary_line(notification: Notification) -> str:
    return f"Campaign {notification.campaign_id} ({notification.kind}): {notification.outcome}"


def render_title(notification: Notification) -> str:
    """The one-line headline (mail subject, first line of chat messages)."""
    return _one_line(notification.title)


def render_subject(notification: Notification) -> str:
    """A mail subject: kind and outcome first (what inbox filters sort on), then the answer."""
    title = render_title(notification) or notification.key
    return _one_line(f"mozci-monitor {notification.kind} {notification.outcome}: {title}")


def render_text(notification: Notification) -> str:
    """Plain text: headline, a line with campaign, kind and outcome, then the body."""
    lines = [render_title(notification), _summary_line(notification)]
    body = notification.text.strip("\n")
    if body:
        lines.append("")
        lines.append(body)
    return "\n".join(lines)


def render_markdown(notification: Notification) -> str:
    """Markdown (webhooks, mail): the answer in bold, the table and the links as Markdown.

    A notification without a table keeps its body's lines, with hard line breaks:
    Markdown joins consecutive lines into one paragraph; two trailing spaces keep the
    body's line structure (one item per line) as written.
    """
    body = notification.text.strip("\n")
    parts = [
        f"**{_markdown_escape(render_title(notification))}**",
        "",
        _markdown_escape(_summary_line(notification)),
    ]
    if notification.table is not None or notification.links:
        if notification.table is not None:
            parts.append("")
            parts.extend(_markdown_table(notification.table))
        if notification.links:
            parts.append("")
            parts.extend(f"- {_markdown_cell(link)}" for link in notification.links)
        return "\n".join(parts)
    if body:
        parts.append("")
        parts.extend(f"{line}  " if line.strip() else "" for line in body.splitlines())
    return "\n".join(parts)


def render_html(notification: Notification) -> str:
    """Minimal HTML (Matrix ``formattedBody``, hookshot ``html``): every text escaped."""
    title = html.escape(render_title(notification))
    summary = html.escape(_summary_line(notification))
    out = f"<p><strong>{title}</strong><br>{summary}</p>"
    if notification.table is not None or notification.links:
        if notification.table is not None:
            out += _html_table(notification.table)
        if notification.links:
            items = "".join(f"<li>{_html_cell(link)}</li>" for link in notification.links)
            out += f"<ul>{items}</ul>"
        return out
    body = notification.text.strip("\n")
    if body:
        escaped = "<br>".join(html.escape(line) for line in body.splitlines())
        out += f"<p>{escaped}</p>"
    return out


def _markdown_escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


def _markdown_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        # Parentheses and spaces in a URL would end the link early.
        url = cell.url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        return f"[{_markdown_escape(cell.text)}]({url})"
    return _markdown_escape(cell)


def _markdown_table(table: Table) -> list[str]:
    lines = [
        "| " + " | ".join(_markdown_escape(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines.extend("| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.rows)
    return lines


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.url)}">{html.escape(cell.text)}</a>'
    return html.escape(cell)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return f"<table><tr>{head}</tr>{rows}</table>"
