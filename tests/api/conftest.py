"""Fixtures: the API app over the in-memory backend, behind aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mozci_monitor.api import create_app
from mozci_monitor.metrics import LiveValues, Metrics

from .fakes import TOKEN, FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(LiveValues(open_requests=lambda: 2, consumer_connected=lambda: True))


@pytest.fixture
async def client(backend: FakeBackend, metrics: Metrics) -> AsyncIterator[TestClient]:
    app = create_app(backend, token=TOKEN, metrics=metrics, max_body_bytes=4096)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


AUTH = {"Authorization": f"Bearer {TOKEN}"}
