"""The CLI's campaign commands and ``POST /api/campaigns`` accept and refuse the same inputs.

One table, each row run through both: the API (over the in-memory backend) and the
command line (its planning step replaced by a recorder, so nothing reaches a source). An
accepted row must give both the same typed parameters; a refused one must be refused by
both, naming the same field (the CLI names it as its option).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from support.offline_cli import every_push_agrees

from mozci_monitor import cli, planner, wiring
from mozci_monitor.core.campaign import Campaign, new_campaign_id
from mozci_monitor.core.kinds import REGISTRY, AnyParams, Budgets
from mozci_monitor.core.model import Push
from mozci_monitor.planner import Plan

from .conftest import AUTH
from .fakes import FakeBackend

REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"
GROUP = "fQ1YvXN1SDG4IWQyLPAUMQ"
TASK = "A35mWTRuQmyj88yMnIF0fA"
LABEL = "test-linux1804-64/opt-xpcshell-1"
EVIL = r"^([\w/-]|[\w/-])*!"  # catastrophic backtracking in a backtracking engine

PUSH = {"repo": "autoland", "revision": REVISION}
WATCH = {"kind": "watch", **PUSH, "task_group": GROUP, "label": LABEL}
DOWNSTREAM = {"kind": "downstream", **PUSH, "task_group": GROUP}
BACKFILL = {"kind": "backfill", **PUSH, "label": LABEL}
BISECT = {"kind": "bisect", **PUSH, "label": LABEL}
UNTIL_FAIL = {"kind": "until-fail", **PUSH, "label": LABEL}
FILL = {"kind": "fill", **PUSH}
CONFIRM = {"kind": "confirm", **PUSH, "task_id": TASK}

# (document, the field at fault or None when both must accept it)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    # valid, with the registry's defaults and at each limit
    ("watch", WATCH, None),
    ("watch-max", {**WATCH, "times": 100, "task_ids": [TASK], "green": True}, None),
    ("watch-min", {**WATCH, "times": 1, "max_actions": 1, "campaign_budget": 1}, None),
    ("downstream", DOWNSTREAM, None),
    ("downstream-build", {**DOWNSTREAM, "build": "build-linux64/opt"}, None),
    ("backfill", BACKFILL, None),
    ("backfill-max", {**BACKFILL, "max_revisions": 25, "times": 10}, None),
    ("bisect-max", {**BISECT, "max_revisions": 100, "times": 100}, None),
    ("bisect-from", {**BISECT, "from_revision": REVISION[:12]}, None),
    ("until-fail-max", {**UNTIL_FAIL, "batch": 100, "budget": 1000}, None),
    ("until-fail-group", {**UNTIL_FAIL, "task_group": GROUP, "keep_pending": True}, None),
    ("fill", {**FILL, "include": ["xpcshell", "^test-"], "exclude": ["asan"]}, None),
    ("fill-evil-pattern", {**FILL, "include": [EVIL]}, None),
    ("budgets-max", {**WATCH, "max_actions": 100, "campaign_budget": 10_000}, None),
    ("confirm", CONFIRM, None),
    ("confirm-max", {**CONFIRM, "run": 49, "times": 100}, None),
    ("confirm-min", {**CONFIRM, "run": 0, "times": 1}, None),
    # each limit + 1 (or - 1)
    ("watch-times-0", {**WATCH, "times": 0}, "times"),
    ("watch-times-101", {**WATCH, "times": 101}, "times"),
    ("watch-times-250", {**WATCH, "times": 250}, "times"),
    ("backfill-depth-26", {**BACKFILL, "max_revisions": 26}, "max_revisions"),
    ("backfill-depth-0", {**BACKFILL, "max_revisions": 0}, "max_revisions"),
    ("backfill-times-11", {**BACKFILL, "times": 11}, "times"),
    ("bisect-times-101", {**BISECT, "times": 101}, "times"),
    ("bisect-revisions-101", {**BISECT, "max_revisions": 101}, "max_revisions"),
    ("until-fail-batch-0", {**UNTIL_FAIL, "batch": 0}, "batch"),
    ("until-fail-batch-101", {**UNTIL_FAIL, "batch": 101}, "batch"),
    ("until-fail-budget-1001", {**UNTIL_FAIL, "budget": 1001}, "budget"),
    ("confirm-run-50", {**CONFIRM, "run": 50}, "run"),
    ("confirm-run-negative", {**CONFIRM, "run": -1}, "run"),
    ("confirm-times-0", {**CONFIRM, "times": 0}, "times"),
    ("confirm-times-101", {**CONFIRM, "times": 101}, "times"),
    ("max-actions-0", {**WATCH, "max_actions": 0}, "max_actions"),
    ("max-actions-101", {**WATCH, "max_actions": 101}, "max_actions"),
    ("campaign-budget-10001", {**FILL, "campaign_budget": 10_001}, "campaign_budget"),
    # unknown fields (for that kind)
    ("watch-build", {**WATCH, "build": "build-linux64/opt"}, "build"),
    ("backfill-task-group", {**BACKFILL, "task_group": GROUP}, "task_group"),
    ("fill-label", {**FILL, "label": LABEL}, "label"),
    ("downstream-times", {**DOWNSTREAM, "times": 2}, "times"),
    ("confirm-label", {**CONFIRM, "label": LABEL}, "label"),
    # wrong types
    ("times-fraction", {**WATCH, "times": 2.5}, "times"),
    ("times-word", {**WATCH, "times": "many"}, "times"),
    ("batch-word", {**UNTIL_FAIL, "batch": "five"}, "batch"),
    ("confirm-run-word", {**CONFIRM, "run": "last"}, "run"),
    # required fields missing
    ("watch-no-label", {k: v for k, v in WATCH.items() if k != "label"}, "label"),
    (
        "downstream-no-group",
        {k: v for k, v in DOWNSTREAM.items() if k != "task_group"},
        "task_group",
    ),
    ("confirm-no-task", {k: v for k, v in CONFIRM.items() if k != "task_id"}, "task_id"),
    # bad patterns: not RE2 syntax, too long
    ("fill-unclosed", {**FILL, "include": ["("]}, "include"),
    ("fill-lookahead", {**FILL, "include": ["(?=xpcshell)"]}, "include"),
    ("fill-backreference", {**FILL, "exclude": [r"(a)\1"]}, "exclude"),
    ("fill-too-long", {**FILL, "include": ["a" * 301]}, "include"),
    # bad identifiers
    ("revision-word", {**WATCH, "revision": "tip"}, "revision"),
    ("revision-upper", {**WATCH, "revision": REVISION.upper()}, "revision"),
    ("revision-short", {**BACKFILL, "revision": REVISION[:11]}, "revision"),
    ("from-revision-bad", {**BISECT, "from_revision": "xyz"}, "from_revision"),
    ("task-group-bad", {**WATCH, "task_group": "nope"}, "task_group"),
    ("task-id-bad", {**WATCH, "task_ids": ["nope"]}, "task_ids"),
    ("confirm-task-bad", {**CONFIRM, "task_id": "not-a-slug"}, "task_id"),
    ("label-space", {**WATCH, "label": "has space"}, "label"),
    ("repo-path", {**WATCH, "repo": "../etc"}, "repo"),
]


def _argv(document: dict[str, Any], store: Path) -> list[str]:
    """The same input as command-line options."""
    spec = next(spec for spec in REGISTRY.values() if spec.name == document["kind"])
    params = dict(spec.param_fields())
    argv = [document["kind"]]
    for name, value in document.items():
        if name == "kind":
            continue
        option = "--" + (
            params[name].option
            if name in params and params[name].option
            else name.replace("_", "-")
        )
        if value is True:
            argv.append(option)
        elif isinstance(value, list):
            for item in value:
                argv += [option, str(item)]
        else:
            argv += [option, str(value)]
    return [*argv, "--store", str(store)]


class _NoServices:
    closers: list[Any] = []
    taskcluster = None
    pushlog = None


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[AnyParams]:
    """What the CLI asked its kind's planner for; the planner itself reads no source."""
    calls: list[AnyParams] = []

    async def record(params: AnyParams, sources: Any, budgets: Budgets) -> Plan:
        calls.append(params)
        group = getattr(params, "task_group", None) or GROUP
        push = Push(params.repo, params.revision, group)
        return Plan(Campaign(new_campaign_id(), params.kind, push), ())

    monkeypatch.setattr(planner, "plan_campaign", record)
    monkeypatch.setattr(wiring, "build_services", lambda settings: _NoServices())
    # Parsing parity: the push check is the same code on both sides, tested over the
    # simulator (tests/sheriff/test_*push_check.py); here no source is read.
    every_push_agrees(monkeypatch)
    return calls


def _run_cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exited:  # argparse refuses unknown options and non-integers
        return int(exited.code or 0)


@pytest.mark.parametrize(("document", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_cli_and_api_accept_and_refuse_alike(
    client: TestClient,
    backend: FakeBackend,
    planned: list[AnyParams],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    document: dict[str, Any],
    field: str | None,
) -> None:
    response = await client.post("/api/campaigns", json=document, headers=AUTH)
    body = await response.json()
    capsys.readouterr()
    code = await asyncio.to_thread(_run_cli, _argv(document, tmp_path / "store.sqlite"))
    err = capsys.readouterr().err

    if field is None:
        assert response.status == 201, body
        assert code == 0, err
        assert planned == backend.submitted, "both got the same typed parameters"
        return
    assert response.status == 400, body
    assert body["field"] == field
    assert code == 2, err
    assert planned == [] and backend.submitted == []
    spec = next(spec for spec in REGISTRY.values() if spec.name == document["kind"])
    param = dict(spec.param_fields()).get(field)
    option = param.option if param is not None and param.option else field.replace("_", "-")
    assert f"--{option}" in err, err
