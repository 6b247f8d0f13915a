"""Fixtures for the source clients: a fake clock whose sleep advances time instantly."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import aiohttp
import aioresponses.core
import pytest


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class _NoStreamWriter:
    output_size = 0


class _CompatClientResponse(aiohttp.ClientResponse):
    """aiohttp 3.14 made `stream_writer` a required argument that aioresponses
    0.7.x does not pass (pnuckowski/aioresponses#289); give it a stand-in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoStreamWriter())
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
