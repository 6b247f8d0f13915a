"""The politeness layer: retries, Retry-After, timeouts, breaker, rate limit, User-Agent."""

from __future__ import annotations

import asyncio
import email.utils
import re

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from mozci_monitor.redact import redact_text, redact_url
from mozci_monitor.sources.breaker import BreakerState
from mozci_monitor.sources.errors import NotFound, SourceError, SourceUnavailable, TransientError
from mozci_monitor.sources.jsonhttp import JsonHttp
from mozci_monitor.sources.politeness import (
    USER_AGENT,
    Policy,
    PoliteSource,
    parse_retry_after,
)

URL_A = "https://treeherder.example/api/thing/"


def make_http(session, clock, **policy):
    gate = PoliteSource(
        "treeherder", Policy(**policy), clock=clock, sleep=clock.sleep, jitter_seed=1
    )
    return JsonHttp(session, gate)


def sent(mocked, url=URL_A, method="GET"):
    return mocked.requests.get((method, URL(url)), [])


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def test_5xx_is_retried_with_jittered_backoff_then_succeeds(session, clock):
    http = make_http(session, clock, attempts=5, backoff_base=1.0, backoff_max=8.0)
    with aioresponses() as m:
        m.get(URL_A, status=503)
        m.get(URL_A, status=502)
        m.get(URL_A, status=500)
        m.get(URL_A, payload={"ok": True})
        assert await http.get_json(URL_A) == {"ok": True}
        assert len(sent(m)) == 4
    # Full jitter: each wait lies in [0, min(max, base * 2**n)].
    assert len(clock.sleeps) == 3
    for n, waited in enumerate(clock.sleeps):
        assert 0 <= waited <= min(8.0, 1.0 * 2**n)
    assert http.gate.breaker.state is BreakerState.CLOSED


async def test_retries_exhausted_raise_transient_error_with_status(session, clock):
    http = make_http(session, clock, attempts=3, breaker_threshold=10)
    with aioresponses() as m:
        m.get(URL_A, status=503, repeat=True)
        with pytest.raises(TransientError) as info:
            await http.get_json(URL_A)
        assert len(sent(m)) == 3
    assert info.value.status == 503
    assert info.value.source == "treeherder"
    assert info.value.url == URL_A


async def test_429_retry_after_seconds_is_honoured(session, clock):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A, status=429, headers={"Retry-After": "7"})
        m.get(URL_A, payload=[1])
        assert await http.get_json(URL_A) == [1]
    assert clock.sleeps == [7.0]


async def test_429_retry_after_http_date_is_honoured(session, clock):
    http = make_http(session, clock)
    when = email.utils.formatdate(clock.now + 42, usegmt=True)
    with aioresponses() as m:
        m.get(URL_A, status=429, headers={"Retry-After": when})
        m.get(URL_A, payload=[1])
        assert await http.get_json(URL_A) == [1]
    assert clock.sleeps == [pytest.approx(42.0)]


async def test_retry_after_is_clamped(session, clock):
    http = make_http(session, clock, retry_after_max=60.0)
    with aioresponses() as m:
        m.get(URL_A, status=503, headers={"Retry-After": "86400"})
        m.get(URL_A, payload=[1])
        await http.get_json(URL_A)
    assert clock.sleeps == [60.0]


@pytest.mark.parametrize(
    "failure",
    [
        TimeoutError(),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
    ],
    ids=["timeout", "disconnected", "reset"],
)
async def test_timeouts_and_connection_errors_are_retried(session, clock, failure):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A, exception=failure)
        m.get(URL_A, payload={"n": 1})
        assert await http.get_json(URL_A) == {"n": 1}
        assert len(sent(m)) == 2
    assert len(clock.sleeps) == 1


async def test_attempt_slower_than_timeout_is_cut_and_retried(clock):
    gate = PoliteSource("slow", Policy(timeout=0.01), clock=clock, sleep=clock.sleep)
    calls = 0

    async def attempt():
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)  # a real hang, cut by the policy's timeout
        return "done"

    assert await gate.call(attempt, url="https://slow.example/") == "done"
    assert calls == 2


async def test_404_is_not_found_not_retried_and_does_not_trip_breaker(session, clock):
    http = make_http(session, clock, breaker_threshold=1)
    with aioresponses() as m:
        m.get(URL_A, status=404, repeat=True)
        for _ in range(3):
            with pytest.raises(NotFound) as info:
                await http.get_json(URL_A)
        assert len(sent(m)) == 3
    assert info.value.status == 404
    assert clock.sleeps == []
    assert http.gate.breaker.state is BreakerState.CLOSED


async def test_other_4xx_is_a_plain_source_error(session, clock):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A, status=400, body="bad count")
        with pytest.raises(SourceError) as info:
            await http.get_json(URL_A)
    assert type(info.value) is SourceError
    assert info.value.status == 400
    assert "bad count" in str(info.value)


async def test_non_json_answer_is_a_source_error(session, clock):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A, body="<html>", content_type="text/html")
        with pytest.raises(SourceError, match="not JSON"):
            await http.get_json(URL_A)


async def test_breaker_opens_rejects_at_once_then_half_opens(session, clock):
    http = make_http(session, clock, attempts=1, breaker_threshold=3, breaker_cooldown=30.0)
    breaker = http.gate.breaker
    with aioresponses() as m:
        m.get(URL_A, status=500, repeat=True)
        for _ in range(2):
            with pytest.raises(TransientError):
                await http.get_json(URL_A)
        assert breaker.state is BreakerState.CLOSED
        with pytest.raises(SourceUnavailable):
            await http.get_json(URL_A)  # third failure opens it
        assert breaker.state is BreakerState.OPEN
        before = len(sent(m))

        clock.advance(29.0)
        with pytest.raises(SourceUnavailable) as info:
            await http.get_json(URL_A)
        assert len(sent(m)) == before, "an open breaker must not send anything"
        message = str(info.value)
        assert "treeherder" in message
        assert "3 consecutive failures" in message
        assert "until 2023-11-14T22:" in message  # the fake clock's epoch + 30 s
        assert info.value.until == pytest.approx(1_700_000_000.0 + 30.0)

        # After the cool-down, one probe goes out; it fails, so it opens again.
        clock.advance(1.0)
        assert breaker.state is BreakerState.HALF_OPEN
        with pytest.raises(SourceUnavailable):
            await http.get_json(URL_A)
        assert len(sent(m)) == before + 1
        assert breaker.state is BreakerState.OPEN

    clock.advance(30.0)
    with aioresponses() as m:
        m.get(URL_A, payload={"back": True})
        assert await http.get_json(URL_A) == {"back": True}
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


async def test_breaker_opening_mid_retries_stops_retrying(session, clock):
    http = make_http(session, clock, attempts=10, breaker_threshold=2)
    with aioresponses() as m:
        m.get(URL_A, status=503, repeat=True)
        with pytest.raises(SourceUnavailable) as info:
            await http.get_json(URL_A)
        assert len(sent(m)) == 2
    assert isinstance(info.value.__cause__, TransientError)


async def test_half_open_lets_a_single_probe_through(clock):
    gate = PoliteSource(
        "hgmo",
        Policy(attempts=1, breaker_threshold=1, breaker_cooldown=5.0),
        clock=clock,
        sleep=clock.sleep,
    )

    async def fail():
        raise TransientError("boom", source="hgmo", status=500)

    with pytest.raises(SourceUnavailable):
        await gate.call(fail, url="https://hg.example/")
    clock.advance(5.0)
    release = asyncio.Event()

    async def slow_ok():
        await release.wait()
        return "ok"

    probe = asyncio.create_task(gate.call(slow_ok, url="https://hg.example/"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with pytest.raises(SourceUnavailable) as info:
        await gate.call(slow_ok, url="https://hg.example/")
    assert info.value.probing
    assert "probe" in str(info.value)
    release.set()
    assert await probe == "ok"
    assert gate.breaker.state is BreakerState.CLOSED


async def test_non_idempotent_call_is_not_retried_after_5xx(clock):
    gate = PoliteSource("hooks", Policy(attempts=5), clock=clock, sleep=clock.sleep)
    calls = 0

    async def fire():
        nonlocal calls
        calls += 1
        raise TransientError("bad gateway", source="hooks", status=502)

    with pytest.raises(TransientError):
        await gate.call(fire, url="https://tc.example/hooks", idempotent=False)
    assert calls == 1


async def test_non_idempotent_call_is_retried_when_the_request_never_left(clock):
    gate = PoliteSource("hooks", Policy(attempts=5), clock=clock, sleep=clock.sleep)
    outcomes = [
        TransientError("refused", source="hooks", request_sent=False),
        TransientError("slow down", source="hooks", status=429, retry_after=2.0),
    ]

    async def fire():
        if outcomes:
            raise outcomes.pop(0)
        return {"status": {"taskId": "abc"}}

    result = await gate.call(fire, url="https://tc.example/hooks", idempotent=False)
    assert result == {"status": {"taskId": "abc"}}
    assert clock.sleeps[-1] == 2.0


async def test_rate_limit_is_never_exceeded_under_concurrency(clock):
    gate = PoliteSource(
        "treeherder",
        Policy(rate_limit=5, period=1.0, max_concurrency=8),
        clock=clock,
        sleep=clock.sleep,
    )
    started = clock.now

    async def quick():
        await asyncio.sleep(0)
        return 1

    results = await asyncio.gather(*(gate.call(quick, url=URL_A) for _ in range(40)))
    assert sum(results) == 40
    assert gate.meter.total == 40
    assert gate.max_observed_rate() <= 5
    assert gate.meter.max_in_window(1.0) == 5  # it did run at the limit
    # 40 requests at 5 per second need at least 7 full periods.
    assert clock.now - started >= 7.0


async def test_concurrency_is_bounded(clock):
    gate = PoliteSource(
        "queue", Policy(rate_limit=1000, max_concurrency=3), clock=clock, sleep=clock.sleep
    )
    in_flight = 0
    peak = 0

    async def tracked():
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1

    await asyncio.gather(*(gate.call(tracked, url=URL_A) for _ in range(20)))
    assert peak == 3


async def test_user_agent_is_sent(session, clock):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A, payload={})
        await http.get_json(URL_A)
        (request,) = sent(m)
    assert request.kwargs["headers"]["User-Agent"] == USER_AGENT
    assert re.fullmatch(
        r"mozci-monitor/\S+ \(\+https://github\.com/mozilla/mozci-monitor\)", USER_AGENT
    )


async def test_redirects_are_followed(session, clock):
    http = make_http(session, clock)
    target = "https://storage.example/blob.json"
    with aioresponses() as m:
        m.get(URL_A, status=303, headers={"Location": target})
        m.get(target, payload={"redirected": True})
        assert await http.get_json(URL_A) == {"redirected": True}


async def test_query_params_are_encoded(session, clock):
    http = make_http(session, clock)
    with aioresponses() as m:
        m.get(URL_A + "?revision=abc&count=2", payload={"r": 1})
        assert await http.get_json(URL_A, {"revision": "abc", "count": 2}) == {"r": 1}


def test_parse_retry_after():
    assert parse_retry_after("12", now=0.0) == 12.0
    assert parse_retry_after("-3", now=0.0) == 0.0
    assert parse_retry_after(None, now=0.0) is None
    assert parse_retry_after("soon", now=0.0) is None
    date = email.utils.formatdate(1_000_100.0, usegmt=True)
    assert parse_retry_after(date, now=1_000_000.0) == pytest.approx(100.0)
    assert parse_retry_after(date, now=2_000_000.0) == 0.0


def test_redact_url_hides_secrets():
    url = "https://user:pw@tc.example/api/queue/v1/task/X/artifacts/a?bewit=SECRET&x=1"
    redacted = redact_url(url)
    assert "SECRET" not in redacted
    assert "pw" not in redacted
    assert "x=1" in redacted
    assert redacted == "https://user:***@tc.example/api/queue/v1/task/X/artifacts/a?bewit=***&x=1"


def test_redact_text_hides_signed_storage_urls():
    signed = (
        "https://bucket.s3.amazonaws.com/public/logs/live.log?"
        "X-Amz-Credential=AKIA%2F20261122&X-Amz-Signature=deadbeef&X-Amz-Expires=900"
    )
    text = redact_text(f"Cannot read body of {signed}: reset")
    assert "deadbeef" not in text
    assert "AKIA" not in text
    assert "X-Amz-Expires=900" in text


async def test_errors_never_quote_secrets_from_exceptions(session, clock):
    http = make_http(session, clock, attempts=1)
    signed = "https://tc.example/api/queue/v1/task/T/artifacts/private%2Fx?bewit=SECRETBEWIT"
    with aioresponses() as m:
        m.get(signed, exception=aiohttp.ClientPayloadError(f"truncated body from {signed}"))
        with pytest.raises(TransientError) as info:
            await http.get_json(signed)
    assert "SECRETBEWIT" not in str(info.value)
    assert "bewit=***" in str(info.value)
