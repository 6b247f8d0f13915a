"""until-fail: retrigger a label in batches while no run failed; report the first failure.

With a failure signature (`test`, or `signature`) a run is judged by its test results, not
its colour: an orange run that did not hit the signature is recorded (its failures counted)
and the batches go on; the run that hits it is the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mozci_monitor.core.by_signature import (
    JUDGED,
    describe_until_fail,
    judgements_in_order,
    signature_from_json,
    signature_to_json,
    until_fail_progress,
)
from mozci_monitor.core.campaign import (
    Answer,
    Campaign,
    CampaignDecision,
    CampaignKind,
    CampaignState,
    finish_if,
    summary_only,
)
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    LABEL,
    LOOKED_UP_TASK_GROUP,
    MAX_RUNS_BUDGET,
    Budgets,
    CampaignParams,
    Param,
    count,
    param,
)
from mozci_monitor.core.kinds._signature import check_signature, signature_field, test_field
from mozci_monitor.core.kinds._signature import failure_signature as signature_of
from mozci_monitor.core.model import FailureKind, Push, RemedyPolicy, Request, RequestState
from mozci_monitor.core.signature import FailureSignature

SUMMARY = "retrigger a label in batches until a run fails (an intermittent)"


@dataclass(frozen=True, slots=True, kw_only=True)
class UntilFailParams(CampaignParams):
    kind: ClassVar[CampaignKind] = CampaignKind.UNTIL_FAIL

    task_group: str | None = param(LOOKED_UP_TASK_GROUP, None)
    label: str = param(LABEL)
    # Each batch is one retrigger of `batch` runs.
    batch: int = param(count(ACTION_MAX_TIMES, "runs at a time"), 5)
    budget: int = param(count(MAX_RUNS_BUDGET, "runs at most"), 50)
    keep_pending: bool = param(Param("do not cancel open runs after a failure"), False)
    test: str | None = test_field()
    signature: str | None = signature_field()

    def check(self) -> None:
        check_signature(self.test, self.signature)


def failure_signature(params: UntilFailParams) -> FailureSignature | None:
    """What the runs are judged by, if not by their colour."""
    return signature_of(params.test, params.signature)


def build(
    params: UntilFailParams, push: Push, campaign_id: str, budgets: Budgets
) -> tuple[Campaign, list[Request]]:
    """One request wanting `budget` runs, retriggered `batch` at a time until one fails
    (with a signature: until one hits it)."""
    cancel_on_fail = not params.keep_pending
    signature = failure_signature(params)
    request = Request(
        request_id=f"{campaign_id}-r1",
        push=push,
        label=params.label,
        wanted=params.budget,
        remedy=RemedyPolicy.UNTIL_FAIL if signature is None else RemedyPolicy.UNTIL_SIGNATURE,
        judge_by_results=signature is not None,
        batch=params.batch,
        cancel_on_fail=cancel_on_fail,
        # Its budget counts tasks: every run of the budget, plus room for a rerun or two
        # of infrastructure failures.
        max_actions=params.budget + 3,
    )
    campaign = Campaign(
        campaign_id=campaign_id,
        kind=CampaignKind.UNTIL_FAIL,
        push=push,
        label=params.label,
        params={
            "batch": params.batch,
            "budget": params.budget,
            "cancel_on_fail": cancel_on_fail,
            **({} if signature is None else {"signature": signature_to_json(signature)}),
        },
        max_actions=budgets.per_campaign,
        dry_run=params.dry_run,
    )
    return campaign, [request]


def answer(campaign: Campaign, requests: Sequence[Request]) -> Answer:
    """The failing task and the green runs before it, or that the budget ran out."""
    request = requests[0]
    if "signature" in campaign.params:
        return answer_by_signature(campaign, request)
    runs = request.runs_green + request.runs_orange
    answer: dict[str, Any] = {
        "answer": {
            "failed_task": request.first_orange,
            "green": request.runs_green,
            "orange": request.runs_orange,
        }
    }
    if request.failure is FailureKind.ORANGE:
        return (
            CampaignState.FINISHED,
            f"failure hit on run {runs} ({request.runs_green} green before it):"
            f" task {request.first_orange}",
            answer,
        )
    if request.state is RequestState.COMPLETED:
        return CampaignState.FINISHED, f"no failure in {runs} runs (budget reached)", answer
    if request.failure is FailureKind.BUDGET:
        return (
            CampaignState.GAVE_UP,
            f"{request.reason}; {request.runs_green} green runs, no failure",
            answer,
        )
    return CampaignState.FAILED, request.reason or request.state.value, answer


def answer_by_signature(campaign: Campaign, request: Request) -> Answer:
    """The run that hit the signature (task, run, how many runs it took), the runs that
    passed it or said nothing about it, and the other failures seen with their counts."""
    signature = signature_from_json(campaign.params["signature"]).describe()
    found = until_fail_progress(
        judgements_in_order(campaign.params.get(JUDGED) or {}, request.task_ids)
    )
    described = describe_until_fail(found)
    hit = found.hit
    others = sum(found.other_failures.values())
    tally = (
        f"{found.passes} passed, {found.missing} without the test, {others} other failure(s) seen"
    )
    result: dict[str, Any] = {
        "answer": {
            **described,
            "signature": signature,
            "failed_task": None if hit is None else hit.task_id,
            "green": request.runs_green,
            "orange": request.runs_orange,
        }
    }
    if hit is not None:
        return (
            CampaignState.FINISHED,
            f"{signature} hit on run {found.runs} ({tally}): task {hit.task_id}",
            result,
        )
    if request.state is RequestState.COMPLETED:
        return (
            CampaignState.FINISHED,
            f"{signature} not hit in {found.runs} runs (budget reached; {tally})",
            result,
        )
    if request.failure is FailureKind.BUDGET:
        return CampaignState.GAVE_UP, f"{request.reason}; {signature} not hit ({tally})", result
    return CampaignState.FAILED, request.reason or request.state.value, result


def all_runs_judged(campaign: Campaign, request: Request) -> bool:
    """Every run that finished has its judgement, or one hit the signature: the answer is
    whole. (A run ended by its hit's cancellation finished nothing to judge.)"""
    judged = judgements_in_order(campaign.params.get(JUDGED) or {}, request.task_ids)
    if until_fail_progress(judged).hit is not None:
        return True
    return len(judged) >= request.runs_green + request.runs_orange


def progress(campaign: Campaign, requests: Sequence[Request]) -> CampaignDecision:
    """Ends with its one request; judged by a signature, once its runs are judged."""
    if "signature" in campaign.params and requests and not all_runs_judged(campaign, requests[0]):
        return summary_only(campaign, requests)
    return finish_if(campaign, requests, answer, need_requests=True)
