"""JSON-schema validators for the Taskcluster queue schemas kept in the reference data.

The schemas name each other by relative `$ref` ("task-status.json#") under an `$id` such as
"/schemas/queue/v1/task-status.json#", and declare a `$schema` of Taskcluster's own
metaschema, which no validator knows. So every schema is registered under its `$id` (with
the custom `$schema` dropped) and validated as draft 7, the draft Taskcluster's metaschema
extends. Used by the core conformance tests and by the simulator tests to prove that what
the fake queue sends is what the real one would.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMAS_SUBDIR = Path("taskcluster") / "schemas"


def load_schema(reference_dir: Path, schema_file_name: str) -> dict[str, Any]:
    """One schema file, without its unresolvable `$schema` key."""
    schema: dict[str, Any] = json.loads(
        (reference_dir / SCHEMAS_SUBDIR / schema_file_name).read_text(encoding="utf-8")
    )
    schema.pop("$schema", None)
    return schema


@cache
def registry_for(reference_dir: Path) -> Registry[Any]:
    """Every schema of `<reference_dir>/taskcluster/schemas`, keyed by its `$id` (sans "#")."""
    resources = []
    for path in sorted((reference_dir / SCHEMAS_SUBDIR).glob("*.json")):
        schema = load_schema(reference_dir, path.name)
        uri = str(schema["$id"]).rstrip("#")
        resources.append((uri, Resource.from_contents(schema, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def validator_for(reference_dir: Path, schema_file_name: str) -> Validator:
    """A validator for e.g. "task-pending-message.json" that resolves its relative `$ref`s."""
    schema = load_schema(reference_dir, schema_file_name)
    return Draft7Validator(schema, registry=registry_for(reference_dir))


def backfill_status(status: dict[str, Any]) -> dict[str, Any]:
    """A pre-2021 task status with the fields the current schema requires since then.

    The reference messages date from 2019, before the queue added `taskQueueId`
    (provisionerId/workerType) and `projectId` (default "none") to every status.
    """
    filled = dict(status)
    filled.setdefault("taskQueueId", f"{status.get('provisionerId')}/{status.get('workerType')}")
    filled.setdefault("projectId", "none")
    return filled
