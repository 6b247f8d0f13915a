"""Schemathesis drives a real API server from its own OpenAPI document.

Every operation gets generated inputs (valid and invalid); each response must be
documented, match its schema and content type, never be a 5xx, and invalid input must be
refused. Runs offline: the server is on loopback, the document comes from the package.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mozci_monitor.api import ApiOptions, ApiServer, openapi_document
from mozci_monitor.metrics import LiveValues, Metrics

from .conftest import AUTH
from .fakes import TOKEN, FakeBackend

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The API on a free loopback port, served from its own event loop in a thread."""
    backend = FakeBackend()
    backend.seed()
    loop = asyncio.new_event_loop()
    server = ApiServer(
        backend,
        ApiOptions(host="127.0.0.1", port=0, token=TOKEN, max_body_bytes=16 * 1024),
        metrics=Metrics(LiveValues(open_requests=lambda: 1)),
    )
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="api-under-test", daemon=True)
    thread.start()
    assert started.wait(10), "the API server did not start"
    yield server.url
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, live_url: str) -> None:
    case.call_and_validate(base_url=live_url, headers=AUTH)
