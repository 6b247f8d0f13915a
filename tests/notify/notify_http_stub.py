"""A real local HTTP server that records requests and answers as told.

aioresponses 0.7.9 cannot build responses under aiohttp 3.14 (ClientResponse gained a
required ``stream_writer`` argument; pnuckowski/aioresponses#289), so the HTTP sinks are
tested against an actual server on 127.0.0.1 instead: real requests, real timeouts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict → JSON, str → text, None → empty
    hang: bool = False  # never answer (the client's timeout must fire)


@dataclass
class HttpStub:
    """Answers every request with the next queued `Reply` (or the default), recording it."""

    server: TestServer
    requests: list[Recorded] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            Recorded(
                request.method, request.path, request.query_string, dict(request.headers), body
            )
        )
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.hang:
            await self._release.wait()
        if isinstance(reply.body, dict):
            return web.json_response(reply.body, status=reply.status)
        return web.Response(status=reply.status, text=reply.body or "")

    async def close(self) -> None:
        self._release.set()
        await self.server.close()


@pytest.fixture
async def http_stub() -> AsyncIterator[HttpStub]:
    app = web.Application()
    stub = HttpStub(server=TestServer(app, host="127.0.0.1"))
    app.router.add_route("*", "/{tail:.*}", stub.handle)
    await stub.server.start_server()
    try:
        yield stub
    finally:
        await stub.close()
