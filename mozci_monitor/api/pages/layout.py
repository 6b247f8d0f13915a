"""The frame every server-rendered page shares: style, header, content security policy."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from mozci_monitor.api.status_page import COLOURS

_STYLE = """
:root { font-family: system-ui, sans-serif; font-size: 14px; color: #1d1d1d; }
body { margin: 0; background: #f4f5f7; }
header { background: #20232a; color: #fff; padding: 10px 18px; display: flex; gap: 18px;
  align-items: center; }
header a { color: #fff; }
header h1 { font-size: 17px; margin: 0; }
main { padding: 12px 18px; }
section { background: #fff; border-radius: 6px; margin: 0 0 12px; padding: 10px 14px;
  box-shadow: 0 1px 2px rgba(0,0,0,.12); }
section.campaign { border-left: 8px solid var(--c, #999); }
h2 { font-size: 15px; margin: 0 0 6px; display: flex; gap: 10px; align-items: center; }
h3 { font-size: 14px; margin: 4px 0 6px; }
.meta { color: #444; font-size: 13px; margin: 2px 0; }
.answer { font-size: 15px; font-weight: 600; margin: 6px 0; }
.badge { display: inline-block; color: #fff; background: var(--c, #999); border-radius: 4px;
  padding: 1px 8px; font-size: 12px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 12px; color: #555; padding: 3px 6px; }
td { padding: 3px 6px; vertical-align: top; border-top: 1px solid #eee; }
td.mono, .mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
a.campaign-link, a.push { white-space: nowrap; word-break: normal; }
tr.highlight td { background: #fff3e0; }
.chip { display: inline-block; color: #fff; background: var(--c, #999); border-radius: 3px;
  padding: 0 5px; font-size: 11px; line-height: 18px; }
.chip.c-neutral { background: #e3e5e8; color: #333; }
ol.timeline { list-style: none; margin: 0; padding: 0; }
ol.timeline li { margin: 1px 0; font-size: 12px; }
ol.timeline time { color: #555; font-family: ui-monospace, monospace; margin-right: 6px; }
.note { color: #555; }
form.filters { display: flex; gap: 12px; align-items: end; flex-wrap: wrap; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #444; }
.empty { color: #666; padding: 20px; text-align: center; }
.rate-chart { display: block; margin: 6px 0 10px; }
"""

STYLE = _STYLE + "\n".join(f".c-{name} {{ --c: {value}; }}" for name, value in COLOURS.items())


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# No script at all; only this exact style; forms submit (GET) to this server only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; "
    f"style-src {_csp_hash(STYLE)}; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def page(title: str, body: str, *, refresh_seconds: int | None = None) -> str:
    """A complete document; `title` is text (escaped here), `body` is already HTML."""
    refresh = (
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{refresh}<title>{escape(title)} · mozci-monitor</title>"
        f"<style>{STYLE}</style></head><body>"
        '<header><h1><a href="/">mozci-monitor</a></h1>'
        '<a href="/campaigns">campaigns</a>'
        '<a href="/campaigns?state=open">open</a></header>'
        f"<main>{body}</main></body></html>\n"
    )


def link(url: str, text: str, *, cls: str = "") -> str:
    """An anchor to `url` showing `text`; both escaped."""
    klass = f' class="{escape(cls)}"' if cls else ""
    return f'<a href="{escape(url)}"{klass}>{escape(text)}</a>'


def badge(text: str, colour: str) -> str:
    return f'<span class="badge c-{escape(colour)}">{escape(text)}</span>'


def campaign_colour(state: str) -> str:
    return {
        "finished": "green",
        "running": "blue",
        "failed": "red",
        "gave-up": "red",
        "canceled": "pink",
    }.get(state, "grey")


def short_time(at: str) -> str:
    """`2026-11-22T10:05:00.123Z` → `2026-11-22 10:05:00`: seconds are enough to read."""
    return at.replace("T", " ")[:19]
