"""core/kinds/_search.py: a bisect campaign run as a search grows by one request per
batch, with ids that follow from the push and the runs wanted (the same decision after a
restart adds nothing), waits for a batch, and ends with the culprit or "cannot tell"."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.kinds import bisect
from mozci_monitor.core.model import ActionTask, FailureKind, Push, Request, RequestState

REPO = "autoland"
LABEL = "test-linux1804-64/opt-mochitest-1"


def revision(push_id: int) -> str:
    return f"{push_id:012x}" + "0" * 28


def group(push_id: int) -> str:
    return f"Group{push_id:06d}" + "A" * 10 + "w"


def campaign(runs: list[tuple[int, int]], **params: Any) -> Campaign:
    """Pushes 101… with (green, orange) runs found at planning, the last one failing."""
    entries = [
        {
            "push_id": 101 + i,
            "revision": revision(101 + i),
            "task_group_id": group(101 + i),
            "green": green,
            "orange": orange,
        }
        for i, (green, orange) in enumerate(runs)
    ]
    last = 100 + len(runs)
    return Campaign(
        "c-search0001",
        CampaignKind.BISECT,
        Push(REPO, revision(last), group(last)),
        label=LABEL,
        params={"strategy": "search", "times": 10, "pushes": entries, **params},
    )


def test_the_first_batch_is_on_the_failing_push_and_its_id_is_deterministic() -> None:
    start = campaign([(0, 0)] * 5 + [(0, 1)])
    decision = bisect.progress(start, [])
    (request,) = decision.new_requests
    assert (request.request_id, request.wanted) == ("c-search0001-p106-n3", 3)
    assert request.push == Push(REPO, revision(106), group(106))
    assert decision.campaign.params["pushes"][-1]["request_id"] == request.request_id
    assert decision.campaign.params["search_steps"][-1]["phase"] == "lookback"
    # Deciding again from the same state (a restart) asks for the very same request.
    assert bisect.progress(start, []).new_requests == (request,)


def test_a_batch_still_running_is_waited_for() -> None:
    grown = bisect.progress(campaign([(0, 0)] * 5 + [(0, 1)]), []).campaign
    running = Request(
        "c-search0001-p106-n3",
        Push(REPO, revision(106), group(106)),
        LABEL,
        wanted=3,
        state=RequestState.RUNNING,
        runs_orange=2,
        campaign_id="c-search0001",
    )
    decision = bisect.progress(grown, [running])
    assert decision.new_requests == () and not decision.campaign.is_final


def test_the_answer_names_the_culprit_with_its_confidence() -> None:
    decision = bisect.progress(campaign([(40, 0)] * 3 + [(0, 5)] * 3), [])
    done = decision.campaign
    assert done.state is CampaignState.FINISHED
    answer = done.summary["answer"]
    assert answer["first_worse"]["push_id"] == 104 and answer["last_good"]["push_id"] == 103
    assert answer["first_worse"]["confidence"] >= 0.99
    assert answer["tasks"] == 135 and answer["reproduces_at_newest"] is True
    assert done.outcome is not None and done.outcome.startswith(
        f"first fails at {revision(104)[:12]} (push 104), last good {revision(103)[:12]}"
    )
    assert [a.kind.value for a in decision.actions] == ["notify"]


def test_failing_from_the_oldest_push_cannot_tell() -> None:
    done = bisect.progress(campaign([(0, 3)] * 3), []).campaign
    assert done.state is CampaignState.FINISHED
    assert done.summary["answer"]["first_worse"] is None
    assert done.outcome == "cannot tell: failing on the oldest push: the culprit is older"


def test_runs_that_could_not_be_had_end_the_search_honestly() -> None:
    grown = bisect.progress(campaign([(0, 0)] * 5 + [(0, 1)]), []).campaign
    refused = Request(
        "c-search0001-p106-n3",
        Push(REPO, revision(106), group(106)),
        LABEL,
        wanted=3,
        state=RequestState.FAILED,
        failure=FailureKind.BUDGET,
        reason="action budget of the campaign spent",
        runs_orange=1,
        campaign_id="c-search0001",
    )
    done = bisect.progress(grown, [refused]).campaign
    assert done.outcome == (
        "cannot tell: push 106: runs could not be had (action budget of the campaign spent)"
    )


def test_a_sweep_and_a_campaign_stored_before_strategies_wait_for_every_push() -> None:
    for params in ({"strategy": "sweep"}, {}):
        old = replace(campaign([(0, 0)] * 3), params={"times": 10, "pushes": [], **params})
        assert bisect.progress(old, []).new_requests == ()


def test_runs_found_at_planning_count_until_the_request_has_seen_them() -> None:
    """A request that has not adopted the failing run yet neither hides it nor ends the
    search: it is waited for, and the run planning found still counts."""
    grown = bisect.progress(campaign([(0, 0)] * 5 + [(0, 1)]), []).campaign
    fresh = Request(
        "c-search0001-p106-n3",
        Push(REPO, revision(106), group(106)),
        LABEL,
        wanted=3,
        campaign_id="c-search0001",
    )
    waiting = bisect.progress(grown, [fresh])
    assert not waiting.campaign.is_final and waiting.new_requests == ()
    seen = replace(fresh, state=RequestState.COMPLETED, runs_green=2)
    (request,) = bisect.progress(grown, [seen]).new_requests
    assert request.push.revision == revision(105)  # the failure counted: looking back


def test_a_suspect_backed_out_in_the_range_is_reported_as_such() -> None:
    start = campaign([(40, 0)] * 3 + [(0, 5)] * 3)
    entries = [dict(entry) for entry in start.params["pushes"]]
    suspect_node = "ab" * 20
    entries[3]["changesets"] = ["cd" * 20, suspect_node]
    entries[5]["backs_out"] = [suspect_node[:12]]
    done = bisect.progress(replace(start, params={**start.params, "pushes": entries}), [])
    answer = done.campaign.summary["answer"]
    assert answer["backed_out_by"] == {"push_id": 106, "revision": revision(106)}
    assert done.campaign.outcome is not None
    assert done.campaign.outcome.endswith(
        f"; already backed out by {revision(106)[:12]} (push 106)"
    )
    # A backout of another changeset, or one before the suspect, is not its backout.
    entries[5]["backs_out"] = ["ef" * 6]
    entries[2]["backs_out"] = [suspect_node[:12]]
    other = bisect.progress(replace(start, params={**start.params, "pushes": entries}), [])
    assert "backed_out_by" not in other.campaign.summary["answer"]


def judged_campaign(verdicts: list[list[str]]) -> tuple[Campaign, list[Request]]:
    """A search judged by a test signature; each push's runs found at planning adopted by
    a request (the planner's `-found` ones) and judged: "hit", "passed" or "not-run"."""
    start = campaign(
        [(0, 0)] * len(verdicts),
        signature={"kind": "test", "value": "dom/a/test_x.js"},
    )
    entries, requests, judged = [], [], {}
    for entry, runs in zip(start.params["pushes"], verdicts, strict=True):
        if not runs:
            entries.append(entry)
            continue
        push_id = entry["push_id"]
        tasks = tuple(f"T{push_id}x{n}".ljust(22, "A") for n in range(len(runs)))
        request = Request(
            f"c-search0001-p{push_id}-found",
            Push(REPO, revision(push_id), group(push_id)),
            LABEL,
            wanted=len(runs),
            state=RequestState.COMPLETED,
            task_ids=tasks,
            runs_green=runs.count("passed"),
            runs_orange=len(runs) - runs.count("passed"),
            campaign_id="c-search0001",
            judge_by_results=True,
        )
        for task, verdict in zip(tasks, runs, strict=True):
            judged[f"{task}/0"] = {"task_id": task, "run_id": 0, "verdict": verdict}
        requests.append(request)
        entries.append({**entry, "request_id": request.request_id})
    params = {**start.params, "pushes": entries, "judged": judged}
    return replace(start, params=params), requests


def test_runs_planning_found_count_by_their_judgements_and_in_the_tasks() -> None:
    """The runs planning found (orange ones for another test among them) are judged and
    counted: the answer rests on them and its tasks include them."""
    ran = [["passed"] * 40] * 3 + [["hit"] * 5] * 3
    done = bisect.progress(*judged_campaign(ran)).campaign
    answer = done.summary["answer"]
    assert answer["first_worse"]["push_id"] == 104 and answer["tasks"] == 135


def test_the_failing_run_the_campaign_starts_from_is_no_sample_of_the_rate() -> None:
    """The failing push failed twice in three runs, one of them the run the campaign
    started from, and its parent passed 23 times. Counted as a sample, that chosen run
    made the rate look like 2 in 3 and push 106 the culprit; it only says where the
    failure is, so the rate is 1 in 2 and the parent needs more passes first."""
    ran: list[list[str]] = [[]] * 4 + [["passed"] * 23, ["hit", "hit", "passed"]]
    decision = bisect.progress(*judged_campaign(ran))
    assert not decision.campaign.is_final, decision.campaign.outcome
    (request,) = decision.new_requests
    assert request.push.revision == revision(105) and request.wanted > 23


def test_runs_without_the_test_are_not_asked_for_again_as_the_same_request() -> None:
    """Two of the failing push's three runs did not run the test (missing data): the next
    request there wants runs beyond the three it has, not a request already made (which
    would read as "the runs could not be had" and end the search)."""
    ran: list[list[str]] = [[]] * 5 + [["hit", "not-run", "not-run"]]
    start, requests = judged_campaign(ran)
    entries = [dict(e) for e in start.params["pushes"]]
    entries[-1]["request_id"] = "c-search0001-p106-n3"
    requests = [replace(requests[-1], request_id="c-search0001-p106-n3")]
    decision = bisect.progress(replace(start, params={**start.params, "pushes": entries}), requests)
    assert not decision.campaign.is_final, decision.campaign.outcome
    (request,) = decision.new_requests
    assert (request.push.revision, request.wanted) == (revision(106), 5)


def _open_request(push_id: int, wanted: int, **fields: Any) -> Request:
    return Request(
        f"c-search0001-p{push_id}-n{wanted}",
        Push(REPO, revision(push_id), group(push_id)),
        LABEL,
        wanted=wanted,
        state=RequestState.RUNNING,
        campaign_id="c-search0001",
        action_tasks=(ActionTask("ActionTask0000000000aw", "key", "retrigger"),),
        **fields,
    )


def _with_request(start: Campaign, index: int, request: Request) -> Campaign:
    entries = [dict(entry) for entry in start.params["pushes"]]
    entries[index]["request_id"] = request.request_id
    return replace(start, params={**start.params, "pushes": entries})


def test_runs_out_on_a_push_newer_than_the_first_bad_one_are_obsolete_before_the_answer() -> None:
    """Push 109 was probed (a batch of 3, one run in, green); push 108 has since shown the
    failure: 109's runs still out can no longer matter, the search says so and goes on
    below 108 without waiting for them."""
    start = campaign([(0, 0)] * 5 + [(10, 0)] + [(0, 0)] + [(0, 1), (0, 0), (0, 0), (2, 1)])
    probed = _open_request(109, 3, runs_green=1)
    decision = bisect.progress(_with_request(start, 8, probed), [probed])
    assert decision.obsolete_requests == (probed.request_id,)
    (request,) = decision.new_requests
    assert request.push.revision in {revision(106), revision(107)}  # below the first bad
    assert not decision.campaign.is_final


def test_a_request_with_runs_not_seen_yet_is_not_obsolete_before_the_answer() -> None:
    """Runs asked for and not seen yet would show up after the request ended, no one's to
    cancel: such a request is left to finish (its runs go at the answer)."""
    start = campaign([(0, 0)] * 5 + [(10, 0)] + [(0, 0)] + [(0, 1), (0, 0), (0, 0), (2, 1)])
    probed = _open_request(109, 3, runs_green=1, expected_new=2)
    decision = bisect.progress(_with_request(start, 8, probed), [probed])
    assert decision.obsolete_requests == ()
    assert len(decision.new_requests) == 1


def test_the_answer_comes_with_runs_still_out_when_they_cannot_change_it() -> None:
    """The suspect (104) already failed twice and its parent passed 70 times: 8 runs out
    at the suspect, even all passing, leave the answer as it is (at a lower confidence)."""
    start = campaign([(0, 0)] * 2 + [(70, 0), (0, 2), (2, 1)])
    verifying = _open_request(104, 10, runs_orange=2)
    decision = bisect.progress(_with_request(start, 3, verifying), [verifying])
    done = decision.campaign
    assert done.state is CampaignState.FINISHED
    assert done.summary["answer"]["first_worse"]["push_id"] == 104
    assert 0.99 <= done.summary["answer"]["first_worse"]["confidence"] < 0.995
    assert [a.kind.value for a in decision.actions] == ["notify"]
