"""The import contracts in pyproject.toml name modules one by one: a module added to the
package without being named there would escape them. These checks make that a failure."""

from __future__ import annotations

import tomllib
from pathlib import Path

import mozci_monitor

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(mozci_monitor.__file__).parent
EDGES = {"api", "notify", "pulse", "sources", "store"}
# Not application modules: the pure core, the ports, the root itself and the simulator
# (a separate program the demo and the tests start).
NOT_APPLICATION = {"core", "ports", "wiring", "sim", *EDGES}


def _top_level_modules() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    return names


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return {str(c["name"]): c for c in contracts}


def _named(contract: dict[str, object], key: str) -> set[str]:
    values = contract[key]
    assert isinstance(values, list)
    return {str(v).removeprefix("mozci_monitor.") for v in values}


def test_the_core_contract_forbids_every_other_module_of_the_package() -> None:
    contract = _contracts()["the core imports the standard library only"]
    missing = _top_level_modules() - {"core"} - _named(contract, "forbidden_modules")
    assert not missing, f"add to the core contract's forbidden_modules: {sorted(missing)}"


def test_every_application_module_is_kept_away_from_the_concrete_edges() -> None:
    name = "only the composition root imports concrete edges (the rest uses ports)"
    contract = _contracts()[name]
    application = _top_level_modules() - NOT_APPLICATION
    missing = application - _named(contract, "source_modules")
    assert not missing, f"add to the concrete-edge contract's source_modules: {sorted(missing)}"


def test_the_edges_are_exactly_the_independent_modules() -> None:
    contract = _contracts()["the edges are independent of each other"]
    assert _named(contract, "modules") == EDGES
