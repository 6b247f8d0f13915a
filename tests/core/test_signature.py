"""Failure signatures as tables: what a user may give, what a failing task yields, and
how one task's errorsummary is judged (hit, passed, did not run) — on the real fixtures
of tests/fixtures/errorsummary and on small hand-written logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mozci_monitor.core.errors import InputError, PatternRefused, SignatureError
from mozci_monitor.core.errorsummary import ErrorSummary, parse_errorsummary
from mozci_monitor.core.signature import (
    ConfirmAnswer,
    FailureSignature,
    SignatureKind,
    SignatureVerdict,
    confirm_answer,
    judge,
    parse_signature,
    signatures_of,
)
from mozci_monitor.patterns import check_pattern, re2_search

FIXTURES = Path(__file__).parent.parent / "fixtures" / "errorsummary"
HIT, PASSED, NOT_RUN = SignatureVerdict.HIT, SignatureVerdict.PASSED, SignatureVerdict.NOT_RUN
TEST, CRASH, GROUP = SignatureKind.TEST, SignatureKind.CRASH, SignatureKind.GROUP
FINDBAR = "toolkit/content/tests/browser/browser_findbar_marks.js"
BROWSER_INI = "toolkit/content/tests/browser/browser.ini"


def fixture(name: str) -> ErrorSummary:
    return parse_errorsummary((FIXTURES / name).read_bytes())


def log(*lines: dict[str, Any]) -> ErrorSummary:
    return parse_errorsummary("\n".join(json.dumps(line) for line in lines))


@pytest.mark.parametrize(
    ("text", "subtest", "expected"),
    [
        ("dom/a/test_x.html", None, FailureSignature(TEST, "dom/a/test_x.html")),
        ("test:dom/a/test_x.html", None, FailureSignature(TEST, "dom/a/test_x.html")),
        ("dom\\a\\test_x.html", None, FailureSignature(TEST, "dom/a/test_x.html")),
        ("crash:@ mozilla::Foo::Bar()", None, FailureSignature(CRASH, "@ mozilla::Foo::Bar()")),
        ("group:dom/a/mochitest.toml", None, FailureSignature(GROUP, "dom/a/mochitest.toml")),
        # a colon that is not a kind stays in the path (wpt names with a scheme-like part)
        ("http:/x.html", None, FailureSignature(TEST, "http:/x.html")),
        (
            "dom/a/test_x.html",
            "second value",
            FailureSignature(TEST, "dom/a/test_x.html", subtest_pattern="second value"),
        ),
    ],
)
def test_parse_signature(text: str, subtest: str | None, expected: FailureSignature) -> None:
    assert parse_signature(text, subtest_pattern=subtest) == expected


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("crash:", {}, "nothing after the kind"),
        ("   ", {}, "nothing after the kind"),
        ("x" * 1001, {}, "longer than 1000"),
        ("crash:sig", {"message_pattern": "x"}, "test signature only"),
        ("group:m.ini", {"subtest_pattern": "x"}, "test signature only"),
    ],
)
def test_a_bad_signature_is_refused_with_the_reason(
    text: str, kwargs: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason) as raised:
        parse_signature(text, **kwargs)
    assert isinstance(raised.value, InputError)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a", "missing \\)"),
        ("(a)\\1", "invalid escape sequence"),  # backreferences: RE2 refuses them
        ("a" * 301, "1 to 300 characters"),
        ("((a{1000}){1000}){1000}", "invalid repetition size"),
    ],
)
def test_a_pattern_re2_cannot_run_safely_is_refused(pattern: str, reason: str) -> None:
    with pytest.raises(PatternRefused, match=reason):
        check_pattern(pattern)


def test_signatures_of_a_failing_task_leave_out_known_intermittents() -> None:
    summary = fixture("mozlog_generated_errorsummary.log")
    assert signatures_of(summary) == (
        FailureSignature(TEST, "dom/base/test/test_b.html", group="dom/base/test/mochitest.toml"),
        FailureSignature(
            TEST, "layout/base/tests/test_d.html", group="layout/base/tests/mochitest.toml"
        ),
        FailureSignature(CRASH, "mozilla::dom::Element::SetAttr"),
    )


def test_signatures_of_real_mozci_log_one_per_test_and_crash() -> None:
    summary = fixture("mozci_failure_types_errorsummary.log")
    general = "browser/base/content/test/general/browser.ini"
    assert signatures_of(summary) == (
        FailureSignature(TEST, FINDBAR, group=BROWSER_INI),
        FailureSignature(TEST, "browser/base/content/test/general/tests1.js", group=general),
        FailureSignature(TEST, "browser/base/content/test/general/tests3.js", group=general),
        FailureSignature(CRASH, "@ mozilla::dom::IDBTransaction::~IDBTransaction()"),
    )


def test_a_shutdown_crash_under_the_manifests_name_yields_the_crash_not_a_test() -> None:
    summary = fixture("mozlog_formatter_timeout_and_crash_errorsummary.log")
    assert signatures_of(summary) == (
        FailureSignature(TEST, "test_baz", group="manifestA"),
        FailureSignature(CRASH, "signature"),
    )


def test_only_a_failed_group_left_when_no_test_is_named() -> None:
    summary = log(
        {"action": "test_groups", "groups": ["a/m.ini", "b/m.ini"]},
        {"action": "log", "level": "ERROR", "message": "leaked"},
        {"action": "group_result", "group": "a/m.ini", "status": "ERROR"},
        {"action": "group_result", "group": "b/m.ini", "status": "OK"},
    )
    assert signatures_of(summary) == (FailureSignature(GROUP, "a/m.ini"),)


GROUPS = {"action": "test_groups", "groups": ["dom/a/mochitest.toml", "dom/b/mochitest.toml"]}


def result(test: str, status: str, expected: str = "PASS", **more: Any) -> dict[str, Any]:
    group = test.rpartition("/")[0] + "/mochitest.toml"
    fields = {"action": "test_result", "test": test, "group": group}
    return fields | {"status": status, "expected": expected} | more


def group(name: str, status: str | None) -> dict[str, Any]:
    return {"action": "group_result", "group": name, "status": status}


X = "dom/a/test_x.html"
A_OK, B_OK = group("dom/a/mochitest.toml", "OK"), group("dom/b/mochitest.toml", "OK")
A_ERROR, B_ERROR = group("dom/a/mochitest.toml", "ERROR"), group("dom/b/mochitest.toml", "ERROR")

JUDGED = [
    ("the test failed", FailureSignature(TEST, X), [result(X, "FAIL"), A_ERROR, B_OK], HIT),
    (
        "the test timed out",
        FailureSignature(TEST, X),
        [result(X, "TIMEOUT", "OK"), A_ERROR, B_OK],
        HIT,
    ),
    (
        "orange for another test only: the test passed",
        FailureSignature(TEST, X),
        [result("dom/b/test_y.html", "FAIL"), A_OK, B_ERROR],
        PASSED,
    ),
    (
        "another test in the same manifest failed: the test still ran and passed",
        FailureSignature(TEST, X),
        [result("dom/a/test_z.html", "FAIL"), A_ERROR, B_OK],
        PASSED,
    ),
    (
        "the test failed only as a known intermittent",
        FailureSignature(TEST, X),
        [result(X, "FAIL", known_intermittent=["FAIL"]), A_OK, B_OK],
        PASSED,
    ),
    (
        "its manifest was skipped",
        FailureSignature(TEST, X),
        [group("dom/a/mochitest.toml", "SKIP"), B_OK],
        NOT_RUN,
    ),
    (
        "its manifest never finished (null result)",
        FailureSignature(TEST, X),
        [group("dom/a/mochitest.toml", None), B_OK],
        NOT_RUN,
    ),
    ("the harness stopped before its manifest", FailureSignature(TEST, X), [B_OK], NOT_RUN),
    (
        "a test of a manifest this task does not run",
        FailureSignature(TEST, "layout/c/test_w.html"),
        [A_OK, B_OK],
        NOT_RUN,
    ),
    (
        "the group given with the signature decides",
        FailureSignature(TEST, X, group="dom/b/mochitest.toml"),
        [group("dom/a/mochitest.toml", None), B_OK],
        PASSED,
    ),
    (
        "a crash attributed to the test",
        FailureSignature(TEST, X),
        [{"action": "crash", "test": X, "signature": "Foo::Bar"}, A_ERROR, B_OK],
        HIT,
    ),
    (
        "subtest pattern matches",
        FailureSignature(TEST, X, subtest_pattern=r"^second \w+$"),
        [result(X, "FAIL", subtest="second value"), A_ERROR, B_OK],
        HIT,
    ),
    (
        "subtest pattern does not match: another failure of the test",
        FailureSignature(TEST, X, subtest_pattern=r"^second \w+$"),
        [result(X, "FAIL", subtest="first value"), A_ERROR, B_OK],
        PASSED,
    ),
    (
        "message pattern matches",
        FailureSignature(TEST, X, message_pattern=r"got \d+, expected 1366"),
        [result(X, "FAIL", message="got 1354, expected 1366"), A_ERROR, B_OK],
        HIT,
    ),
    (
        "message pattern on a line without message",
        FailureSignature(TEST, X, message_pattern="got"),
        [result(X, "FAIL"), A_ERROR, B_OK],
        PASSED,
    ),
    (
        "crash signature seen",
        FailureSignature(CRASH, "Foo::Bar"),
        [{"action": "crash", "test": X, "signature": "Foo::Bar"}, A_ERROR, B_OK],
        HIT,
    ),
    (
        "another crash, run complete",
        FailureSignature(CRASH, "Foo::Bar"),
        [{"action": "crash", "test": X, "signature": "Foo::Baz"}, A_ERROR, B_OK],
        PASSED,
    ),
    ("no crash but cut short", FailureSignature(CRASH, "Foo::Bar"), [A_OK], NOT_RUN),
    ("group failed", FailureSignature(GROUP, "dom/a/mochitest.toml"), [A_ERROR, B_OK], HIT),
    ("group ok", FailureSignature(GROUP, "dom/a/mochitest.toml"), [A_OK, B_ERROR], PASSED),
    ("group absent", FailureSignature(GROUP, "dom/a/mochitest.toml"), [B_ERROR], NOT_RUN),
]


@pytest.mark.parametrize(
    ("case", "signature", "lines", "verdict"), JUDGED, ids=[row[0] for row in JUDGED]
)
def test_judge(
    case: str,
    signature: FailureSignature,
    lines: list[dict[str, Any]],
    verdict: SignatureVerdict,
) -> None:
    assert judge(signature, log(GROUPS, *lines), match=re2_search) is verdict


def test_a_task_without_errorsummary_says_nothing() -> None:
    assert judge(FailureSignature(TEST, X), None, match=re2_search) is NOT_RUN


def test_a_passing_test_is_known_from_a_dump_all_log() -> None:
    # -cf tasks write passing tests too; test_a only failed a known-intermittent subtest
    summary = fixture("mozlog_generated_dump_all_errorsummary.log")
    verdicts = {
        test: judge(FailureSignature(TEST, test), summary, match=re2_search)
        for test in ("dom/base/test/test_a.html", "dom/base/test/test_b.html")
    }
    assert verdicts == {"dom/base/test/test_a.html": PASSED, "dom/base/test/test_b.html": HIT}


def test_judged_on_real_logs() -> None:
    groups = fixture("mozci_task_groups_errorsummary.log")
    assert judge(FailureSignature(TEST, FINDBAR), groups, match=re2_search) is HIT
    # same manifest directory's other test, and a test of another manifest that ran OK
    other = "layout/base/tests/browser_other.js"
    assert judge(FailureSignature(TEST, other), groups, match=re2_search) is PASSED
    types = fixture("mozci_failure_types_errorsummary.log")
    # its manifest was skipped in this task: no answer about it
    skipped = "browser/base/content/test/general/browser_other.js"
    assert judge(FailureSignature(TEST, skipped), types, match=re2_search) is NOT_RUN


@pytest.mark.parametrize(
    ("verdicts", "answer"),
    [
        ([HIT, PASSED, PASSED], ConfirmAnswer.REGRESSION),
        ([PASSED, HIT], ConfirmAnswer.REGRESSION),
        ([PASSED, PASSED], ConfirmAnswer.INTERMITTENT),
        # a run that did not run the test neither confirms nor clears it (Treeherder)
        ([PASSED, NOT_RUN], ConfirmAnswer.INTERMITTENT),
        ([NOT_RUN, HIT], ConfirmAnswer.REGRESSION),
        ([NOT_RUN], ConfirmAnswer.UNKNOWN),
        ([], ConfirmAnswer.UNKNOWN),
    ],
)
def test_confirm_answer_is_treeherders_rule(
    verdicts: list[SignatureVerdict], answer: ConfirmAnswer
) -> None:
    assert confirm_answer(verdicts) is answer
