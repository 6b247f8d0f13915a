"""The daemon's and the `results` command's source clients are built from one reading of
`[sources]`: the same places, the same politeness."""

from __future__ import annotations

from typing import Any

import pytest

from mozci_monitor import wiring
from mozci_monitor.config import Settings, SourcesSettings
from mozci_monitor.sources.clients import SourceSettings
from mozci_monitor.sources.jsonhttp import create_session
from mozci_monitor.sources.politeness import Policy

CONFIGURED = SourcesSettings(
    taskcluster_root_url="https://tc.example",
    treeherder_url="https://th.example",
    hg_url="https://hg.example",
    taskcluster_rate=7,
    treeherder_rate=3,
    hg_rate=2,
    max_concurrency=5,
)
EXPECTED_POLICIES = {
    "taskcluster": Policy(rate_limit=7, max_concurrency=5),
    "treeherder": Policy(rate_limit=3, max_concurrency=5),
    "hgmo": Policy(rate_limit=2, max_concurrency=5),
}


def test_the_source_settings_carry_the_configured_places_and_politeness() -> None:
    built = wiring.build_source_settings(Settings(sources=CONFIGURED))
    assert (built.taskcluster_root_url, built.treeherder_url, built.hg_url) == (
        "https://tc.example",
        "https://th.example",
        "https://hg.example",
    )
    assert dict(built.policies) == EXPECTED_POLICIES


async def test_the_results_command_reads_through_the_configured_politeness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[SourceSettings] = []
    real = wiring.create_clients

    def recording(session: Any, settings: SourceSettings) -> Any:
        seen.append(settings)
        return real(session, settings)

    monkeypatch.setattr(wiring, "create_clients", recording)
    async with wiring.task_results_reader(Settings(sources=CONFIGURED)):
        pass
    assert [dict(s.policies) for s in seen] == [EXPECTED_POLICIES]
    assert seen == [wiring.build_source_settings(Settings(sources=CONFIGURED))]


async def test_the_services_session_is_closed_even_when_closing_a_sink_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions: list[Any] = []

    def recording_session(**kwargs: Any) -> Any:
        sessions.append(create_session(**kwargs))
        return sessions[-1]

    async def failing_close_sinks(sinks: Any) -> None:
        raise RuntimeError("a sink failed to close")

    monkeypatch.setattr(wiring, "create_session", recording_session)
    monkeypatch.setattr(wiring, "close_sinks", failing_close_sinks)
    services = wiring.build_services(Settings(sources=CONFIGURED))
    (close,) = services.closers
    with pytest.raises(RuntimeError):
        await close()
    assert [session.closed for session in sessions] == [True]
