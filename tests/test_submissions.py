"""The typed submission models generated from the campaign kinds' registry."""

from __future__ import annotations

import pytest
import re2

from mozci_monitor import cli, planner
from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.kinds import (
    ACTION_MAX_TIMES,
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    REGISTRY,
    WatchParams,
)
from mozci_monitor.core.kinds.fill import select_labels
from mozci_monitor.submissions import compile_user_pattern, parse_submission, schema_components

EVIL = r"^([\w/-]|[\w/-])*!"
REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"
GROUP = "fQ1YvXN1SDG4IWQyLPAUMQ"


def test_users_patterns_are_compiled_by_re2() -> None:
    compiled = compile_user_pattern(EVIL)
    assert isinstance(compiled, type(re2.compile("x")))


def test_an_evil_pattern_is_matched_over_many_labels() -> None:
    # Each label is 200 word characters: a backtracking engine would not come back.
    labels = [f"test-{i:05d}-" + "a" * 189 for i in range(2000)]
    labels.append("test-linux/opt!")
    chosen = select_labels(labels, [compile_user_pattern(EVIL)], [])
    assert chosen == ["test-linux/opt!"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "missing )"),
        ("(?=x)", "perl operator"),
        (r"(a)\1", "escape"),
        ("a" * 301, "1 to 300 characters"),
        ("", "1 to 300 characters"),
    ],
)
def test_what_re2_cannot_compile_is_refused_naming_the_field(pattern: str, reason: str) -> None:
    with pytest.raises(SubmissionError) as refused:
        compile_user_pattern(pattern, "exclude")
    assert refused.value.field == "exclude"
    assert str(refused.value).startswith("exclude: ")
    assert reason in str(refused.value)


def test_defaults_come_from_the_kinds_module() -> None:
    params = parse_submission(
        {
            "kind": "watch",
            "repo": "autoland",
            "revision": REVISION,
            "task_group": GROUP,
            "label": "l",
        }
    )
    assert params == WatchParams(repo="autoland", revision=REVISION, task_group=GROUP, label="l")
    assert params.times == 1 and params.max_actions is None


def test_the_openapi_schemas_carry_the_registry_limits() -> None:
    schemas = schema_components()
    assert schemas["WatchSubmission"]["properties"]["times"]["maximum"] == ACTION_MAX_TIMES
    backfill = schemas["BackfillSubmission"]["properties"]
    assert backfill["max_revisions"]["maximum"] == BACKFILL_MAX_DEPTH
    assert backfill["times"]["maximum"] == BACKFILL_MAX_TIMES
    assert schemas["FillSubmission"]["properties"]["include"]["items"]["format"] == "regex"
    # OpenAPI 3.0 has no "null" type: optional budgets are `nullable`.
    assert schemas["WatchSubmission"]["properties"]["max_actions"]["nullable"] is True
    mapping = schemas["Submission"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(kind.value for kind in REGISTRY)


@pytest.mark.parametrize("kind", list(REGISTRY), ids=[kind.value for kind in REGISTRY])
def test_every_registry_parameter_is_a_cli_option(kind: object) -> None:
    spec = REGISTRY[kind]  # type: ignore[index]
    parser = cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    command = commands.choices[spec.name]  # type: ignore[index]
    destinations = {action.dest for action in command._actions}
    assert {name for name, _ in spec.param_fields()} <= destinations


def test_every_kind_is_registered_and_has_a_planner() -> None:
    assert set(REGISTRY) == set(CampaignKind) == set(planner.PLANNERS)
    for kind, spec in REGISTRY.items():
        assert spec.params.kind is kind


@pytest.mark.parametrize("kind", ["bisect", "backfill"])
def test_range_kinds_search_by_default_and_accept_only_search_or_sweep(kind: str) -> None:
    base = {"kind": kind, "repo": "autoland", "revision": "a" * 40, "label": "test-x/opt-y"}
    assert parse_submission(base).strategy == "search"  # type: ignore[union-attr]
    assert parse_submission({**base, "strategy": "sweep"}).strategy == "sweep"  # type: ignore[union-attr]
    with pytest.raises(SubmissionError, match="strategy: must be search or sweep"):
        parse_submission({**base, "strategy": "bisect"})


SIGNED = {
    "kind": "until-fail",
    "repo": "autoland",
    "revision": "a" * 40,
    "label": "test-linux1804-64/opt-mochitest-plain-1",
}


@pytest.mark.parametrize("kind", ["until-fail", "bisect"])
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"test": "dom/a.html", "signature": "test:dom/a.html"}, "signature"),
        ({"signature": "dom/a.html"}, "signature"),  # the kind is required
        ({"signature": "test: "}, "signature"),
        ({"test": "  "}, "test"),
        ({"test": None}, "test"),
    ],
)
def test_signature_options_refused_naming_the_field(
    kind: str, extra: dict[str, object], field: str
) -> None:
    with pytest.raises(SubmissionError) as refused:
        parse_submission({**SIGNED, "kind": kind, **extra})
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("extra", "test", "signature"),
    [
        ({"test": "dom/a.html"}, "dom/a.html", None),
        ({"signature": "crash:mozalloc_abort"}, None, "crash:mozalloc_abort"),
        ({}, None, None),
    ],
)
def test_signature_options_accepted(
    extra: dict[str, object], test: str | None, signature: str | None
) -> None:
    params = parse_submission({**SIGNED, **extra})
    assert (params.test, params.signature) == (test, signature)


def test_the_openapi_schema_refuses_test_and_signature_together() -> None:
    schema = schema_components()["UntilFailSubmission"]
    assert schema["not"] == {"anyOf": [{"required": ["signature", "test"]}]}
