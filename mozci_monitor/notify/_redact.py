"""Keep secrets carried in URLs (webhook tokens in paths, passwords) out of logs and errors."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: enough to tell which service, nothing that grants access.

    Slack and Matrix hookshot webhooks carry their token in the path, others in the query,
    broker URLs in the user-info part: all three are dropped.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    netloc = f"{host}:{port}" if port else host
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{netloc}{hidden}"


def scrub(text: str, url: str) -> str:
    """``text`` with every occurrence of ``url`` (or of its secret parts) replaced by its
    redacted form: library exceptions like to quote the URL they failed on."""
    redacted = redact_url(url)
    out = text.replace(url, redacted)
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    for secret in (parts.path, parts.query, parts.password or "", parts.username or ""):
        if len(secret) > 1:
            out = out.replace(secret, "…")
    return out
