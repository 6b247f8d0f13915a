"""gecko's confirm-failures callback, as the simulator performs it.

Modelled on mozilla/gecko-dev taskcluster/gecko_taskgraph/actions/confirm_failure.py (read,
not copied): `get_failures` walks the failing task's errorsummary lines; for every failing
test the callback creates one task of `<label>-cf` whose `confirm_modifier` sets
`MOZHARNESS_TEST_PATHS` (the test's manifest), `MOZHARNESS_CONFIRM_PATHS` (the test alone:
the harness runs only that), `MOZLOG_DUMP_ALL_TESTS` (every result written) and, for the
repeatable harnesses, `--repeat=4` (five runs of the test). The monitor has its own reading
of the same rule (`core/confirm.py`); this one works on the raw lines, as gecko does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# gecko: `len(tests) > 10` ends the reading (checked after each line).
_MAX_TESTS = 10
# gecko's repeatable harnesses, by task name (its `and "jsreftest" not in ...` binds to
# web-platform only, and "reftest" is in "jsreftest" anyway: jsreftest repeats too).
_REPEATABLE = ("crashtest", "mochitest", "reftest", "xpcshell", "web-platform")


@dataclass(frozen=True)
class Failure:
    path: str
    group: str


def cf_label(definition: JSON) -> str:
    return f"{definition['metadata']['name']}-cf"


def suite_of(definition: JSON) -> str:
    suite = str(definition.get("extra", {}).get("suite", ""))
    for marker in ("-coverage", "-qr"):
        if marker in suite:
            suite = suite[: suite.index(marker)]
    return suite


def get_failures(lines: Sequence[dict[str, object]], suite: str) -> list[Failure]:
    """The failing tests of an errorsummary, in file order, one per path."""
    tests: list[Failure] = []
    for line in lines:
        test = line.get("test")
        if "test" in line and isinstance(test, str) and test:
            path = _path(test, "web-platform" in suite)
            known = line.get("known_intermittent")
            failing = "signature" in line or (
                line.get("status") != line.get("expected")
                and line.get("status") not in (known if isinstance(known, list) else [])
            )
            if path is not None and failing and path not in [t.path for t in tests]:
                tests.append(Failure(path, str(line.get("group") or "")))
        if len(tests) > _MAX_TESTS:
            break
    return tests


def _path(test: str, wpt: bool) -> str | None:
    path = test.split(" ")[0]
    if "?" not in path:
        path = path.split(":")[-1]
    if path.endswith((".toml", ".ini", ".list")) or path == "None" or "SimpleTest" in path:
        return None
    if wpt:
        if ".any." in path:
            path = path.split(".any.")[0] + ".any.js"
        path = path.replace(".window.html", ".window.js")
        prefix = "testing/web-platform/"
        path = (
            prefix + "mozilla/tests" + path[len("/_mozilla") :]
            if path.startswith("/_mozilla")
            else prefix + "tests/" + path.strip("/")
        ).split("?")[0]
    return path.replace("\\", "/")


def modifier(failure: Failure, suite: str, label: str) -> Callable[[JSON], None]:
    """What gecko's confirm_modifier changes in the `-cf` task it creates."""

    def modify(definition: JSON) -> None:
        payload = definition["payload"]
        if any(name in label for name in _REPEATABLE):
            payload["command"] = [*payload["command"], "--repeat=4"]
        env = payload["env"]
        env["MOZHARNESS_TEST_PATHS"] = json.dumps({suite: [failure.group]}, sort_keys=True)
        env["MOZHARNESS_CONFIRM_PATHS"] = json.dumps({suite: [failure.path]}, sort_keys=True)
        env["MOZLOG_DUMP_ALL_TESTS"] = "1"
        definition["metadata"]["name"] = label
        definition["tags"]["action"] = "confirm-failure"

    return modify
