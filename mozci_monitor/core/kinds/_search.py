"""A range campaign (bisect, backfill) run as a search (`--strategy search`): the next
batch, or the answer.

The campaign's `pushes` entries (oldest first) hold each push's runs found at planning
and, once the search sampled it, the id of its newest request (every new request on a
push adopts the runs already there, so the newest one counts them all). What a run
counts as (bad or good) is `counts_by_colour`'s — job colour — and can be swapped for a
judge by failure signature without touching where the search samples (`core.search`).
Request ids follow from the push and the runs wanted, so deciding again after a restart
adds nothing twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mozci_monitor.core.backout import Backout, backed_out_by
from mozci_monitor.core.by_signature import PushCounts
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignDecision,
    CampaignState,
    notification_action,
    summarise,
    summary_only,
)
from mozci_monitor.core.kinds._judged import judged_result
from mozci_monitor.core.model import Push, RemedyPolicy, Request
from mozci_monitor.core.search import (
    Outcome,
    Phase,
    SearchAnswer,
    SearchPolicy,
    SearchStep,
    Strategy,
    confidence_text,
    next_step,
    obsolete_pending,
)
from mozci_monitor.core.sheriff import PushResult, Verdict, change_point

Judge = Callable[[Mapping[str, Any], Request | None], PushCounts]


def counts_by_colour(entry: Mapping[str, Any], request: Request | None) -> PushCounts:
    """A push's runs by job colour: orange is bad, green is good. The request adopts the
    runs planning found, but may not have seen them yet: never fewer than those."""
    found = PushCounts(hits=int(entry.get("orange", 0)), passes=int(entry.get("green", 0)))
    if request is None:
        return found
    return PushCounts(
        hits=max(found.hits, request.runs_orange), passes=max(found.passes, request.runs_green)
    )


def judge_of(campaign: Campaign) -> Judge:
    """How the search counts a push's runs: by job colour, or, when the campaign judges by
    a failure signature, by the runs' judgements (a run without the test counts neither
    way; runs found at planning are not judged, so they do not count)."""
    if "signature" not in campaign.params:
        return counts_by_colour

    def by_signature(entry: Mapping[str, Any], request: Request | None) -> PushCounts:
        if request is None:
            return PushCounts()
        result = judged_result(campaign, request, int(entry["push_id"]), str(entry["revision"]))
        return PushCounts(hits=result.orange, passes=result.green)

    return by_signature


def policy_of(campaign: Campaign) -> SearchPolicy:
    """At most the runs a sweep would ask for (`times` on every push)."""
    stored = campaign.params.get("search") or {}
    pushes = len(campaign.params.get("pushes", ()))
    budget = int(stored.get("budget", int(campaign.params.get("times", 10)) * pushes))
    default = SearchPolicy()
    return SearchPolicy(
        alpha=float(stored.get("alpha", default.alpha)),
        probe_alpha=float(stored.get("probe_alpha", default.probe_alpha)),
        budget=budget,
        push_share=int(stored.get("push_share", budget)),
    )


def search_progress(
    campaign: Campaign, requests: Sequence[Request], judge: Judge = counts_by_colour
) -> CampaignDecision:
    entries = list(campaign.params.get("pushes", ()))
    by_id = {r.request_id: r for r in requests}
    # Pushes without a decision task cannot be sampled: the search runs over the others.
    usable = [index for index, entry in enumerate(entries) if entry.get("task_group_id")]
    newest = {index: by_id.get(str(entries[index].get("request_id") or "")) for index in usable}
    counts = _with_failing_run_selected([judge(entries[index], newest[index]) for index in usable])
    open_requests = {
        position: request
        for position, index in enumerate(usable)
        if (request := newest[index]) is not None and not request.is_final
    }
    pending = {
        position: max(1, request.wanted - _runs_had(counts[position], request))
        for position, request in open_requests.items()
    }
    step = next_step(counts, policy_of(campaign), pending=pending)
    if step.phase is Phase.DONE:
        # Given with runs still out only when none of them can change it (`decided`):
        # the engine cancels them once the campaign has ended.
        return _finish(campaign, requests, entries, usable, counts, step)
    behind = _left_behind(counts, open_requests, step.push)
    if step.phase is Phase.WAIT:
        waiting = summary_only(campaign, requests)
        return replace(waiting, obsolete_requests=behind)
    assert step.push is not None
    index = usable[step.push]
    entry = entries[index]
    wanted = _runs_had(counts[step.push], newest[index]) + step.runs
    request = Request(
        request_id=f"{campaign.campaign_id}-p{entry['push_id']}-n{wanted}",
        push=Push(campaign.push.repo, str(entry["revision"]), str(entry["task_group_id"])),
        label=campaign.label or "",
        wanted=wanted,
        remedy=RemedyPolicy.WATCH,
        max_actions=int(campaign.params.get("max_actions", 3)),
        campaign_id=campaign.campaign_id,
        # Judged by a signature: each run's test results are fetched and judged.
        judge_by_results="signature" in campaign.params,
    )
    previous = newest[index]
    if previous is not None and previous.request_id == request.request_id:
        # Asked for already and it ended without the runs (budget, exceptions): stuck.
        why = previous.reason or previous.state.value
        stuck = replace(
            step,
            phase=Phase.DONE,
            answer=SearchAnswer(
                Outcome.UNKNOWN,
                f"push {entry['push_id']}: runs could not be had ({why})",
                cannot_tell=step.push,
            ),
        )
        return _finish(campaign, requests, entries, usable, counts, stuck)
    entries[index] = {**entry, "request_id": request.request_id}
    sampled = [*campaign.params.get("search_steps", ()), _describe_step(step, entry, wanted)]
    params = {**campaign.params, "pushes": entries, "search_steps": sampled}
    summary = {**_kept(campaign), **summarise(requests), "search": sampled[-1]}
    grown = replace(campaign, params=params, summary=summary)
    return CampaignDecision(grown, (), True, (request,), obsolete_requests=behind)


def _left_behind(
    counts: Sequence[PushCounts], open_requests: Mapping[int, Request], needed: int | None
) -> tuple[str, ...]:
    """The open requests on pushes newer than the earliest bad one, but the push the next
    step samples or waits for (`needed`): their runs still out no longer matter
    (`obsolete_pending`). Only a request whose runs all exist is named
    (none asked for and not seen yet): a run that shows up after its request ended would
    be no one's to cancel."""
    settled = {
        position: [request.request_id]
        for position, request in open_requests.items()
        if request.expected_new == 0 and not request.awaiting_rerun and request.action_tasks
    }
    return tuple(obsolete_pending(counts, settled, answered=False, needed=needed))


def _kept(campaign: Campaign) -> dict[str, Any]:
    """What the engine wrote in the summary and the search keeps: the obsolete runs
    cancelled so far ("cleanup")."""
    return {key: campaign.summary[key] for key in ("cleanup",) if key in campaign.summary}


def _with_failing_run_selected(counts: list[PushCounts]) -> list[PushCounts]:
    """The campaign starts from a failing run of the newest push, chosen because it failed:
    one hit there places the failure, it is no sample of how often it fails
    (`PushCounts.selected`)."""
    if counts and counts[-1].hits:
        counts[-1] = replace(counts[-1], selected=1)
    return counts


def _runs_had(counts: PushCounts, request: Request | None) -> int:
    """The runs a push has: the ones counted, and the ones its newest request ran that
    said nothing of the signature (missing data). The next request wants that many more,
    so a push with runs that were missing data is never asked for the same request twice
    (taken for "the runs could not be had")."""
    counted = counts.hits + counts.passes
    if request is None:
        return counted
    return max(counted, request.runs_green + request.runs_orange)


def _backed_out(
    suspect: Mapping[str, Any], later: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The push of the range after the suspect whose description backed it out (pushes
    after the newest analysed are not looked at)."""
    backouts = [
        Backout(str(entry["revision"]), tuple(entry["backs_out"]))
        for entry in later
        if entry.get("backs_out")
    ]
    found = backed_out_by([str(node) for node in suspect.get("changesets", ())], backouts)
    if found is None:
        return None
    entry = next(e for e in later if e["revision"] == found.revision)
    return {"push_id": entry["push_id"], "revision": found.revision}


def _describe_step(step: SearchStep, entry: Mapping[str, Any], wanted: int) -> dict[str, Any]:
    return {
        "phase": step.phase.value,
        "push_id": entry["push_id"],
        "revision": entry["revision"],
        "runs": step.runs,
        "wanted": wanted,
    }


def _finish(
    campaign: Campaign,
    requests: Sequence[Request],
    entries: Sequence[Mapping[str, Any]],
    usable: Sequence[int],
    counts: Sequence[PushCounts],
    step: SearchStep,
) -> CampaignDecision:
    found = step.answer
    assert found is not None
    results = [
        PushResult(
            int(entries[index]["push_id"]),
            str(entries[index]["revision"]),
            Verdict.FAILED if c.hits else Verdict.PASSED if c.passes else Verdict.NOT_RUN,
            green=c.passes,
            orange=c.hits,
        )
        for index, c in zip(usable, counts, strict=True)
    ]
    answer: dict[str, Any] = {
        "strategy": Strategy.SEARCH.value,
        "outcome": found.outcome.value,
        "reason": found.reason,
        "revisions": change_point(results)["revisions"],
        "first_worse": None,
        "tasks": sum(c.hits + c.passes for c in counts),
        "reproduces_at_newest": bool(counts and counts[-1].hits),
        # What backfill's pages read: each push's verdict, the first bad one.
        "first_bad": None,
        "pushes": [
            {
                "push_id": r.push_id,
                "revision": r.revision,
                "verdict": r.verdict.value,
                "green": r.green,
                "orange": r.orange,
            }
            for r in results
        ],
    }
    if found.outcome is Outcome.CULPRIT and found.culprit is not None:
        culprit, parent = results[found.culprit], results[found.culprit - 1]
        answer["first_worse"] = {
            "push_id": culprit.push_id,
            "revision": culprit.revision,
            # Rounded down, like its text: short of certainty it never reads 1.
            "confidence": math.floor(found.confidence * 10_000) / 10_000,
        }
        answer["last_good"] = {"push_id": parent.push_id, "revision": parent.revision}
        answer["first_bad"] = {"push_id": culprit.push_id, "revision": culprit.revision}
        later = [entries[index] for index in range(usable[found.culprit] + 1, len(entries))]
        backout = _backed_out(entries[usable[found.culprit]], later)
        outcome = (
            f"first fails at {culprit.revision[:12]} (push {culprit.push_id}),"
            f" last good {parent.revision[:12]} (push {parent.push_id});"
            f" confidence {confidence_text(found.confidence)}"
        )
        if backout is not None:
            answer["backed_out_by"] = backout
            outcome += (
                f"; already backed out by {str(backout['revision'])[:12]}"
                f" (push {backout['push_id']})"
            )
    else:
        outcome = f"cannot tell: {found.reason}"
    answer["summary"] = outcome
    summary = {**_kept(campaign), **summarise(requests), "answer": answer}
    finished = replace(campaign, state=CampaignState.FINISHED, outcome=outcome, summary=summary)
    return CampaignDecision(finished, (notification_action(finished),), True)
