"""Fixtures for the simulator tests: small deterministic worlds and the Taskcluster schemas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Resource
from referencing.jsonschema import DRAFT7
from schema_registry import load_schema, registry_for

from mozci_monitor.sim import PulseMessage, SimConfig, Simulator

SMALL_GRAPH: dict[str, Any] = {
    "platforms": ("linux1804-64/opt", "windows11-64/debug"),
    "suites": (("mochitest-browser-chrome", 2), ("xpcshell", 1)),
}
QUIET: dict[str, Any] = {
    "intermittent_rate": 0.0,
    "claim_expired_rate": 0.0,
    "worker_shutdown_rate": 0.0,
}

_TASK_METADATA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "description": {"type": "string", "maxLength": 32768},
        "owner": {"type": "string", "maxLength": 255},
        "source": {"type": "string", "maxLength": 4096},
    },
    "required": ["name", "description", "owner", "source"],
}

SimFactory = Callable[..., Awaitable[Simulator]]


def small_config(**overrides: Any) -> SimConfig:
    """A small, fully manual world: 6 pushes (3 in the past), no broker, no randomness in
    outcomes unless the test asks for it."""
    values: dict[str, Any] = {
        "seed": 7,
        "pushes": 6,
        "history_pushes": 3,
        "push_interval": 4000.0,
        "auto_advance": False,
        "broker_url": None,
        **SMALL_GRAPH,
        **QUIET,
    }
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    started: list[Simulator] = []

    async def factory(**overrides: Any) -> Simulator:
        sim = Simulator(small_config(**overrides))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Simulator:
    return await make_sim()


@pytest.fixture
def collected(sim: Simulator) -> list[PulseMessage]:
    messages: list[PulseMessage] = []
    sim.add_message_listener(messages.append)
    return messages


@pytest.fixture(scope="session")
def validate(reference_dir: Path) -> Callable[[str, Any], None]:
    """validate(schema file name, instance): raise if `instance` does not conform,
    date-time formats included."""

    # task.json names task-metadata.json, which the reference set lacks: stand in for it
    # with its documented shape so full task definitions can be checked too.
    registry = registry_for(reference_dir).with_resource(
        "/schemas/queue/v1/task-metadata.json",
        Resource.from_contents(_TASK_METADATA, default_specification=DRAFT7),
    )

    def check(name: str, instance: Any) -> None:
        validator = jsonschema.Draft7Validator(
            load_schema(reference_dir, name),
            registry=registry,
            format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
        )
        validator.validate(instance)

    return check
