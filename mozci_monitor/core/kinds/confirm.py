"""confirm: is each failing test of a task a regression or an intermittent?

The campaign starts with one action on the failing task. Where the task's suite has a
`-cf` variant in the push's full graph, gecko's `confirm-failures`: one `-cf` task per
failing test, running that test alone, repeated. Where it has none, gecko's action would
fail ("<label>-cf was not found in the task-graph"; it retriggers only when it finds no
failing test), so the campaign retriggers the task `times` times instead. Every finished
run of the request is read (`fetch-results`) and judged per test (`core/confirm.py`); once
the request ended and its runs are judged, each test gets Treeherder's answer: a run that
failed it makes it a regression, else a run that passed it makes it intermittent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mozci_monitor.core.actions import Action, ActionKind
from mozci_monitor.core.by_signature import JUDGED, judgements_in_order
from mozci_monitor.core.campaign import (
    GAVE_UP_FAILURES,
    Answer,
    Campaign,
    CampaignDecision,
    CampaignKind,
    CampaignState,
    finish_if,
    summary_only,
)
from mozci_monitor.core.confirm import (
    ConfirmedTest,
    ConfirmTarget,
    answers,
    confirm_label,
    judge_targets,
    run_verdict,
)
from mozci_monitor.core.errorsummary import ErrorSummary
from mozci_monitor.core.kinds._judged import all_runs_judged
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    SLUG_PATTERN,
    Budgets,
    CampaignParams,
    Param,
    count,
    param,
)
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.core.signature import ConfirmAnswer, PatternMatch

SUMMARY = (
    "rerun a failing task's failing tests (gecko's confirm-failures): regression or intermittent"
)

# How the tests are rerun.
VIA_CONFIRM_FAILURES = "confirm-failures"  # `-cf` tasks, one per test
VIA_RETRIGGERS = "retriggers"  # the whole task again, `times` times
# Taskcluster keeps at most 50 runs of a task (run ids 0 to 49).
MAX_RUN_ID = 49


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.CONFIRM

    task_id: str = param(
        Param(
            "the failing test task (a Taskcluster task id of the push)",
            pattern=SLUG_PATTERN,
            what="a Taskcluster slug id (22 characters)",
            option="task",  # --task-id is watch's (a task known to serve its request)
        )
    )
    run: int | None = param(
        Param(
            "the run seen failing (default: the latest); refused unless it is the latest,"
            " whose errorsummary gecko's action reads",
            minimum=0,
            maximum=MAX_RUN_ID,
            nullable=True,
        ),
        None,
    )
    times: int = param(
        count(ACTION_MAX_TIMES, "retriggers of the task where its suite has no -cf variant"), 5
    )


@dataclass(frozen=True, slots=True)
class FailingTask:
    """The task to confirm, as planning read it."""

    task_id: str
    run_id: int
    label: str
    suite: str


def build(
    params: ConfirmParams,
    push: Push,
    campaign_id: str,
    budgets: Budgets,
    *,
    failing: FailingTask,
    targets: Sequence[ConfirmTarget],
    has_confirm_variant: bool,
) -> tuple[Campaign, list[Request]]:
    """The campaign and its one request: the `-cf` tasks (one per test), or `times`
    retriggers of the failing task (the task itself is not one of the runs judged)."""
    if has_confirm_variant:
        via, label, wanted = VIA_CONFIRM_FAILURES, confirm_label(failing.label), len(targets)
        # Only judged: a `-cf` task asked again through any route would run the whole
        # chunk, not the one test (gecko sets its test paths in the action only).
        remedy, replaced = RemedyPolicy.RECORD, tuple[str, ...]()
    else:
        via, label, wanted = VIA_RETRIGGERS, failing.label, params.times
        remedy, replaced = RemedyPolicy.WATCH, (failing.task_id,)
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=label,
        wanted=wanted,
        remedy=remedy,
        replaced=replaced,
        judge_by_results=True,
        max_actions=budgets.per_request,
    )
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.CONFIRM,
        push=push,
        label=failing.label,
        params={
            "confirm": {
                "via": via,
                "task_id": failing.task_id,
                "run": failing.run_id,
                "suite": failing.suite,
                "times": params.times,
                "tests": [{"test": t.test, "path": t.path, "group": t.group} for t in targets],
            }
        },
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    return campaign, [request]


def targets_of(campaign: Campaign) -> list[ConfirmTarget]:
    return [
        ConfirmTarget(str(t["test"]), str(t["path"]), str(t.get("group") or ""))
        for t in campaign.params["confirm"]["tests"]
    ]


def start(campaign: Campaign, requests: Sequence[Request]) -> Action | None:
    """confirm-failures on the failing task, or its retriggers; the request awaits as many
    new runs as it asks for (`expect`: one `-cf` task per test, or `times`)."""
    confirm = campaign.params.get("confirm")
    if not isinstance(confirm, Mapping) or not requests:
        return None
    tests = len(confirm["tests"])
    if confirm["via"] == VIA_CONFIRM_FAILURES:
        kind, times, expect = ActionKind.CONFIRM_FAILURES, 1, tests
        why = f"confirm {tests} failing test(s) of {campaign.label} in -cf tasks"
    else:
        kind, times = ActionKind.RETRIGGER, int(confirm["times"])
        expect = times
        why = (
            f"{campaign.label} has no -cf variant: {tests} failing test(s) judged on"
            f" {times} retriggers"
        )
    return Action(
        key=f"campaign:{campaign.campaign_id}:{kind.value}",
        kind=kind,
        push=campaign.push,
        campaign_id=campaign.campaign_id,
        task_id=str(confirm["task_id"]),
        labels=(campaign.label or "",),
        times=times,
        why=why,
        details={
            "requests": ",".join(request.request_id for request in requests),
            "expect": expect,
        },
    )


def judgement(
    campaign: Campaign,
    summary: ErrorSummary | None,
    *,
    task_id: str,
    run_id: int,
    orange: bool,
    match: PatternMatch,
) -> dict[str, Any]:
    """One finished run judged per test, as kept in the campaign's `judged` (plain data;
    `verdict` sums it up for the generic counts)."""
    only_what_ran = campaign.params["confirm"]["via"] == VIA_CONFIRM_FAILURES
    verdicts = judge_targets(
        targets_of(campaign), summary, only_what_ran=only_what_ran, match=match
    )
    return {
        "task_id": task_id,
        "run_id": run_id,
        "orange": orange,
        "verdict": run_verdict(verdicts).value,
        "tests": {test: verdict.value for test, verdict in verdicts.items()},
    }


def answers_of(campaign: Campaign, request: Request) -> tuple[ConfirmedTest, ...]:
    judged = campaign.params.get(JUDGED) or {}
    counted = [t for t in request.task_ids if t not in request.replaced]
    in_order = {(j.task_id, j.run_id) for j in judgements_in_order(judged, counted)}
    runs = sorted(
        (
            (str(entry["task_id"]), int(entry["run_id"]), dict(entry.get("tests") or {}))
            for entry in judged.values()
            if (entry["task_id"], entry["run_id"]) in in_order
        ),
        key=lambda run: (counted.index(run[0]), run[1]),
    )
    return answers(targets_of(campaign), runs)


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """The answer first (the regressions, then the intermittents), per test the runs."""
    request = requests[0]
    confirm = campaign.params["confirm"]
    found = answers_of(campaign, request)
    named: dict[ConfirmAnswer, list[str]] = {kind: [] for kind in ConfirmAnswer}
    for test in found:
        named[test.answer].append(test.target.test)
    parts = [
        f"{word}: {', '.join(named[kind])}"
        for kind, word in (
            (ConfirmAnswer.REGRESSION, "regression"),
            (ConfirmAnswer.INTERMITTENT, "intermittent"),
        )
        if named[kind]
    ]
    if named[ConfirmAnswer.UNKNOWN]:  # counted: the table names them
        parts.append(f"cannot tell for {len(named[ConfirmAnswer.UNKNOWN])} test(s)")
    how = (
        "-cf tasks"
        if confirm["via"] == VIA_CONFIRM_FAILURES
        else f"{confirm['times']} retriggers (no -cf variant)"
    )
    outcome = f"{'; '.join(parts)} (by {how})"
    state = CampaignState.FINISHED
    if request.failure in GAVE_UP_FAILURES:
        state = CampaignState.GAVE_UP
        outcome = f"{request.reason}; {outcome}"
    result = {
        "answer": {
            "via": confirm["via"],
            "failed_task": confirm["task_id"],
            "run": confirm["run"],
            "label": campaign.label,
            "runs_label": request.label,
            "tests": [
                {
                    "test": test.target.test,
                    "group": test.target.group,
                    "answer": test.answer.value,
                    "runs": len(test.runs),
                    "failed": test.failed,
                    "decided_by": None
                    if test.deciding_run is None
                    else {"task_id": test.deciding_run.task_id, "run_id": test.deciding_run.run_id},
                }
                for test in found
            ],
            "regressions": named[ConfirmAnswer.REGRESSION],
            "intermittents": named[ConfirmAnswer.INTERMITTENT],
            "unknown": named[ConfirmAnswer.UNKNOWN],
        }
    }
    return state, outcome, result


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Ends once its request ended (bounded like every request) and its runs are judged."""
    if requests and not all_runs_judged(campaign, requests):
        return summary_only(campaign, requests)
    return finish_if(campaign, requests, answer, need_requests=True)
