"""Logging: secrets and URL passwords never reach a renderer; JSON lines when asked."""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from mozci_monitor.logs import (
    REDACTED,
    Redactor,
    configure_logging,
    redact_text,
    save_logging,
)

SECRET = "hunter2-Zq9x"
TOKEN = "tc-token-7Hk2pQ"


def _redact(event: dict[str, Any], secrets: tuple[str, ...] = (SECRET, TOKEN)) -> dict[str, Any]:
    return dict(Redactor(secrets)(None, "info", dict(event)))


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- redact_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqps://alice:pw@pulse.mozilla.org:5671/", "amqps://alice:***@pulse.mozilla.org:5671/"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        (
            "retry amqps://a:p%40ss@h/ then https://b:q@i/x",
            "retry amqps://a:***@h/ then https://b:***@i/x",
        ),
        ("amqps://pulse.mozilla.org:5671/", "amqps://pulse.mozilla.org:5671/"),
        ("https://user@example.org/", "https://user@example.org/"),
        ("no url here: host:5672", "no url here: host:5672"),
    ],
)
def test_redact_text_masks_url_passwords(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_text_masks_every_occurrence_of_known_secrets() -> None:
    text = f"{SECRET} and again {SECRET}, token={TOKEN}"
    assert (
        redact_text(text, [SECRET, TOKEN]) == f"{REDACTED} and again {REDACTED}, token={REDACTED}"
    )


def test_empty_secrets_are_ignored() -> None:
    assert redact_text("plain text", ["", SECRET]) == "plain text"
    assert Redactor(["", SECRET]).secrets == [SECRET]
    assert _redact({"event": "plain text"}, ("",)) == {"event": "plain text"}


# -- the Redactor processor ----------------------------------------------------------------------


def test_redactor_masks_secrets_in_every_string_field() -> None:
    event = {
        "event": f"connecting with {SECRET}",
        "url": f"amqps://alice:{SECRET}@pulse.mozilla.org:5671/",
        "other_url": "amqps://bob:not-a-known-secret@host/",
        "header": f"Bearer {TOKEN}",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
    }
    redacted = _redact(event)
    for value in redacted.values():
        assert SECRET not in str(value) and TOKEN not in str(value)
    assert "not-a-known-secret" not in redacted["other_url"]
    assert redacted["event"] == f"connecting with {REDACTED}"
    assert redacted["url"] == f"amqps://alice:{REDACTED}@pulse.mozilla.org:5671/"
    assert redacted["other_url"] == f"amqps://bob:{REDACTED}@host/"
    assert redacted["header"] == f"Bearer {REDACTED}"
    assert (redacted["count"], redacted["ratio"], redacted["flag"], redacted["nothing"]) == (
        3,
        0.5,
        True,
        None,
    )


def test_redactor_turns_exceptions_into_their_redacted_repr() -> None:
    error = ConnectionError(f"cannot log in to amqps://alice:{SECRET}@pulse.mozilla.org/")
    redacted = _redact({"event": "broker down", "error": error})
    assert isinstance(redacted["error"], str)
    assert redacted["error"].startswith("ConnectionError(")
    assert SECRET not in redacted["error"]
    assert f"alice:{REDACTED}@" in redacted["error"]


def test_redactor_masks_secrets_nested_in_containers() -> None:
    redacted = _redact(
        {"event": "request", "headers": {"Authorization": f"Bearer {TOKEN}"}, "args": [SECRET]}
    )
    assert TOKEN not in json.dumps(redacted) and SECRET not in json.dumps(redacted)


# -- configure_logging ---------------------------------------------------------------------------


def test_json_mode_writes_json_lines_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="json", level="info", secrets=[SECRET, TOKEN])
    log = structlog.get_logger("mozci_monitor.test")
    log.info("connecting", url=f"amqps://alice:{SECRET}@pulse.mozilla.org:5671/", user="alice")
    log.warning("token in use %s", TOKEN)
    log.error("broker refused", error=PermissionError(f"ACCESS_REFUSED password {SECRET}"))
    try:
        raise RuntimeError(f"login failed with {SECRET}")
    except RuntimeError:
        log.exception("crashed")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert SECRET not in captured.err and TOKEN not in captured.err
    lines = _json_lines(captured.err)
    assert [line["event"] for line in lines] == [
        "connecting",
        f"token in use {REDACTED}",
        "broker refused",
        "crashed",
    ]
    assert [line["level"] for line in lines] == ["info", "warning", "error", "error"]
    assert lines[0]["url"] == f"amqps://alice:{REDACTED}@pulse.mozilla.org:5671/"
    assert lines[0]["user"] == "alice"
    assert "timestamp" in lines[0] and lines[0]["timestamp"].endswith("Z")
    assert REDACTED in lines[2]["error"]
    assert "RuntimeError" in lines[3]["exception"] and REDACTED in lines[3]["exception"]


def test_level_filters_lower_events(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="json", level="warning")
    log = structlog.get_logger("mozci_monitor.test")
    log.debug("nope")
    log.info("nope either")
    log.warning("kept")
    assert [line["event"] for line in _json_lines(capsys.readouterr().err)] == ["kept"]


def test_auto_mode_is_json_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(format="auto", secrets=[SECRET])
    structlog.get_logger("mozci_monitor.test").info("hello", secret=SECRET)
    (line,) = _json_lines(capsys.readouterr().err)
    assert line == {**line, "event": "hello", "secret": REDACTED}


def test_console_mode_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="console", secrets=[SECRET])
    structlog.get_logger("mozci_monitor.test").info("hello", url=f"amqp://u:{SECRET}@h/")
    err = capsys.readouterr().err
    assert "hello" in err
    assert SECRET not in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])


# -- the standard library's loggers (aiohttp, kombu, asyncio, …) -------------------------------


def test_library_records_are_json_lines_and_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="json", level="info", secrets=[SECRET])
    logging.getLogger("amqp").error("cannot connect to amqps://alice:pw-9x@pulse/ (%s)", SECRET)
    logging.getLogger("asyncio").warning("header %r", {"Authorization": f"Bearer {TOKEN}"})
    try:
        raise OSError(f"refused: Authorization: Bearer {TOKEN}\r\nnext line")
    except OSError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated amqps://u:{SECRET}@h/", DeprecationWarning, stacklevel=1)
    logging.getLogger("kombu").info("chatty library detail")  # below WARNING for libraries

    captured = capfd.readouterr()
    assert captured.out == ""
    for secret in (SECRET, TOKEN, "pw-9x"):
        assert secret not in captured.err
    lines = _json_lines(captured.err)  # every line parses: tracebacks stay inside one line
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("amqp", "error"),
        ("asyncio", "warning"),
        ("aiohttp.server", "error"),
        ("py.warnings", "warning"),
    ]
    assert lines[0]["event"] == f"cannot connect to amqps://alice:{REDACTED}@pulse/ ({REDACTED})"
    assert lines[1]["event"] == "header {'Authorization': 'Bearer ***'}"
    assert "Traceback" in lines[2]["exception"] and "Bearer ***" in lines[2]["exception"]
    assert all(line["timestamp"].endswith("Z") for line in lines)


def test_configuring_twice_keeps_one_root_handler(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="json")
    configure_logging(format="json")
    logging.getLogger("aiohttp.server").error("once")
    assert [line["event"] for line in _json_lines(capfd.readouterr().err)] == ["once"]


def test_library_records_in_console_mode_are_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="console", secrets=[SECRET])
    logging.getLogger("kombu").error("login %s to amqp://u:p1x@h/", SECRET)
    err = capfd.readouterr().err
    assert "login" in err and "kombu" in err
    assert SECRET not in err and "p1x" not in err


def test_uncaught_exceptions_are_json_lines_and_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(format="json", secrets=[SECRET])

    def crash() -> None:
        raise RuntimeError(f"worker died holding {SECRET} and Bearer {TOKEN}")

    worker = threading.Thread(target=crash, name="worker-1")
    worker.start()
    worker.join()
    try:
        raise ValueError(f"main died: amqps://u:{SECRET}@h/")
    except ValueError as error:
        sys.excepthook(type(error), error, error.__traceback__)

    err = capfd.readouterr().err
    assert SECRET not in err and TOKEN not in err
    in_thread, in_main = _json_lines(err)
    assert in_thread["event"] == "uncaught exception in thread worker-1"
    assert in_thread["level"] == "critical"
    assert "RuntimeError" in in_thread["exception"] and "Bearer ***" in in_thread["exception"]
    assert in_main["event"] == "uncaught exception"
    assert f"amqps://u:{REDACTED}@h/" in in_main["exception"]


# -- save_logging / restore: what the tests' autouse fixture (tests/conftest.py) relies on ---------


def _process_logging() -> dict[str, Any]:
    """Everything configure_logging changes, as plain values to compare."""
    config = structlog.get_config()
    return {
        "structlog": {**config, "processors": list(config["processors"])},
        "configured": structlog.is_configured(),
        "root handlers": list(logging.getLogger().handlers),
        "root level": logging.getLogger().level,
        "kombu level": logging.getLogger("kombu").level,
        "aiohttp.access level": logging.getLogger("aiohttp.access").level,
        "showwarning": warnings.showwarning,
        "excepthook": sys.excepthook,
        "thread excepthook": threading.excepthook,
    }


def test_restore_undoes_everything_configure_logging_changed() -> None:
    before = _process_logging()
    saved = save_logging()
    configure_logging(format="json", level="error", secrets=[SECRET])
    during = _process_logging()
    assert [key for key in before if before[key] != during[key]] == list(before)  # all changed
    saved.restore()
    assert _process_logging() == before


def test_an_info_event_is_captured_again_once_a_warning_level_set_up_is_restored() -> None:
    """The order-dependent failure this guards against: a CLI test's `main()` left the
    warning level behind, and capture_logs, which swaps the processors only, saw nothing."""
    saved = save_logging()
    configure_logging(format="json", level="warning")
    with capture_logs() as leaked:
        structlog.get_logger("mozci_monitor.test").info("dropped by the level")
    saved.restore()
    with capture_logs() as restored:
        structlog.get_logger("mozci_monitor.test").info("seen")
    assert leaked == []
    assert [event["event"] for event in restored] == ["seen"]


def test_restore_brings_back_an_earlier_set_up_and_keeps_foreign_handlers(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(format="json", level="info")
    earlier = _process_logging()
    saved = save_logging()
    foreign = logging.NullHandler()  # someone else's (pytest adds its own around each phase)
    logging.getLogger().addHandler(foreign)
    try:
        configure_logging(format="console", level="error")
        saved.restore()
        assert set(logging.getLogger().handlers) == {*earlier["root handlers"], foreign}
    finally:
        logging.getLogger().removeHandler(foreign)
    assert _process_logging() == earlier
    structlog.get_logger("mozci_monitor.test").info("json again")
    assert [line["event"] for line in _json_lines(capfd.readouterr().err)] == ["json again"]
