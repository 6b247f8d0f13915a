"""The status page in real headless Chromium: the script runs, fetches the API, renders the
campaigns with the sheriffs' colours, and the screenshot shows them."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mozci_monitor.api import ApiOptions, ApiServer
from mozci_monitor.api.status_page import COLOURS
from mozci_monitor.core.campaign import CampaignState

from .fakes import TOKEN, FakeBackend

HOSTILE = '<img src=x id="injected">'


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


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


async def _run_chromium(tmp_path: Path, *arguments: str) -> bytes:
    profile = tmp_path / "profile"
    process = await asyncio.create_subprocess_exec(
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # A guard against a wedged browser, not a speed requirement.
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


async def test_page_renders_campaigns_after_its_script_ran(page_url: str, tmp_path: Path) -> None:
    dom = (await _run_chromium(tmp_path, "--dump-dom", page_url)).decode()
    assert 'data-loaded="true"' in dom, dom[-3000:]
    assert 'data-campaign-id="c-seeded0001"' in dom
    assert 'data-campaign-id="c-finished01"' in dom
    assert "test-linux1804-64/opt-orange-2" in dom
    rows = set(re.findall(r'class="request rs-([a-z]+)"', dom))
    assert rows == {"green", "orange", "purple", "red", "grey", "blue", "pink"}
    assert 'class="campaign c-green"' in dom and 'class="campaign c-blue"' in dom
    assert 'data-kind="task-phase"' in dom  # the per-request timeline
    assert "rerun failed: exception — 403" in dom  # the action log
    # Text from the API is text: the hostile outcome is escaped, not an element.
    assert "<img" not in dom
    assert "&lt;img src=x" in dom
    assert '<span id="error"></span>' in dom  # no fetch failed


async def test_screenshot_shows_the_state_colours(page_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "status.png"
    await _run_chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,640", "--hide-scrollbars", page_url
    )
    width, height, pixels = _decode_png(shot.read_bytes())
    assert (width, height) == (1280, 640)
    counts = Counter(pixels)
    assert len(counts) > 50  # text, badges, background: not a blank page
    for name, value in COLOURS.items():
        rgb = tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        near = sum(n for colour, n in counts.items() if _close(colour, rgb))
        assert near >= 150, f"{name} {value} hardly on screen ({near} pixels)"


def _close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) <= 6 for x, y in zip(a, b, strict=True))


def _decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """RGB pixels of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat = 8, b""
    width = height = channels = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour_type in (2, 6), (depth, colour_type)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels))
        previous = line
    return width, height, pixels


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    """Undo one scanline's PNG filter in place (one loop per filter: it is the hot path)."""
    size = len(line)
    if kind == 0:
        return
    if kind == 1:
        for i in range(bpp, size):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(size):
            line[i] = (line[i] + previous[i]) & 0xFF
    elif kind == 3:
        for i in range(size):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(size):
            if i >= bpp:
                left, upper_left = line[i - bpp], previous[i - bpp]
            else:
                left = upper_left = 0
            up = previous[i]
            estimate = left + up - upper_left
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
            line[i] = (line[i] + predictor) & 0xFF
    else:
        raise AssertionError(f"unknown PNG filter {kind}")
