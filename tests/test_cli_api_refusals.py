"""A campaign command the daemon's API refuses: the same words as the offline path (the
option, not the JSON field), exit 2 for every refusal, and what to do about a token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.cli import main

REVISION = "b472a5cf3fd245611116bbfbd22ce2a6298734c6"
WATCH = [
    "watch",
    "--repo",
    "autoland",
    "--revision",
    REVISION,
    "--task-group",
    "RqS-aYBDT_Ch0seCfBGgCA",
    "--label",
    "test-linux1804-64/opt-mochitest-browser-chrome-1",
]


class _Api(ThreadingHTTPServer):
    """A daemon's API that is ready and answers every submission with one refusal."""

    refusal: tuple[int, dict[str, Any]] = (500, {})


class _Handler(BaseHTTPRequestHandler):
    server: _Api

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, {"ready": True})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(*self.server.refusal)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_Api]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    server = _Api(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MOZCI_MONITOR_API_URL", f"http://127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "field", "said", "shown"),
    [
        (
            404,
            "revision",
            f"revision: autoland has no push with revision {REVISION}",
            f"--revision: autoland has no push with revision {REVISION}",
        ),
        (
            400,
            "task_group",
            "task_group: RqS-aYBDT_Ch0seCfBGgCA is not the task group of autoland@b472a5cf3fd2",
            "--task-group: RqS-aYBDT_Ch0seCfBGgCA is not the task group of autoland@b472a5cf3fd2",
        ),
        (
            409,
            "label",
            "label: the decision task of autoland@b472a5cf3fd2 has not published it (yet)",
            "--label: the decision task of autoland@b472a5cf3fd2 has not published it (yet)",
        ),
    ],
)
def test_a_refusal_names_the_option_and_exits_2(
    api: _Api,
    capsys: pytest.CaptureFixture[str],
    status: int,
    field: str,
    said: str,
    shown: str,
) -> None:
    api.refusal = (status, {"error": said, "field": field})
    assert main(WATCH) == 2
    captured = capsys.readouterr()
    assert captured.err == f"mozci-monitor: {shown}\n"
    assert captured.out == ""


def test_a_missing_token_says_where_the_token_comes_from(
    api: _Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.refusal = (401, {"error": "a bearer token is required", "field": None})
    assert main(WATCH) == 2
    err = capsys.readouterr().err
    assert err.startswith("mozci-monitor: a bearer token is required: ")
    assert "$MOZCI_MONITOR_API_TOKEN or api.token_file" in err
    assert "--config" in err


def test_a_daemon_error_is_not_a_refusal(api: _Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.refusal = (502, {"error": "revision: cannot read the pushlog", "field": "revision"})
    assert main(WATCH) == 1
    assert capsys.readouterr().err == "mozci-monitor: --revision: cannot read the pushlog\n"
