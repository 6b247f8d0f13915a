"""Logging set-up: every line, ours or a library's, is JSON under systemd or a pipe (readable
console output on a TTY), and redacted.

structlog renders our own events; the standard library's loggers (aiohttp, kombu, amqp,
asyncio, psycopg, taskcluster, warnings, …) reach the same processors through structlog's
``ProcessorFormatter`` on the root handler, so a library's traceback becomes one JSON line
and never prints a secret; so do exceptions nobody caught, in the main thread or another.
Redaction runs last-but-one, so no renderer ever sees a secret.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import structlog

from mozci_monitor.redact import REDACTED, redact_text, redact_value

__all__ = [
    "REDACTED",
    "Redactor",
    "SavedLogging",
    "configure_logging",
    "redact_text",
    "save_logging",
]

# Libraries that are chatty at info and below; their warnings and errors are what we need.
_QUIET_LIBRARIES = ("aiohttp.access", "kombu", "amqp", "psycopg", "taskcluster", "urllib3")


class Redactor:
    """structlog processor: every field of the event redacted (see :mod:`mozci_monitor.redact`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [secret for secret in secrets if secret]

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if key.startswith("_"):  # structlog's private keys (`_record`): not rendered
                continue
            event_dict[key] = redact_value({key: value}, self.secrets)[key]
        return event_dict


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at each write, not the stream it was when logging was set up
    (tests and embedders swap it; a closed one must not swallow later lines)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.Handler):
    """The root handler this module installs (a second set-up replaces it).

    It writes to whatever ``sys.stderr`` is when a record comes, not when logging was set
    up: a library may log from a finaliser long after the stream it started with is gone.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_logging(
    *, format: str = "auto", level: str = "info", secrets: Iterable[str] = ()
) -> None:
    as_json = format == "json" or (format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    redactor = Redactor(secrets)
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # A write/flush object is all PrintLogger uses; its annotation asks for a TextIO.
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(renderer, redactor, numeric_level)


def _route_standard_logging(renderer: Any, redactor: Redactor, level: int) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # The traceback becomes the `exception` field of the same line, redacted below.
            structlog.processors.format_exc_info,
            structlog.processors.StackInfoRenderer(),
            redactor,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    # An exception nobody caught would otherwise print a raw, unredacted traceback.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


@dataclass(frozen=True)
class SavedLogging:
    """The process-wide state :func:`configure_logging` changes, as :func:`save_logging` found it.

    The daemon and the CLI set logging up once for the life of the process. Whoever calls
    them inside a longer-lived one (the test suite: every `main()` it runs would otherwise
    leave its level, stream and hooks to the tests after it) puts it back with `restore`.
    """

    structlog_config: dict[str, Any]
    structlog_configured: bool
    own_handlers: tuple[_StderrHandler, ...]
    root_level: int
    library_levels: tuple[tuple[str, int], ...]
    showwarning: Callable[..., None]
    excepthook: Callable[[type[BaseException], BaseException, TracebackType | None], Any]
    thread_excepthook: Callable[[threading.ExceptHookArgs], Any]

    def restore(self) -> None:
        if self.structlog_configured:
            structlog.configure(**self.structlog_config)
        else:
            structlog.reset_defaults()  # is_configured() false again, as it was
        root = logging.getLogger()
        # Only the handlers this module installs: others belong to whoever added them
        # (pytest adds and removes its own around each phase of a test).
        for later in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
            if later not in self.own_handlers:
                root.removeHandler(later)
        for saved in self.own_handlers:
            root.addHandler(saved)  # a no-op for one still there
        root.setLevel(self.root_level)
        for name, level in self.library_levels:
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)  # forgets the hook it saved, then the saved one wins
        warnings.showwarning = self.showwarning
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook


def save_logging() -> SavedLogging:
    """What :func:`configure_logging` would change, as it is now (see :class:`SavedLogging`)."""
    config = structlog.get_config()
    # A copy: get_config hands out the live processor list, which is not ours to keep.
    config["processors"] = list(config["processors"])
    root = logging.getLogger()
    return SavedLogging(
        structlog_config=config,
        structlog_configured=structlog.is_configured(),
        own_handlers=tuple(h for h in root.handlers if isinstance(h, _StderrHandler)),
        root_level=root.level,
        library_levels=tuple((name, logging.getLogger(name).level) for name in _QUIET_LIBRARIES),
        showwarning=warnings.showwarning,
        excepthook=sys.excepthook,
        thread_excepthook=threading.excepthook,
    )


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("mozci_monitor").critical(
        "uncaught exception", exc_info=(kind, error, traceback)
    )


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit):
        return
    where = args.thread.name if args.thread is not None else "unknown"
    error = args.exc_value
    logging.getLogger("mozci_monitor").critical(
        "uncaught exception in thread %s",
        where,
        exc_info=(args.exc_type, error, args.exc_traceback) if error is not None else None,
    )
