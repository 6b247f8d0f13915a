"""The daemon's observer: typed events, and an observer's failure never reaches the daemon."""

from __future__ import annotations

import logging

import pytest

from mozci_monitor.observe import CampaignFinished, Event, guarded, ignore


def test_guarded_passes_events_through() -> None:
    seen: list[Event] = []
    observe = guarded(seen.append)
    event = CampaignFinished("c-1", "watch", "finished", "done")
    observe(event)
    assert seen == [event]


def test_guarded_none_is_ignore() -> None:
    assert guarded(None) is ignore
    assert ignore(CampaignFinished("c-1", "watch", "finished", None)) is None


def test_an_observer_that_raises_is_logged_and_contained(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("observer bug")

    with caplog.at_level(logging.ERROR, logger="mozci_monitor.observe"):
        guarded(broken)(CampaignFinished("c-1", "watch", "finished", None))
    (record,) = caplog.records
    assert record.getMessage() == "observer failed on CampaignFinished"
    assert record.exc_info is not None and "observer bug" in str(record.exc_info[1])
