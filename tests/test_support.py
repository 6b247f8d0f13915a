"""The shared test support (tests/support) does what the scenes rely on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.cli_process import scene_config
from support.clock import SimClock
from support.daemon import assemble_daemon, consumer_settings
from support.mutation import apply_edits, json_paths
from support.waiting import until

from mozci_monitor.config import PulseSettings, Settings, StoreSettings, load_settings
from mozci_monitor.store.sqlite import SqliteStore


async def test_until_returns_once_the_condition_holds() -> None:
    polls: list[int] = []

    def third_time() -> bool:
        polls.append(1)
        return len(polls) == 3

    await until(third_time, "the third poll", interval=0)
    assert len(polls) == 3


async def test_until_awaits_a_condition_that_leaves_the_event_loop() -> None:
    answers = iter([False, True])
    await until(lambda: asyncio.to_thread(lambda: next(answers)), "the thread said yes")
    assert next(answers, "exhausted") == "exhausted"


async def test_until_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="not within 0 s: the impossible"):
        await until(lambda: False, "the impossible", within=0.1, interval=0.01)


class _FailingSim:
    """Its first advance fails; the next ones count CI seconds."""

    def __init__(self) -> None:
        self.advanced = 0.0
        self.failed = False

    async def advance(self, seconds: float) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("broker down")
        self.advanced += seconds


async def test_a_tolerant_clock_keeps_the_error_and_keeps_time_running() -> None:
    sim: Any = _FailingSim()
    clock = SimClock(sim, tolerate_errors=True)
    clock.go()
    await until(lambda: sim.advanced > 0, "CI time ran after the error")
    await clock.pause()
    assert clock.errors == ["ConnectionError('broker down')"]
    assert not clock.running


async def test_a_strict_clock_stops_on_the_error_and_pause_raises_it() -> None:
    sim: Any = _FailingSim()
    clock = SimClock(sim)
    clock.go()
    await until(lambda: sim.failed, "the first advance")
    with pytest.raises(ConnectionError, match="broker down"):
        await clock.pause()
    assert sim.advanced == 0.0
    assert clock.errors == []


async def test_a_held_clock_does_not_advance_ci_time() -> None:
    sim: Any = _FailingSim()
    sim.failed = True  # no error in this one
    ticks: list[int] = []

    def hold() -> bool:
        ticks.append(1)
        return True

    clock = SimClock(sim)
    clock.go(hold=hold)
    await until(lambda: len(ticks) >= 3, "three ticks")
    await clock.pause()
    assert sim.advanced == 0.0


def test_the_consumer_is_configured_from_pulse_settings_as_in_production() -> None:
    pulse = PulseSettings(
        url="amqp://broker:5672/",
        queue="queue/me/test",
        prefetch=7,
        heartbeat=3.0,
        declare_exchanges=False,
        reconnect_max_delay=2.0,
    )
    got = consumer_settings(pulse)
    assert (
        got.url,
        got.queue_name,
        got.prefetch,
        got.heartbeat,
        got.declare_exchanges,
        got.reconnect_max_delay,
    ) == ("amqp://broker:5672/", "queue/me/test", 7, 3.0, False, 2.0)


def test_a_daemon_without_services_only_records(tmp_path: Path) -> None:
    settings = Settings(store=StoreSettings(path=str(tmp_path / "state.sqlite3")))
    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        daemon = assemble_daemon(settings, store=store)
        assert daemon.actuator is None
        assert daemon.reconciler is None
    finally:
        store.close()


def test_json_paths_reach_every_value_depth_first() -> None:
    assert json_paths({"a": [1, {"b": 2}], "c": 3}) == [
        ("a",),
        ("a", 0),
        ("a", 1),
        ("a", 1, "b"),
        ("c",),
    ]


def test_edits_replace_and_delete_in_order_passing_over_paths_gone() -> None:
    payload = {"a": [1, {"b": 2}], "c": 3}
    apply_edits(payload, [(("a",), 5), (("a", 1, "b"), 9), (("c",), KeyError), (("d",), 4)])
    assert payload == {"a": 5, "d": 4}


def test_the_cli_settings_of_a_scene_point_at_it_and_ask_no_daemon(tmp_path: Path) -> None:
    # With the API on, a campaign command first asks 127.0.0.1:8787, where another test
    # session's daemon may answer and take the campaign.
    sim = SimpleNamespace(root_url="http://tc", treeherder_url="http://th", hg_url="http://hg")
    sc: Any = SimpleNamespace(
        broker_url="memory://", queue="queue/t/q", store_path=tmp_path / "s.sqlite3", sim=sim
    )
    settings = load_settings(scene_config(sc, tmp_path))
    assert settings.api.enabled is False
    assert (settings.pulse.url, settings.pulse.queue, settings.store.path) == (
        "memory://",
        "queue/t/q",
        str(tmp_path / "s.sqlite3"),
    )
    assert settings.sources.taskcluster_root_url == "http://tc"
