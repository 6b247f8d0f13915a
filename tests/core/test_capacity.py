"""core/capacity.py as a table: quotas per pool and platform, a saturated pool, excluded
pools; what is granted now and what waits, with the reason the campaign will show."""

from __future__ import annotations

import pytest

from mozci_monitor.core.capacity import Admission, CapacityPolicy, admit, platform_of

POOL = "gecko-t/t-linux-xlarge"
PLATFORM = "linux1804-64"
POLICY = CapacityPolicy(
    daily_quota={POOL: 100, "android-hw-a51-11-0-arm7": 20, "windows11-64": 50},
    max_pending=500,
    excluded_pools=frozenset({"proj-autophone/gecko-t-bitbar-gw-perf-a51"}),
)


@pytest.mark.parametrize(
    ("wanted", "pool", "platform", "used", "pending", "expected"),
    [
        # Room left: everything granted.
        (10, POOL, PLATFORM, {POOL: 50}, 10, Admission(10, 0)),
        # Nothing configured for the pool or platform: unlimited.
        (300, "gecko-t/other", "other", {}, None, Admission(300, 0)),
        # The pool's quota trims the batch.
        (10, POOL, PLATFORM, {POOL: 95}, 0, Admission(5, 5, "daily quota of worker pool")),
        (10, POOL, PLATFORM, {POOL: 100}, 0, Admission(0, 10, "100 of 100 tasks used today")),
        # The platform's quota, whatever the pool.
        (
            10,
            "gecko-t/t-win11-64",
            "windows11-64",
            {"windows11-64": 48},
            None,
            Admission(2, 8, "daily quota of platform windows11-64"),
        ),
        # A saturated pool: everything deferred, even with quota left.
        (10, POOL, PLATFORM, {}, 500, Admission(0, 10, "has 500 pending tasks (limit 500)")),
        (10, POOL, PLATFORM, {}, 499, Admission(10, 0)),
        # An unknown pending count falls back on the quotas alone.
        (10, POOL, PLATFORM, {POOL: 99}, None, Admission(1, 9, "daily quota")),
        # Scarce hardware is never used.
        (
            1,
            "proj-autophone/gecko-t-bitbar-gw-perf-a51",
            "android-hw-a51-11-0-arm7",
            {},
            0,
            Admission(0, 1, "is excluded"),
        ),
        (0, POOL, PLATFORM, {}, 10_000, Admission(0, 0)),
    ],
)
def test_admission(
    wanted: int,
    pool: str,
    platform: str,
    used: dict[str, int],
    pending: int | None,
    expected: Admission,
) -> None:
    got = admit(
        POLICY, wanted=wanted, pool=pool, platform=platform, used_today=used, pending=pending
    )
    assert (got.granted, got.deferred) == (expected.granted, expected.deferred)
    assert expected.reason in got.reason
    assert bool(got.reason) == bool(expected.reason)
    assert got.refused == (got.granted == 0 and wanted > 0)


@pytest.mark.parametrize(
    ("label", "platform"),
    [
        ("test-linux1804-64/opt-mochitest-browser-chrome-1", "linux1804-64"),
        ("test-windows11-64-24h2/debug-xpcshell-3", "windows11-64-24h2"),
        ("build-android-arm/opt", "android-arm"),
        ("source-test-python-mozbase/linux1804-64", "test-python-mozbase"),
        ("toolchain-linux64-clang", "toolchain-linux64-clang"),
    ],
)
def test_platform_of(label: str, platform: str) -> None:
    assert platform_of(label) == platform
