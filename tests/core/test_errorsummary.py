"""errorsummary.log parsing as tables: real fixtures (tests/fixtures/errorsummary/SOURCES.md)
with the expected reading written out by hand, then bad lines one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mozci_monitor.core.errorsummary import (
    MAX_MESSAGE_CHARS,
    CrashReport,
    ErrorSummary,
    merge_summaries,
    parse_errorsummary,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "errorsummary"
BROWSER_INI = "toolkit/content/tests/browser/browser.ini"
FINDBAR = "toolkit/content/tests/browser/browser_findbar_marks.js"


def fixture(name: str) -> ErrorSummary:
    return parse_errorsummary((FIXTURES / name).read_bytes())


# name, failing tests, crash signatures, group results that are not OK, passed tests,
# known-intermittent tests, lines
REAL = [
    (
        "mozci_task_groups_errorsummary.log",
        {FINDBAR},
        [],
        {BROWSER_INI: "ERROR"},
        set(),
        set(),
        17,
    ),
    (
        "mozci_failure_types_errorsummary.log",
        {
            FINDBAR,
            "browser/base/content/test/general/tests1.js",
            "browser/base/content/test/general/tests3.js",
        },
        ["@ mozilla::dom::IDBTransaction::~IDBTransaction()"],
        {BROWSER_INI: "ERROR", "browser/base/content/test/general/browser.ini": "SKIP"},
        set(),
        set(),
        10,
    ),
    (
        "mozlog_formatter_timeout_and_crash_errorsummary.log",
        {"test_baz"},
        ["signature"],
        {"manifestA": "ERROR"},
        set(),
        set(),
        6,
    ),
    (
        "mozlog_generated_errorsummary.log",
        {"dom/base/test/test_b.html", "layout/base/tests/test_d.html"},
        ["mozilla::dom::Element::SetAttr"],
        {"dom/base/test/mochitest.toml": "ERROR", "layout/base/tests/mochitest.toml": "ERROR"},
        set(),
        {"dom/base/test/test_a.html", "dom/base/test/test_c.html"},
        9,
    ),
    (
        "mozlog_generated_dump_all_errorsummary.log",
        {"dom/base/test/test_b.html", "layout/base/tests/test_d.html"},
        ["mozilla::dom::Element::SetAttr"],
        {"dom/base/test/mochitest.toml": "ERROR", "layout/base/tests/mochitest.toml": "ERROR"},
        # test_a failed a subtest, but only as a known intermittent: it passed.
        {"dom/base/test/test_a.html"},
        {"dom/base/test/test_a.html", "dom/base/test/test_c.html"},
        11,
    ),
]


@pytest.mark.parametrize(
    ("name", "failing", "signatures", "not_ok", "passed", "known", "lines"),
    REAL,
    ids=[row[0] for row in REAL],
)
def test_real_errorsummary_logs(
    name: str,
    failing: set[str],
    signatures: list[str],
    not_ok: dict[str, str],
    passed: set[str],
    known: set[str],
    lines: int,
) -> None:
    summary = fixture(name)
    assert summary.bad_lines == 0, summary.bad_line_reasons
    assert summary.lines == lines
    assert summary.failing_tests == failing
    assert [crash.signature for crash in summary.crashes] == signatures
    assert {g: s for g, s in summary.group_results.items() if s != "OK"} == not_ok
    assert summary.passed == passed
    assert {outcome.test for outcome in summary.known_intermittent} == known
    assert summary.complete


def test_the_fields_a_campaign_matches_on_are_kept() -> None:
    summary = fixture("mozci_task_groups_errorsummary.log")
    first = summary.unexpected[0]
    assert (first.test, first.group, first.status, first.expected, first.subtest) == (
        FINDBAR,
        BROWSER_INI,
        "FAIL",
        "PASS",
        "second value",
    )
    assert first.message is not None
    assert first.message.startswith("got 1354, expected 1366 epsilon: +/- 10")
    assert len(summary.groups) == 11
    assert summary.log_errors == ("oh no!", "error!")


def test_a_crash_keeps_its_test_and_group() -> None:
    summary = fixture("mozlog_generated_errorsummary.log")
    assert summary.crashes == (
        CrashReport(
            test="layout/base/tests/test_d.html",
            group="layout/base/tests/mochitest.toml",
            signature="mozilla::dom::Element::SetAttr",
        ),
    )


def line(**fields: Any) -> str:
    return json.dumps(fields)


GOOD_GROUPS = line(action="test_groups", groups=["m.ini"])
GOOD_RESULT = line(action="group_result", group="m.ini", status="OK", duration=1)

BAD_LINES = [
    ("not json", "{not json", "not JSON"),
    ("a list", "[1, 2]", "not a JSON object"),
    ("a string", '"text"', "not a JSON object"),
    ("unknown action", line(action="suite_start"), "unknown action 'suite_start'"),
    ("no action", line(test="a.js"), "unknown action None"),
    (
        "groups not a list",
        line(action="test_groups", groups="m.ini"),
        "test_groups: groups is not a list of strings",
    ),
    (
        "test without name",
        line(action="test_result", status="FAIL", expected="PASS"),
        "test_result: test is not a string",
    ),
    (
        "status a number",
        line(action="test_result", test="a.js", status=1, expected="PASS"),
        "test_result: status is not a string",
    ),
    (
        "known_intermittent a string",
        line(
            action="test_result",
            test="a.js",
            status="FAIL",
            expected="PASS",
            known_intermittent="FAIL",
        ),
        "test_result: known_intermittent is not a list",
    ),
    (
        "crash without signature",
        line(action="crash", test="a.js"),
        "crash: signature is not a string",
    ),
    (
        "group_result without group",
        line(action="group_result", status="OK"),
        "group_result: group is not a string",
    ),
    ("log without message", line(action="log", level="ERROR"), "log: message is not a string"),
]


@pytest.mark.parametrize(("case", "bad", "reason"), BAD_LINES, ids=[row[0] for row in BAD_LINES])
def test_a_bad_line_is_counted_with_its_reason_and_the_rest_is_kept(
    case: str, bad: str, reason: str
) -> None:
    summary = parse_errorsummary("\n".join([GOOD_GROUPS, bad, GOOD_RESULT]))
    assert summary.bad_lines == 1
    assert summary.bad_line_reasons == (f"line 2: {reason}",)
    assert summary.group_results == {"m.ini": "OK"}
    assert summary.complete


def test_invalid_utf8_is_a_bad_line_not_an_error() -> None:
    summary = parse_errorsummary(GOOD_GROUPS.encode() + b"\n\xff\xfe{}\n" + GOOD_RESULT.encode())
    assert (summary.bad_lines, summary.bad_line_reasons) == (1, ("line 2: not UTF-8",))
    assert summary.group_results == {"m.ini": "OK"}


def test_deeply_nested_json_is_a_bad_line() -> None:
    summary = parse_errorsummary("[" * 100_000 + "]" * 100_000)
    assert summary.bad_lines == 1


def test_lines_past_the_limit_are_counted_not_parsed() -> None:
    text = "\n".join([GOOD_GROUPS, GOOD_RESULT, line(action="log", level="ERROR", message="x")])
    summary = parse_errorsummary(text, max_lines=2)
    assert (summary.lines, summary.bad_lines, summary.log_errors) == (2, 1, ())
    assert summary.bad_line_reasons == ("line 2: more than 2 lines",)


def test_long_messages_are_cut() -> None:
    text = line(
        action="test_result", test="a.js", status="FAIL", expected="PASS", message="m" * 10_000
    )
    (outcome,) = parse_errorsummary(text).unexpected
    assert outcome.message is not None
    assert len(outcome.message) == MAX_MESSAGE_CHARS + 1


def test_a_group_never_finished_or_without_result_makes_the_summary_incomplete() -> None:
    never_finished = parse_errorsummary(
        "\n".join([GOOD_GROUPS, line(action="group_result", group="m.ini", status=None)])
    )
    assert never_finished.group_results == {"m.ini": ""}
    assert never_finished.complete
    cut_short = parse_errorsummary(GOOD_GROUPS)
    assert not cut_short.complete
    assert not parse_errorsummary("").complete


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        ("OK", "ERROR", "ERROR"),
        ("ERROR", "OK", "ERROR"),
        ("SKIP", "OK", "OK"),
        ("OK", "SKIP", "OK"),
        ("", "OK", "OK"),
        ("ERROR", "", "ERROR"),
    ],
)
def test_a_group_run_twice_keeps_its_worst_result(first: str, second: str, merged: str) -> None:
    def run(status: str) -> ErrorSummary:
        return parse_errorsummary(
            "\n".join(
                [GOOD_GROUPS, line(action="group_result", group="m.ini", status=status or None)]
            )
        )

    assert merge_summaries([run(first), run(second)]).group_results == {"m.ini": merged}
    same_artifact = "\n".join(
        [GOOD_GROUPS]
        + [line(action="group_result", group="m.ini", status=s or None) for s in (first, second)]
    )
    assert parse_errorsummary(same_artifact).group_results == {"m.ini": merged}


def test_merging_artifacts_a_test_that_failed_once_did_not_pass() -> None:
    passing = line(action="test_result", test="a.js", group="m.ini", status="OK", expected="OK")
    failing = line(action="test_result", test="a.js", group="m.ini", status="FAIL", expected="OK")
    merged = merge_summaries([parse_errorsummary(passing), parse_errorsummary(failing)])
    assert merged.failing_tests == {"a.js"}
    assert merged.passed == frozenset()
    assert merged.lines == 2


def test_expected_failures_are_neither_failures_nor_passes() -> None:
    text = line(action="test_result", test="a.js", group="m.ini", status="FAIL", expected="FAIL")
    summary = parse_errorsummary(text)
    assert (summary.failing_tests, summary.passed) == (frozenset(), frozenset())


@given(st.lists(st.text() | st.binary(), max_size=20))
def test_any_input_is_parsed_without_raising(lines: list[str | bytes]) -> None:
    chunks = [
        chunk.encode("utf-8", "surrogatepass") if isinstance(chunk, str) else chunk
        for chunk in lines
    ]
    summary = parse_errorsummary(b"\n".join(chunks))
    assert summary.bad_lines <= summary.lines
