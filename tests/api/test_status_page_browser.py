"""The status page in real headless Chromium: the script runs, fetches the API, renders the
campaigns with the sheriffs' colours, and the screenshot shows them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mozci_monitor.api import ApiOptions, ApiServer
from mozci_monitor.api.status_page import COLOURS
from mozci_monitor.core.campaign import CampaignState

from .chromium import close, decode_png, run_chromium
from .fakes import TOKEN, FakeBackend

HOSTILE = '<img src=x id="injected">'


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    backend = FakeBackend()
    running = backend.seed()
    finished = replace(
        running,
        campaign_id="c-finished01",
        state=CampaignState.FINISHED,
        outcome="all 1 requests satisfied " + HOSTILE,
    )
    backend.campaigns[finished.campaign_id] = finished
    server = ApiServer(backend, ApiOptions(port=0, token=TOKEN))
    await server.start()
    yield server.url + "/"
    await server.stop()


async def test_page_renders_campaigns_after_its_script_ran(page_url: str, tmp_path: Path) -> None:
    dom = (await run_chromium(tmp_path, "--dump-dom", page_url)).decode()
    assert 'data-loaded="true"' in dom, dom[-3000:]
    assert 'data-campaign-id="c-seeded0001"' in dom
    assert 'data-campaign-id="c-finished01"' in dom
    assert '<a class="cid" href="/campaigns/c-seeded0001">c-seeded0001</a>' in dom
    assert '<a href="/campaigns">all campaigns</a>' in dom
    assert "test-linux1804-64/opt-orange-2" in dom
    rows = set(re.findall(r'class="request rs-([a-z]+)"', dom))
    assert rows == {"green", "orange", "purple", "red", "grey", "blue", "pink"}
    assert 'class="campaign c-green"' in dom and 'class="campaign c-blue"' in dom
    assert 'data-kind="task-phase"' in dom  # the per-request timeline
    # Each change once: of the seven requests' states only the two their task's phase does
    # not already say are chips (failed for the budget; canceled while the task ran).
    assert dom.count('data-kind="state"') == 2
    assert "rerun failed: exception — 403" in dom  # the action log
    # Text from the API is text: the hostile outcome is escaped, not an element.
    assert "<img" not in dom
    assert "&lt;img src=x" in dom
    assert '<span id="error"></span>' in dom  # no fetch failed


async def test_screenshot_shows_the_state_colours(page_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "status.png"
    await run_chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,640", "--hide-scrollbars", page_url
    )
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 640)
    counts = Counter(pixels)
    assert len(counts) > 50  # text, badges, background: not a blank page
    for name, value in COLOURS.items():
        rgb = tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        near = sum(n for colour, n in counts.items() if close(colour, rgb))
        assert near >= 150, f"{name} {value} hardly on screen ({near} pixels)"
