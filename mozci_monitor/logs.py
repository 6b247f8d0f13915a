"""structlog set-up: JSON lines under systemd or a pipe, readable console output on a TTY.

A redaction processor runs last-but-one, so no renderer ever sees a secret: known secret
values are replaced wherever they appear, and passwords in URLs are masked.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@", re.I)
REDACTED = "***"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [secret for secret in secrets if secret]

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            event_dict[key] = self._clean(value, depth=0)
        return event_dict

    def _clean(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return redact_text(value, self.secrets)
        if isinstance(value, BaseException):
            return redact_text(repr(value), self.secrets)
        if depth > 8:  # deeper than any log field we write: stringify rather than recurse
            return redact_text(repr(value), self.secrets)
        if isinstance(value, Mapping):
            return {k: self._clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v, depth + 1) for v in value]
        return value


def configure_logging(
    *, format: str = "auto", level: str = "info", secrets: Iterable[str] = ()
) -> None:
    as_json = format == "json" or (format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
