"""Planning over fake sources: what each push says, what is skipped and why, what is refused.

The end-to-end tests plan against the simulator; these cover what the simulator does not
produce — merge pushes, a queue that errors on one revision, revisions that do not exist.
"""

from __future__ import annotations

import pytest

from mozci_monitor import planner
from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.kinds import DEFAULT_TASKS_PER_REQUEST
from mozci_monitor.core.model import Push, RemedyPolicy
from mozci_monitor.core.sheriff import Verdict
from mozci_monitor.sources import NotFound, SourceError
from mozci_monitor.sources.models import Changeset, TaskGroupMember, TaskStatus
from mozci_monitor.sources.models import Push as HgPush

REPO = "autoland"
LABEL = "test-linux1804-64/opt-xpcshell-1"
OTHER = "test-linux1804-64/opt-reftest-1"


def _revision(push_id: int) -> str:
    return f"{push_id}".ljust(40, "f")


def _group(push_id: int) -> str:
    return f"group-{push_id}"


def _member(push_id: int, index: int, label: str, state: str) -> TaskGroupMember:
    task_id = f"t{push_id}-{index}"
    status = TaskStatus(task_id, _group(push_id), state, 5, ())
    return TaskGroupMember(task_id, label, status, {})


class Sources:
    """A pushlog and a queue: pushes 100..109; per push, the states of LABEL's tasks."""

    def __init__(self, states: dict[int, list[str]], *, merge: int | None = None) -> None:
        self.states = states
        self.no_decision: set[int] = set()
        self.broken: set[int] = set()
        self.merge = merge
        self.descriptions: dict[int, str] = {}

    def _push(self, push_id: int) -> HgPush:
        desc = "Merge autoland to mozilla-central" if push_id == self.merge else "Bug 1 - fix"
        desc = self.descriptions.get(push_id, desc)
        return HgPush(push_id, _revision(push_id), 0, "a@b", (Changeset("c", desc=desc),))

    async def pushes(
        self, repo: str, first_id: int, last_id: int, *, full: bool = False
    ) -> list[HgPush]:
        return [self._push(i) for i in range(max(first_id, 100), min(last_id, 109) + 1)]

    async def push_for_revision(self, repo: str, revision: str, *, full: bool = False) -> HgPush:
        for push_id in range(100, 110):
            if _revision(push_id) == revision:
                return self._push(push_id)
        raise NotFound("unknown revision", source="hg")

    async def find_decision_task(self, repo: str, revision: str) -> str:
        push_id = int(revision.rstrip("f"))
        if push_id in self.no_decision:
            raise NotFound("Indexed task not found", source="index", status=404)
        return _group(push_id)

    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]:
        push_id = int(task_group_id.removeprefix("group-"))
        if push_id in self.broken:
            raise SourceError("boom", source="queue", status=400)
        members = [_member(push_id, 99, OTHER, "completed")]
        for index, state in enumerate(self.states.get(push_id, [])):
            members.append(_member(push_id, index, LABEL, state))
        return members


async def test_analyse_range_reads_every_push() -> None:
    sources = Sources(
        {
            100: ["completed", "failed"],
            101: ["failed", "exception"],
            102: ["pending"],
            104: ["exception"],
        },
        merge=103,
    )
    sources.no_decision.add(105)
    sources.broken.add(106)
    pushes = await sources.pushes(REPO, 100, 106)
    analysed = await planner.analyse_range(sources, REPO, LABEL, list(reversed(pushes)))

    assert [a.push.id for a in analysed] == list(range(100, 107))
    rows = [(a.result.verdict, a.result.green, a.result.orange, a.result.note) for a in analysed]
    assert rows[:6] == [
        (Verdict.PASSED, 1, 1, ""),
        (Verdict.FAILED, 0, 1, ""),
        (Verdict.UNKNOWN, 0, 0, ""),
        (Verdict.NOT_RUN, 0, 0, "merge"),
        (Verdict.UNKNOWN, 0, 0, ""),
        (Verdict.SKIPPED, 0, 0, "no decision task"),
    ]
    verdict, _, _, note = rows[6]
    assert verdict is Verdict.SKIPPED
    assert "boom" in note
    assert [a.task_group_id for a in analysed] == [
        *[_group(i) for i in range(100, 105)],
        None,
        None,
    ]


async def test_plan_backfill_keeps_merges_and_skips_what_cannot_be_analysed() -> None:
    sources = Sources({100: ["completed"], 104: ["failed"], 107: ["failed"]}, merge=103)
    sources.no_decision.add(105)
    plan = await planner.plan_backfill(
        sources, sources, repo=REPO, revision=_revision(107), label=LABEL, times=2
    )
    campaign = plan.campaign
    assert campaign.kind is CampaignKind.BACKFILL
    assert campaign.push == Push(REPO, _revision(107), _group(107))
    entries = {e["push_id"]: e for e in campaign.params["pushes"]}
    assert sorted(entries) == list(range(100, 108))
    assert entries[103]["note"] == "merge"
    assert entries[105]["verdict"] == "skipped"
    assert [s["push_id"] for s in campaign.params["skipped"]] == [105]
    # not-run pushes with a decision task get a request for two runs of the label
    assert [r.push.revision for r in plan.requests] == [_revision(i) for i in (101, 102, 103, 106)]
    assert all(r.wanted == 2 and r.remedy is RemedyPolicy.WATCH for r in plan.requests)
    assert {entries[i].get("request_id") for i in (101, 102, 103, 106)} == {
        r.request_id for r in plan.requests
    }


@pytest.mark.parametrize(
    ("revision", "setup", "message"),
    [
        (_revision(99), None, "has no push with revision"),
        (_revision(107), "no-decision", "has no decision task"),
    ],
)
async def test_plan_backfill_refuses(revision: str, setup: str | None, message: str) -> None:
    sources = Sources({107: ["failed"]})
    if setup == "no-decision":
        sources.no_decision.add(107)
    with pytest.raises(planner.PlanError, match=message):
        await planner.plan_backfill(sources, sources, repo=REPO, revision=revision, label=LABEL)


async def test_plan_bisect_requests_every_push_with_a_decision_task() -> None:
    sources = Sources({102: ["completed", "failed", "failed"]})
    sources.no_decision.add(103)
    plan = await planner.plan_bisect(
        sources,
        sources,
        repo=REPO,
        revision=_revision(105),
        first_revision=_revision(101),
        label=LABEL,
        times=5,
        strategy="sweep",
    )
    assert [r.push.revision for r in plan.requests] == [_revision(i) for i in (101, 102, 104, 105)]
    assert all(r.wanted == 5 for r in plan.requests)
    entries = plan.campaign.params["pushes"]
    assert [e["push_id"] for e in entries] == list(range(101, 106))
    assert entries[2]["note"] == "no decision task"
    assert plan.campaign.params["times"] == 5


async def test_plan_bisect_search_asks_for_nothing_yet_and_keeps_the_runs_found() -> None:
    """The search's campaign asks for each batch itself, from the runs planning found."""
    sources = Sources({102: ["completed", "failed", "failed"]})
    sources.no_decision.add(103)
    plan = await planner.plan_bisect(
        sources,
        sources,
        repo=REPO,
        revision=_revision(105),
        first_revision=_revision(101),
        label=LABEL,
        times=5,
        strategy="search",
    )
    assert plan.requests == ()
    params = plan.campaign.params
    assert params["strategy"] == "search"
    assert params["max_actions"] == DEFAULT_TASKS_PER_REQUEST
    assert [(e["push_id"], e["green"], e["orange"]) for e in params["pushes"]][1] == (102, 1, 2)
    assert not any("request_id" in e for e in params["pushes"])


async def test_a_search_keeps_what_the_pushlog_says_was_backed_out() -> None:
    sources = Sources({})
    sources.descriptions[104] = (
        "Backed out changeset 0123456789ab (bug 2) for failures\n"
        "Backed out changeset ba9876543210 (bug 2)"
    )
    plan = await planner.plan_bisect(
        sources,
        sources,
        repo=REPO,
        revision=_revision(105),
        first_revision=_revision(101),
        label=LABEL,
        strategy="search",
    )
    entries = {e["push_id"]: e for e in plan.campaign.params["pushes"]}
    assert entries[104]["backs_out"] == ["0123456789ab", "ba9876543210"]
    assert entries[103]["changesets"] == ["c"] and "backs_out" not in entries[103]


async def test_plan_bisect_refuses_a_reversed_or_empty_range() -> None:
    sources = Sources({})
    with pytest.raises(planner.PlanError, match="comes after"):
        await planner.plan_bisect(
            sources,
            sources,
            repo=REPO,
            revision=_revision(101),
            first_revision=_revision(105),
            label=LABEL,
        )
    sources.no_decision.update(range(100, 110))
    with pytest.raises(planner.PlanError, match="no push of the range"):
        await planner.plan_bisect(sources, sources, repo=REPO, revision=_revision(105), label=LABEL)


# The request's budget counts tasks: every run of the budget, and 3 for reruns.
@pytest.mark.parametrize(("batch", "budget", "tasks"), [(5, 50, 53), (4, 10, 13), (1, 1, 4)])
def test_plan_until_fail(batch: int, budget: int, tasks: int) -> None:
    push = Push(REPO, _revision(100), _group(100))
    plan = planner.plan_until_fail(push, label=LABEL, batch=batch, budget=budget)
    (request,) = plan.requests
    assert request.remedy is RemedyPolicy.UNTIL_FAIL
    assert (request.wanted, request.batch, request.max_actions) == (budget, batch, tasks)
    assert request.cancel_on_fail
    assert plan.campaign.kind is CampaignKind.UNTIL_FAIL
    assert plan.campaign.params == {"batch": batch, "budget": budget, "cancel_on_fail": True}


def test_plan_fill_refuses_a_bad_pattern() -> None:
    push = Push(REPO, _revision(100), _group(100))
    with pytest.raises(planner.PlanError, match="bad pattern"):
        planner.plan_fill(push, include=["(unclosed"])
    plan = planner.plan_fill(push, include=["xpcshell"], exclude=["debug"])
    assert plan.requests == ()
    assert plan.campaign.params["include"] == ["xpcshell"]
    assert plan.campaign.params["exclude"] == ["debug"]


@pytest.mark.parametrize("kind", ["backfill", "bisect"])
async def test_a_search_by_signature_judges_the_runs_planning_found(kind: str) -> None:
    """Judged by a signature, a push's runs count by their test results, and only the runs
    of a request are judged. Before, a search planned no request at all: the pushes that
    ran the label orange (for another test, perhaps) and the failing run itself counted
    for nothing until the search sampled there, and the answer's tasks left them out. Now
    each push with runs gets a request that adopts them and asks for none."""
    sources = Sources(
        {101: ["completed"], 103: ["failed", "completed"], 104: ["failed"], 105: ["failed"]}
    )

    async def plan_search(**judging: str) -> planner.Plan:
        common = {"repo": REPO, "revision": _revision(105), "label": LABEL, **judging}
        if kind == "backfill":
            return await planner.plan_backfill(
                sources, sources, max_revisions=5, strategy="search", **common
            )
        return await planner.plan_bisect(
            sources, sources, first_revision=_revision(101), strategy="search", **common
        )

    plan = await plan_search(test="dom/a/test_x.js")
    campaign_id = plan.campaign.campaign_id
    by_push = {int(r.request_id.split("-p")[1].split("-")[0]): r for r in plan.requests}
    # Backfill's window starts at the last green push (103), bisect's range at 101.
    assert sorted(by_push) == ([103, 104, 105] if kind == "backfill" else [101, 103, 104, 105])
    assert [(by_push[p].wanted, by_push[p].judge_by_results) for p in (103, 104, 105)] == [
        (2, True),
        (1, True),
        (1, True),
    ]
    assert all(r.remedy is RemedyPolicy.WATCH for r in plan.requests)
    assert by_push[103].request_id == f"{campaign_id}-p103-found"
    entries = {e["push_id"]: e for e in plan.campaign.params["pushes"]}
    assert entries[103]["request_id"] == by_push[103].request_id
    assert all("request_id" not in entries[p] for p in entries if p not in by_push)
    # Judged by colour the search counts the runs found itself: no request.
    assert (await plan_search()).requests == ()
