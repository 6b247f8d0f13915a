"""The server-rendered campaign pages over HTTP: filters, links, escaping, 404s."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from html.parser import HTMLParser

import pytest
import sample_campaigns as samples
from aiohttp.test_utils import TestClient, TestServer

from mozci_monitor.api import create_app
from mozci_monitor.core.links import Links

from .fakes import TOKEN, FakeBackend

LINKS = Links("https://th.example.org", "https://tc.example.org")
HOSTILE = '<script id="injected">alert(1)</script>&amp;'


def load(backend: FakeBackend, *loaded: samples.Sample) -> None:
    for sample in loaded:
        campaign_id = sample.campaign.campaign_id
        backend.campaigns[campaign_id] = sample.campaign
        backend.requests[campaign_id] = list(sample.requests)
        backend.timelines.update(sample.timelines)
        backend.actions[campaign_id] = list(sample.actions)


@pytest.fixture
def backend() -> FakeBackend:
    backend = FakeBackend()
    load(backend, *samples.every_kind())
    running = samples.bisect()
    open_bisect = replace(
        running.campaign,
        campaign_id="c-open-bisect",
        state=samples.CampaignState.RUNNING,
        outcome=None,
        summary={},
        push=replace(running.campaign.push, repo="mozilla-central"),
    )
    load(backend, replace(running, campaign=open_bisect))
    return backend


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[TestClient]:
    app = create_app(backend, token=TOKEN, links=LINKS)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


class Page(HTMLParser):
    """What a test reads of a page: anchors, rows' campaign ids, chips, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.hrefs: list[tuple[str, str]] = []  # (href, class)
        self.campaign_rows: list[str] = []
        self.chips: list[str] = []
        self.tags: list[str] = []
        self._chip = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append((values["href"], values.get("class", "")))
        if "campaign-row" in values.get("class", ""):
            self.campaign_rows.append(values["data-campaign-id"])
        self._chip = tag == "span" and "chip" in values.get("class", "")

    def handle_data(self, data: str) -> None:
        if self._chip:
            self.chips.append(data)
            self._chip = False


async def _get(client: TestClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    return await response.text()


async def test_list_shows_every_campaign_linked_to_its_page(client: TestClient) -> None:
    page = Page(await _get(client, "/campaigns"))
    assert len(page.campaign_rows) == 15
    links = {href for href, cls in page.hrefs if "campaign-link" in cls}
    assert links == {f"/campaigns/{cid}" for cid in page.campaign_rows}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?state=open", {"c-open-bisect"}),
        ("?kind=bisect", {"c-open-bisect", "c-bisect0001", "c-bisect0002"}),
        ("?state=final&kind=bisect", {"c-bisect0001", "c-bisect0002"}),
        ("?kind=bisect&repo=mozilla-central", {"c-open-bisect"}),
        ("?state=canceled", {"c-watch-canceled"}),
        ("?state=gave-up", {"c-watch-gave-up", "c-confirm0002"}),
        ("?kind=until-fail&state=finished", {"c-untilfail1", "c-untilfail2"}),
        ("?repo=try", set()),
        ("?state=&kind=&repo=", None),  # an empty form: no filter
    ],
)
async def test_list_filters(client: TestClient, query: str, expected: set[str] | None) -> None:
    page = Page(await _get(client, "/campaigns" + query))
    assert set(page.campaign_rows) == (
        expected if expected is not None else set(page.campaign_rows)
    )
    if expected is None:
        assert len(page.campaign_rows) == 15


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?state=sleeping", "state: one of open, final, running"),
        ("?kind=nap", "kind: one of watch"),
        ("?colour=red", "colour: unknown query parameter"),
        ("?kind=fill&kind=watch", "kind: given more than once"),
    ],
)
async def test_list_refuses_bad_filters(client: TestClient, query: str, message: str) -> None:
    assert message in await _get(client, "/campaigns" + query, 400)


async def test_unknown_campaign_is_a_404_page(client: TestClient) -> None:
    assert "no campaign matches" in await _get(client, "/campaigns/c-nothing", 404)
    assert "not a campaign id" in await _get(client, "/campaigns/bad%20id", 400)


async def test_hostile_label_and_outcome_are_text(client: TestClient, backend: FakeBackend) -> None:
    campaign = backend.campaigns["c-watch-finished"]
    backend.campaigns[campaign.campaign_id] = replace(campaign, label=HOSTILE, outcome=HOSTILE)
    backend.requests[campaign.campaign_id] = [
        replace(r, label=HOSTILE, reason=HOSTILE) for r in backend.requests[campaign.campaign_id]
    ]
    for path in ("/campaigns", "/campaigns/c-watch-finished", "/campaigns?repo=" + "%3Cscript%3E"):
        html = await _get(client, path)
        assert "<script" not in html, path
        assert "script" not in Page(html).tags
    html = await _get(client, "/campaigns/c-watch-finished")
    assert "&lt;script id=&quot;injected&quot;&gt;alert(1)&lt;/script&gt;&amp;amp;" in html


async def test_watch_page_timeline_each_change_once_and_dry_run_as_would(
    client: TestClient,
) -> None:
    page = Page(await _get(client, "/campaigns/c-watch-finished"))
    # The raw timeline has pending, pending, running, running, completed, completed.
    assert page.chips == [
        "registered, 1 wanted",
        "pending",
        "running",
        "would retrigger",
        "completed",
    ]
    html = await _get(client, "/campaigns/c-watch-finished")
    assert "retrigger done" not in html
    assert re.search(r"<time datetime=\"2026-11-22T10:01:00Z\">2026-11-22 10:01:00</time>", html)


async def test_pages_link_pushes_and_tasks(client: TestClient) -> None:
    page = Page(await _get(client, "/campaigns/c-watch-finished"))
    hrefs = {href for href, _ in page.hrefs}
    revision, task = samples.PUSH.revision, "TaskWatch0001AAAAAAAAAA"
    assert f"https://th.example.org/jobs?repo=autoland&revision={revision}" in hrefs
    assert (
        f"https://th.example.org/jobs?repo=autoland&revision={revision}&selectedTaskRun={task}-0"
    ) in hrefs
    assert f"https://tc.example.org/tasks/{task}" in hrefs
    assert f"https://tc.example.org/tasks/groups/{samples.GROUP}" in hrefs


async def test_bisect_page_charts_every_push_and_marks_the_change(client: TestClient) -> None:
    html = await _get(client, "/campaigns/c-bisect0001")
    chart = html[html.index("<svg") : html.index("</svg>")]
    assert chart.count('class="interval"') == 6 and chart.count('class="rate"') == 6
    assert chart.count('class="push change"') == 1
    change = chart[chart.index('class="push change"') :]
    assert samples.revision(104)[:12] in change[: change.index("</g>")]
    assert "6 of 10 runs failed (60%, 95% interval 31% to 83%)" in change  # its tooltip
    rows = re.findall(r'<tr( class="highlight")? data-push="(\d+)">', html)
    assert [push for _, push in rows] == ["101", "102", "103", "104", "105", "106"]
    assert [push for mark, push in rows if mark] == ["104"]
    links = {href for href, _ in Page(html).hrefs}
    for n in range(101, 107):
        assert f"https://th.example.org/jobs?repo=autoland&revision={samples.revision(n)}" in links
        assert f"https://tc.example.org/tasks/groups/{samples.group(n)}" in links


async def test_open_bisect_charts_the_runs_so_far_and_refreshes(client: TestClient) -> None:
    html = await _get(client, "/campaigns/c-open-bisect")
    assert '<meta http-equiv="refresh"' in html
    assert html.count('class="rate"') == 6
    assert 'class="push change"' not in html  # no answer yet


async def test_backfill_page_has_the_verdict_per_push(client: TestClient) -> None:
    html = await _get(client, "/campaigns/c-backfill01")
    rows = re.findall(
        r'<tr(?: class="highlight")? data-push="(\d+)">.*?'
        r'<span class="badge c-(\w+)">([\w-]+)</span> ?([\w ]*)</td>',
        html,
    )
    assert rows == [
        ("101", "green", "passed", ""),
        ("102", "green", "passed", "last good"),
        ("103", "orange", "failed", "first bad"),
        ("104", "orange", "failed", ""),
        ("105", "orange", "failed", ""),
    ]
    assert '<meta http-equiv="refresh"' not in html  # finished: nothing changes any more


async def test_until_fail_page_lists_the_runs_with_the_hit(client: TestClient) -> None:
    sample = samples.until_fail()
    html = await _get(client, "/campaigns/c-untilfail1")
    rows = re.findall(r'<tr( class="highlight")? data-task="(\w+)">', html)
    assert [task for _, task in rows] == list(sample.requests[0].task_ids)
    assert [task for mark, task in rows if mark] == [sample.requests[0].first_orange]
    assert "Runs: 7 green, 1 orange, budget 50" in html


async def test_status_page_links_to_the_campaign_pages(client: TestClient) -> None:
    response = await client.get("/")
    assert 'page.href = "/campaigns/" + encodeURIComponent(c.id);' in await response.text()


async def test_confirm_page_shows_each_test_s_answer_and_the_run_that_decided(
    client: TestClient,
) -> None:
    html = await _get(client, "/campaigns/c-confirm0001")
    page = Page(html)
    rows = re.findall(r'<tr data-test="([^"]+)">', html)
    assert rows == [samples.REGRESSED_TEST, samples.FLAKY_TEST]
    assert "regression" in page.chips and "intermittent" in page.chips
    hrefs = {href for href, _ in page.hrefs}
    failing_run = LINKS.task_run("autoland", samples.PUSH.revision, samples.FAILING_TASK, 0)
    assert failing_run in hrefs
    decided = LINKS.task_run("autoland", samples.PUSH.revision, "TaskCf01" + "D" * 14, 0)
    assert decided in hrefs
    assert "one -cf task per test (gecko&#x27;s confirm-failures)" in html
    # gave up: every test said as such, no run to link
    html = await _get(client, "/campaigns/c-confirm0002")
    assert Page(html).chips.count("unknown") == 2
