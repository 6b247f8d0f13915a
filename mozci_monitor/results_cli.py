"""`mozci-monitor results TASK_ID`: what a test task's structured logs say.

Reads the task's errorsummary.log artifacts (or, with `--repo` and `--job`, Treeherder's
failure lines when it has none) through the polite clients and prints its unexpected
failures minus known intermittents, its crashes, and its groups' results; with `--test`
or `--signature`, whether this task hit that signature, passed it, or says nothing about
it. Exit status: 0 when it printed an answer, 1 when the task has no test results, 2 on a
refused signature or pattern.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from mozci_monitor.config import Settings
from mozci_monitor.core.errors import PatternRefused, SignatureError, SourceError
from mozci_monitor.core.errorsummary import summary_to_json
from mozci_monitor.core.signature import FailureSignature, judge, parse_signature, signatures_of
from mozci_monitor.patterns import check_pattern, re2_search


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", help="the test task")
    parser.add_argument("--repo", help="with --job: ask Treeherder when there is no errorsummary")
    parser.add_argument("--job", type=int, help="the task's Treeherder job id")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--test", help="judge by this test path")
    which.add_argument("--signature", help="judge by test:PATH, crash:SIGNATURE or group:MANIFEST")
    parser.add_argument("--subtest", help="RE2 pattern the failing subtest must match")
    parser.add_argument("--message", help="RE2 pattern the failure message must match")
    parser.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        signature = _signature(args)
    except (SignatureError, PatternRefused) as error:
        print(f"mozci-monitor: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_report(args, settings, signature))
    except SourceError as error:
        print(f"mozci-monitor: {error}", file=sys.stderr)
        return 1
    if report is None:
        print(f"task {args.task_id}: no test results (no errorsummary.log)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print(report)
    return 0


def _signature(args: argparse.Namespace) -> FailureSignature | None:
    for pattern in (args.subtest, args.message):
        if pattern is not None:
            check_pattern(pattern)
    text = args.test if args.test is not None else args.signature
    if text is None:
        if args.subtest or args.message:
            raise SignatureError("--subtest and --message need --test or --signature")
        return None
    if args.test is not None:
        text = f"test:{text}"
    return parse_signature(text, subtest_pattern=args.subtest, message_pattern=args.message)


async def _report(
    args: argparse.Namespace, settings: Settings, signature: FailureSignature | None
) -> dict[str, Any] | None:
    from mozci_monitor.wiring import task_results_reader

    async with task_results_reader(settings) as read:
        results = await read(args.task_id, args.repo or "", args.job)
    if results is None:
        return None
    summary = results.summary
    report: dict[str, Any] = {
        "task_id": args.task_id,
        "source": results.source,
        "artifacts": list(results.artifacts),
        "failures": [s.describe() for s in signatures_of(summary)],
        "known_intermittent": sorted({o.test for o in summary.known_intermittent}),
        "results": summary_to_json(summary),
    }
    if signature is not None:
        report["signature"] = signature.describe()
        report["verdict"] = judge(signature, summary, match=re2_search).value
    return report


def _print(report: dict[str, Any]) -> None:
    results = report["results"]
    print(f"task {report['task_id']} ({report['source']}: {', '.join(report['artifacts'])})")
    print(f"  lines {results['lines']}, bad lines {results['bad_lines']}")
    for failure in report["failures"] or ["no unexpected failure"]:
        print(f"  failed: {failure}")
    for test in report["known_intermittent"]:
        print(f"  known intermittent: {test}")
    for group, status in results["group_results"].items():
        if status != "OK":
            print(f"  group {group}: {status or 'did not finish'}")
    if "verdict" in report:
        print(f"  {report['signature']}: {report['verdict']}")
