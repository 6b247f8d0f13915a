"""Fault injection for the simulator's REST endpoints (chaos tests).

`sim.faults.add(r"/api/queue/v1/task/.*/status", kind="500", count=2)` makes the next
two matching requests fail; kinds: "500", "429" (with Retry-After), "timeout" (the
server never answers before the client gives up) and "reset" (connection dropped).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Middleware

FaultKind = Literal["500", "429", "timeout", "reset"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    pattern: re.Pattern[str]
    kind: FaultKind
    remaining: int | None
    retry_after: float | None = None
    method: str | None = None
    hits: int = 0


@dataclass
class FaultInjector:
    """Rules matched (in order) against `METHOD path`; each fires `count` times (None: always)."""

    faults: list[Fault] = field(default_factory=list)
    timeout_seconds: float = 3600.0

    def add(
        self,
        path_regex: str,
        kind: FaultKind = "500",
        *,
        count: int | None = 1,
        retry_after: float | None = None,
        method: str | None = None,
    ) -> Fault:
        if kind not in ("500", "429", "timeout", "reset"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(re.compile(path_regex), kind, count, retry_after, method and method.upper())
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method and fault.method != method:
                continue
            if fault.remaining is not None and fault.remaining <= 0:
                continue
            if fault.pattern.search(path):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def middleware(self) -> Middleware:
        @web.middleware
        async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
            fault = self.take(request.method, request.path)
            if fault is None:
                return await handler(request)
            if fault.kind == "500":
                return web.json_response(
                    {"code": "InternalServerError", "message": "injected fault"}, status=500
                )
            if fault.kind == "429":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(int(fault.retry_after))
                return web.json_response(
                    {"code": "TooManyRequests", "message": "injected fault"},
                    status=429,
                    headers=headers,
                )
            if fault.kind == "timeout":
                await asyncio.sleep(self.timeout_seconds)
                return await handler(request)
            protocol = request.protocol
            transport = protocol.transport if protocol is not None else None
            if transport is not None:
                transport.abort()
            # Never written: the connection is gone, the client sees a disconnect.
            return web.Response(status=500)

        return inject
