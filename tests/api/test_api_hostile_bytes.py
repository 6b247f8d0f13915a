"""Raw bytes the HTTP client libraries would never send: control bytes after a token, header
values that are not UTF-8, undecodable paths and query strings. Each gets a 4xx, never a 500,
and whatever aiohttp logs about it is one redacted JSON line per record."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestServer

from mozci_monitor.api import create_app
from mozci_monitor.logs import configure_logging

from .fakes import TOKEN, FakeBackend

JSON_BODY = b"Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def _exchange(server: TestServer, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(raw)
        await writer.drain()
        status_line = await reader.readline()
        rest = await reader.read()
    finally:
        writer.close()
    return int(status_line.split()[1]), rest


async def _serve(raw_requests: list[bytes]) -> list[tuple[int, bytes]]:
    backend = FakeBackend()
    app = create_app(backend, token=TOKEN, max_body_bytes=4096)
    async with TestServer(app) as server:
        answers = [await _exchange(server, raw) for raw in raw_requests]
    assert backend.submitted == []
    return answers


def _submission(authorization: bytes) -> bytes:
    return (
        b"POST /api/campaigns HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
        + authorization
        + b"\r\n"
        + JSON_BODY
    )


@pytest.mark.parametrize("control", [b"\x01", b"\x7f", b"\r", b"\x00", b"\x1b"])
async def test_a_token_ending_in_a_control_byte_is_refused_and_never_logged(
    capfd: pytest.CaptureFixture[str], control: bytes
) -> None:
    configure_logging(format="json", level="info")
    ((status, _),) = await _serve(
        [_submission(b"Authorization: Bearer " + TOKEN.encode() + control)]
    )
    assert status == 400  # aiohttp's parser refuses the header before any handler runs

    captured = capfd.readouterr()
    assert TOKEN not in captured.out and TOKEN not in captured.err
    lines = [json.loads(line) for line in captured.err.splitlines() if line.strip()]
    # aiohttp logs the parse error with its traceback: one JSON record, token masked.
    (record,) = [line for line in lines if line.get("logger") == "aiohttp.server"]
    assert record["level"] == "error"
    assert "Authorization: Bearer ***" in record["exception"]
    assert "Traceback" in record["exception"]


@pytest.mark.parametrize(
    "authorization",
    [
        b"Authorization: Bearer \xff\xfe",
        b"Authorization: Bearer " + TOKEN.encode()[:-1] + b"\xe9",
        b"Authorization: Bearer \xc3\x28",
        b"Authorization: \xff\xfe " + TOKEN.encode(),
        b"Authorization: Bearer \x80",
    ],
)
async def test_a_non_utf8_authorization_header_is_401(
    capfd: pytest.CaptureFixture[str], authorization: bytes
) -> None:
    configure_logging(format="json", level="info")
    ((status, body),) = await _serve([_submission(authorization)])
    assert status == 401
    assert b"WWW-Authenticate: Bearer" in body
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert all(json.loads(line) for line in err.splitlines() if line.strip())


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /api/campaigns/\xff\xfe HTTP/1.1", 400),
        (b"GET /api/campaigns/%ff%fe HTTP/1.1", 400),
        (b"GET /api/campaigns/abc%00 HTTP/1.1", 400),
        (b"GET /api/campaigns?open=%ff HTTP/1.1", 400),
        (b"GET /api/campaigns?%ff=1 HTTP/1.1", 400),
        (b"GET /api/campaigns?open=\xff HTTP/1.1", 400),
        (b"GET /api/campaigns?limit=%d9%a3 HTTP/1.1", 400),  # an Arabic-Indic digit 3
        (b"GET /%ff HTTP/1.1", 404),
        (b"POST /api/campaigns/%ff/cancel HTTP/1.1", 400),
    ],
)
async def test_undecodable_paths_and_queries_are_4xx(request_line: bytes, status: int) -> None:
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    ((answered, _),) = await _serve(
        [
            request_line
            + b"\r\nHost: api\r\nConnection: close\r\n"
            + auth
            + b"Content-Length: 0\r\n\r\n"
        ]
    )
    assert answered == status


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (b"Content-Type: application/\xffjson\r\n", b"{}", 415),
        (b"Content-Type: application/json; charset=\xff\r\n", b'"\xff"', 400),
        (b"Content-Type: application/json\r\n", b'"\xff"', 400),
        (b"Content-Type: application/json\r\n", b"\xff\xfe{\x00", 400),
    ],
)
async def test_undecodable_bodies_and_content_types_are_4xx(
    headers: bytes, body: bytes, status: int
) -> None:
    raw = (
        b"POST /api/campaigns HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
        + b"Authorization: Bearer "
        + TOKEN.encode()
        + b"\r\n"
        + headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    ((answered, _),) = await _serve([raw])
    assert answered == status
