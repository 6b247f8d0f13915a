"""The campaign pages in real headless Chromium: the links as the DOM has them, the bisect
chart and the state colours as a screenshot shows them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sample_campaigns as samples

from mozci_monitor.api import ApiOptions, ApiServer
from mozci_monitor.api.status_page import COLOURS
from mozci_monitor.api.svg import CHART_COLOURS

from .chromium import close, decode_png, run_chromium
from .fakes import TOKEN, FakeBackend
from .test_campaign_pages import LINKS, load


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    backend = FakeBackend()
    load(backend, *samples.every_kind())
    backend.seed()  # a running campaign
    server = ApiServer(backend, ApiOptions(port=0, token=TOKEN, links=LINKS))
    await server.start()
    yield server.url
    await server.stop()


def _rgb(value: str) -> tuple[int, int, int]:
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


async def _screenshot(
    tmp_path: Path, url: str, height: int
) -> tuple[int, int, list[tuple[int, int, int]]]:
    shot = tmp_path / "page.png"
    await run_chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size=1280,{height}", "--hide-scrollbars", url
    )
    return decode_png(shot.read_bytes())


def _where(width: int, pixels: list[tuple[int, int, int]], colour: str) -> list[tuple[int, int]]:
    rgb = _rgb(colour)
    return [(i % width, i // width) for i, pixel in enumerate(pixels) if close(pixel, rgb)]


def _columns(points: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """(x, y) centres of the groups of points separated by more than 10 px horizontally."""
    groups: list[list[tuple[int, int]]] = []
    for x, y in sorted(points):
        if groups and x - groups[-1][-1][0] <= 10:
            groups[-1].append((x, y))
        else:
            groups.append([(x, y)])
    return [(sum(x for x, _ in g) / len(g), sum(y for _, y in g) / len(g)) for g in groups]


async def test_links_in_the_dom(base_url: str, tmp_path: Path) -> None:
    dom = (await run_chromium(tmp_path, "--dump-dom", base_url + "/campaigns")).decode()
    hrefs = re.findall(r'<a href="([^"]+)" class="mono campaign-link">([^<]+)</a>', dom)
    assert len(hrefs) == 15
    assert all(href == f"/campaigns/{text}" for href, text in hrefs)
    dom = (
        await run_chromium(tmp_path, "--dump-dom", base_url + "/campaigns/c-bisect0001")
    ).decode()
    links = set(re.findall(r'<a href="([^"]+)"', dom))
    for n in range(101, 107):
        assert (
            f"https://th.example.org/jobs?repo=autoland&amp;revision={samples.revision(n)}" in links
        )
        assert f"https://tc.example.org/tasks/groups/{samples.group(n)}" in links
    task = samples.until_fail().requests[0].first_orange
    dom = (
        await run_chromium(tmp_path, "--dump-dom", base_url + "/campaigns/c-untilfail1")
    ).decode()
    links = set(re.findall(r'<a href="([^"]+)"', dom))
    assert (
        f"https://th.example.org/jobs?repo=autoland&amp;revision={samples.PUSH.revision}"
        f"&amp;selectedTaskRun={task}-0"
    ) in links
    assert f"https://tc.example.org/tasks/{task}" in links


async def test_bisect_chart_shows_the_rise_at_the_answer(base_url: str, tmp_path: Path) -> None:
    width, height, pixels = await _screenshot(tmp_path, base_url + "/campaigns/c-bisect0001", 900)
    assert (width, height) == (1280, 900)
    intervals = _where(width, pixels, CHART_COLOURS["interval"])
    assert len(intervals) > 6 * 18 * 10  # six interval bars, 18 px wide, tens of px high
    rates = _columns(_where(width, pixels, CHART_COLOURS["rate"]))
    change = _columns(_where(width, pixels, CHART_COLOURS["change"]))
    # Five measured rates, and the change point's in its own colour, fourth from the left.
    assert len(rates) == 5 and len(change) == 1, (rates, change)
    columns = sorted([*rates, *change])
    assert columns.index(change[0]) == 3
    # The rate is drawn higher (smaller y) from the change on than before it.
    before = [y for _, y in columns[:3]]
    after = [y for _, y in columns[3:]]
    assert max(after) < min(before) - 50, (before, after)


async def test_list_shows_the_state_colours(base_url: str, tmp_path: Path) -> None:
    width, _, pixels = await _screenshot(tmp_path, base_url + "/campaigns", 900)
    counts = Counter(pixels)
    # finished (green), failed and gave-up (red), canceled (pink), running (blue) badges.
    for name in ("green", "red", "pink", "blue"):
        rgb = _rgb(COLOURS[name])
        near = sum(n for colour, n in counts.items() if close(colour, rgb))
        assert near >= 300, f"{name} {COLOURS[name]} hardly on screen ({near} pixels)"
    assert width == 1280
