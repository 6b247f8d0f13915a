"""The one place that decides what a secret looks like, so logs and error messages never show one.

Standard library only: every edge (pulse, sources, store, notify, api) and the logging set-up
import it. One semantics everywhere, applied to any text:

- known secret values (the configured Pulse password, API token, …) are replaced wherever they
  appear;
- URL user-info keeps the user name and loses the password (``amqps://alice:***@host/``);
- query parameters whose name says secret (``token``, ``bewit``, ``X-Amz-Signature``, …) keep
  their name and lose their value;
- credentials after ``Bearer`` or ``Hawk``, and the values of ``Authorization``/``Cookie``
  headers are masked, also as Python quotes them in a ``repr`` or in a parser's error
  (``b'Authorization: Bearer …'``);
- ``password=…`` in a libpq connection string (a DSN) is masked;
- in mappings, values under a key that names a secret are masked whatever they are.

Masking is done on the text itself (never a parse-and-rebuild), so everything else stays byte for
byte as it was and a malformed URL is still masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

REDACTED = "***"

# The password part of user-info: `scheme://user:password@`. The password may hold an
# unencoded '@'; the last '@' before the path ends it, so `[^/?#\s]*` is greedy.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s'\"<>]*:)(?P<secret>[^/?#\s'\"<>]*)(?=@)", re.I
)

# Query parameter names that carry a credential: Taskcluster signs with `bewit`, artifact
# redirects land on S3/GCS signed URLs, webhooks and OAuth use the rest.
_SECRET_QUERY_NAME = (
    r"(?:[\w.-]*(?:token|secret|password|passwd|signature|credential|apikey|api[_-]key)"
    r"|bewit|key|sig|pwd|auth|code|googleaccessid)"
)
_QUERY_SECRET = re.compile(rf"(?P<head>[?&;]{_SECRET_QUERY_NAME}=)(?P<secret>[^&;#\s'\"<>]+)", re.I)

# `Bearer <token>` anywhere, also inside a repr (b'...\x01'). Only schemes whose name is no
# common English word: `Basic`, `Token` and friends are caught by the header rule below.
_AUTH_SCHEME = re.compile(r"(?P<head>\b(?:bearer|hawk)\s+)(?P<secret>[^\s'\",;]+)", re.I)
_SECRET_HEADER = re.compile(
    r"(?P<head>\b(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key"
    r"|x-auth-token)['\"]?\s*[:=]\s*['\"]?)(?P<secret>[^\r\n'\"]+)",
    re.I,
)
# libpq key=value connection strings: `password=secret` or `password='se cret'`.
_DSN_PASSWORD = re.compile(
    r"(?P<head>(?<![\w?&;.-])password\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.I
)

# Mapping keys whose value is a secret whatever it looks like (`token_file` is a path: kept).
_SECRET_KEY = re.compile(
    r"^(?:[\w-]*[_-])?(?:password|passwd|secret|token|access[_-]?token|apikey|api[_-]key"
    r"|authorization|proxy-authorization|cookie|set-cookie|bewit|credentials?)$",
    re.I,
)

_PATTERNS = (_URL_PASSWORD, _QUERY_SECRET, _SECRET_HEADER, _AUTH_SCHEME, _DSN_PASSWORD)
_MAX_DEPTH = 8  # deeper than any log field or message we build: stringify rather than recurse


def _mask(match: re.Match[str]) -> str:
    secret = match["secret"]
    if secret == REDACTED or secret.startswith(REDACTED):
        return match[0]
    # Keep a header value's scheme word (`Authorization: Bearer ***`): it says what was sent.
    scheme, space, rest = secret.partition(" ")
    if space and rest and scheme.isalpha() and len(scheme) <= 16:
        return f"{match['head']}{scheme} {REDACTED}"
    return f"{match['head']}{REDACTED}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known ``secrets`` and every secret-looking part masked by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def redact_url(url: str) -> str:
    """The URL, safe to log: its password and secret query values masked, the rest kept."""
    return redact_text(url)


def url_origin(url: str) -> str:
    """``scheme://host[:port]``, with ``/…`` when more followed: for capability URLs.

    Slack and Matrix webhooks carry their token in the path, which no pattern can tell from a
    harmless path; such URLs are shown by their origin only.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{netloc}{hidden}"


def redact_capability_url(text: str, url: str) -> str:
    """``text`` with ``url`` shown by its origin and each of its parts that grant access (path,
    query, user name, password) masked wherever they appear: libraries like to quote the URL
    they failed on, whole or in pieces."""
    out = redact_text(text.replace(url, url_origin(url)))
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    pieces = (parts.path, parts.query, parts.password or "", parts.username or "")
    return redact_text(out, [piece for piece in pieces if len(piece) > 1])


def is_secret_key(key: str) -> bool:
    """Whether a mapping key (a header, a log field, a setting) names a secret."""
    return bool(_SECRET_KEY.match(key))


def redact_value(value: Any, secrets: Iterable[str] = (), *, _depth: int = 0) -> Any:
    """``value`` with every string in it redacted; mappings lose the values of secret keys.

    Exceptions become their redacted ``repr``; containers become lists or dicts; other
    scalars (numbers, booleans, None) are returned unchanged.
    """
    secrets = secrets if isinstance(secrets, tuple | list) else tuple(secrets)
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, bytes | bytearray):
        return redact_text(repr(bytes(value)), secrets)
    if isinstance(value, BaseException) or _depth > _MAX_DEPTH:
        return redact_text(repr(value), secrets)
    if isinstance(value, Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and is_secret_key(key) and value[key] not in (None, "")
                else redact_value(value[key], secrets, _depth=_depth + 1)
            )
            for key in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, secrets, _depth=_depth + 1) for item in value]
    return value


def redact_mapping(mapping: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of ``mapping`` safe to log (see :func:`redact_value`)."""
    redacted: dict[str, Any] = redact_value(mapping, secrets)
    return redacted
