"""Malformed and hostile Pulse messages, generated with hypothesis, each invalid by construction.

They go to the task exchanges with routing keys the watched group's binding matches
(`primary.*.*.*.*.*.*.*.<group>.#`), so every one reaches the daemon's queue. Kinds: bytes
that are not JSON (or not UTF-8), JSON that is not an object, a real message with a required
field removed or given a value of the wrong type, a body over the 1 MiB limit, nesting
deep enough to break a recursive parser.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chaos.relay import Raw
from mozci_monitor.sim import PulseMessage
from mozci_monitor.sim.pulse_messages import TASK_EXCHANGES, exchange_name

EXCHANGES = [exchange_name(suffix.removeprefix("task-")) for suffix in TASK_EXCHANGES]
HUGE = (1 << 20) + 4096  # just over the parser's limit
DEEP = 200_000
_SLUG_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

# Paths of required fields in a message body, with the type their value must have.
_REQUIRED: list[tuple[tuple[str | int, ...], type]] = [
    (("version",), int),
    (("status",), dict),
    (("status", "taskId"), str),
    (("status", "taskGroupId"), str),
    (("status", "state"), str),
    (("status", "retriesLeft"), int),
    (("status", "runs"), list),
]
_RUN_REQUIRED: list[tuple[str, type]] = [("runId", int), ("state", str), ("reasonCreated", str)]


def _any_json(exclude: type) -> st.SearchStrategy[Any]:
    """A JSON value of any type but `exclude` (bool is not an int here)."""
    choices: list[st.SearchStrategy[Any]] = [st.none(), st.booleans()]
    if exclude is not float:
        choices.append(st.floats(allow_nan=False, allow_infinity=False).filter(math.isfinite))
    if exclude is not str:
        choices.append(st.text(max_size=30))
    if exclude is not list:
        choices.append(st.lists(st.integers(), max_size=3))
    if exclude is not dict:
        choices.append(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
    if exclude is not int:
        choices.append(st.integers(min_value=-(2**70), max_value=2**70))
    return st.one_of(choices)


def _routing_key(task_id: str, group: str) -> str:
    return f"primary.{task_id}.0.wg.wid.prov.wtype.sched.{group}._"


@st.composite
def hostile(draw: st.DrawFn, valid: list[PulseMessage], group: str) -> Raw:
    """One invalid message for `group`'s binding."""
    exchange = draw(st.sampled_from(EXCHANGES))
    task_part = draw(st.text(alphabet=_SLUG_ALPHABET, min_size=1, max_size=22))
    key = _routing_key(task_part, group)
    kind = draw(st.sampled_from(["bytes", "not-object", "missing", "wrong-type", "run-field"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=300).filter(lambda b: not _is_json_object(b)))
        return Raw(exchange, key, body)
    if kind == "not-object":
        value = draw(_any_json(exclude=dict))
        return Raw(exchange, key, json.dumps(value).encode())
    base = draw(st.sampled_from(valid))
    body = json.loads(json.dumps(base.body))
    if kind == "run-field":
        runs = body["status"]["runs"]
        if not runs:
            kind = "missing"
        else:
            index = draw(st.integers(0, len(runs) - 1))
            field, expected = draw(st.sampled_from(_RUN_REQUIRED))
            if draw(st.booleans()):
                del runs[index][field]
            else:
                runs[index][field] = draw(_any_json(exclude=expected))
            return Raw(base.exchange, base.routing_key, json.dumps(body).encode())
    path, expected = draw(st.sampled_from(_REQUIRED))
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if kind == "missing":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(_any_json(exclude=expected))
    return Raw(base.exchange, base.routing_key, json.dumps(body).encode())


def has_bool_run_id(body: bytes) -> bool:
    """A body whose runs carry a boolean runId equal to its index (False for run 0), which
    the parser once took for the run's number (test_hostile_parsing.py)."""
    try:
        runs = json.loads(body)["status"]["runs"]
        return any(
            isinstance(run.get("runId"), bool) and run["runId"] == index
            for index, run in enumerate(runs)
        )
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError, TypeError, AttributeError):
        return False


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def heavy(valid: list[PulseMessage], group: str, count: int) -> list[Raw]:
    """Bodies just over the size limit, and nesting deep enough to break a recursive parser
    (a few only: each huge one is a MiB on the broker)."""
    out = []
    for index in range(count):
        base = valid[index % len(valid)]
        if index % 2 == 0:
            body = dict(base.body, padding="x" * HUGE)
            out.append(Raw(base.exchange, base.routing_key, json.dumps(body).encode()))
        else:
            nested = b'{"version": 1, "status": ' + b"[" * DEEP + b"]" * DEEP + b"}"
            out.append(Raw(base.exchange, _routing_key("deep", group), nested))
    return out


def hostile_messages(
    valid: list[PulseMessage], group: str, count: int, *, heavy_count: int = 6
) -> list[Raw]:
    """`count` invalid messages: `heavy_count` heavy ones, the rest drawn by hypothesis
    (derandomized: the same every run), the heavy ones spread among them."""
    drawn: list[Raw] = []

    @settings(
        max_examples=count - heavy_count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(hostile(valid, group))
    def collect(message: Raw) -> None:
        drawn.append(message)

    collect()
    light = count - heavy_count
    while len(drawn) < light:  # hypothesis stops early when it runs out of new examples
        drawn += drawn[: light - len(drawn)]
    drawn = drawn[:light]
    step = max(1, light // max(1, heavy_count))
    for index, message in enumerate(heavy(valid, group, heavy_count)):
        drawn.insert(min(len(drawn), (index + 1) * step), message)
    return drawn
