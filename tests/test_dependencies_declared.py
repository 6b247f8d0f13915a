"""Every third-party package the daemon's code imports is a declared dependency.

The test extra pulls in many packages of its own, so a missing runtime dependency passes
the whole suite and only fails `pip install . && mozci-monitor demo` on a fresh machine
(rich did exactly that once). This reads the imports and pyproject.toml, installs nothing."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import mozci_monitor

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(mozci_monitor.__file__).parent
# import name -> distribution name, where they differ
DISTRIBUTION = {
    "jsone": "json-e",
    "re2": "google-re2",
    "asyncio_throttle": "asyncio-throttle",
    "psycopg": "psycopg",
}
# Installed with a declared dependency (aiohttp depends on yarl, kombu on amqp).
TRANSITIVE = {"yarl": "aiohttp", "amqp": "kombu"}
OPTIONAL = {"psycopg": "postgres"}  # imported only when that store is configured


def _imports() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "mozci_monitor"}


def _declared(key: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] if key is None else project["optional-dependencies"][key]
    return {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in specs}


def test_every_imported_package_is_declared() -> None:
    runtime = _declared()
    missing = []
    for name in sorted(_imports()):
        if name in TRANSITIVE:
            assert TRANSITIVE[name] in runtime
            continue
        distribution = DISTRIBUTION.get(name, name).lower().replace("_", "-")
        declared = _declared(OPTIONAL[name]) if name in OPTIONAL else runtime
        if distribution not in {d.replace("_", "-") for d in declared}:
            missing.append(distribution)
    assert not missing, f"add to [project] dependencies in pyproject.toml: {missing}"
