"""Submissions checked against the push, over the simulator's HTTP services (pushlog,
index, decision task artifacts) through the real source clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.push_check import (
    ResolvedPush,
    check_labels,
    check_revision_syntax,
    check_submission,
    full_task_graph_labels,
    resolve_push,
)
from mozci_monitor.sim import Simulator
from mozci_monitor.sources.clients import SourceClients, SourceSettings, create_clients
from sim.conftest import SimFactory


@pytest.fixture
async def sources(sim: Simulator) -> AsyncIterator[SourceClients]:
    await sim.run_until_idle()  # the history pushes' decision tasks have finished
    async with aiohttp.ClientSession() as session:
        yield create_clients(
            session,
            SourceSettings(
                taskcluster_root_url=sim.root_url,
                treeherder_url=sim.treeherder_url,
                hg_url=sim.hg_url,
            ),
        )


async def _resolve(
    sources: SourceClients, revision: str, task_group: str | None = None
) -> ResolvedPush:
    return await resolve_push(
        sources.hgmo,
        sources.taskcluster,
        repo="autoland",
        revision=revision,
        task_group=task_group,
    )


@pytest.mark.parametrize("length", [12, 20, 40])
async def test_a_revision_of_12_to_40_digits_resolves_to_its_push(
    sim: Simulator, sources: SourceClients, length: int
) -> None:
    push = sim.pushes[1]
    resolved = await _resolve(sources, push.revision[:length].upper())
    assert resolved == ResolvedPush("autoland", push.revision, push.push_id, push.task_group_id)


@pytest.mark.parametrize("revision", ["abc", "0123456789a", "g" * 12, "0" * 41, ""])
def test_a_revision_that_is_not_12_to_40_hex_digits_is_refused(revision: str) -> None:
    with pytest.raises(SubmissionError) as refused:
        check_revision_syntax(revision)
    assert refused.value.field == "revision"
    assert refused.value.status == 400
    assert "12 to 40 hexadecimal digits" in str(refused.value)


async def test_a_made_up_revision_is_404(sources: SourceClients) -> None:
    with pytest.raises(SubmissionError) as refused:
        await _resolve(sources, "0123456789ab" * 3)
    assert (refused.value.field, refused.value.status) == ("revision", 404)
    assert "autoland has no push with revision 0123456789ab" in str(refused.value)


async def test_the_task_group_of_another_push_is_refused(
    sim: Simulator, sources: SourceClients
) -> None:
    push, other = sim.pushes[1], sim.pushes[2]
    with pytest.raises(SubmissionError) as refused:
        await _resolve(sources, push.revision, other.task_group_id)
    assert (refused.value.field, refused.value.status) == ("task_group", 400)
    assert f"its decision task group is {push.task_group_id}" in str(refused.value)
    assert (await _resolve(sources, push.revision, push.task_group_id)).push_id == push.push_id


async def test_a_made_up_task_group_is_refused(sim: Simulator, sources: SourceClients) -> None:
    with pytest.raises(SubmissionError) as refused:
        await _resolve(sources, sim.pushes[0].revision, "AAAAAAAAAAAAAAAAAAAAAA")
    assert refused.value.field == "task_group"


async def test_labels_are_checked_against_the_full_task_graph(
    sim: Simulator, sources: SourceClients
) -> None:
    push = sim.pushes[1]
    resolved = await _resolve(sources, push.revision)
    known = await full_task_graph_labels(sources.taskcluster, resolved)
    # Every label of the world, scheduled on this push or optimised away.
    assert known == frozenset(sim.world.graph.specs)
    scheduled = push.scheduled_labels[-1]
    check_labels([scheduled], known, resolved)
    misspelt = scheduled[:-1] + "9"
    with pytest.raises(SubmissionError) as refused:
        check_labels([scheduled, misspelt], known, resolved)
    assert (refused.value.field, refused.value.status) == ("label", 400)
    assert f"{misspelt!r} is not in the full task graph of autoland@" in str(refused.value)
    assert "did you mean" in str(refused.value)
    with pytest.raises(SubmissionError) as unknown:
        check_labels(["no-such-label"], known, resolved, field="build")
    assert unknown.value.field == "build"
    assert "did you mean" not in str(unknown.value)


async def test_a_push_whose_decision_task_has_not_run_is_409(make_sim: SimFactory) -> None:
    sim = await make_sim()
    await sim.advance(2.0)  # the first live push arrives; its decision task is yet to run
    newest = sim.pushes[-1]
    async with aiohttp.ClientSession() as session:
        sources = create_clients(
            session,
            SourceSettings(
                taskcluster_root_url=sim.root_url,
                treeherder_url=sim.treeherder_url,
                hg_url=sim.hg_url,
            ),
        )
        with pytest.raises(SubmissionError) as refused:
            await _resolve(sources, newest.revision)
    # The index lists a decision task once it has finished: until then, nothing to check.
    assert (refused.value.field, refused.value.status) == ("revision", 409)
    assert f"push {newest.push_id} ({newest.revision[:12]}) on autoland has no decision task" in (
        str(refused.value)
    )


@pytest.mark.parametrize(
    ("kind", "given_group"), [("watch", True), ("until-fail", False), ("backfill", False)]
)
async def test_check_submission_resolves_and_checks_the_label(
    sim: Simulator, sources: SourceClients, kind: str, given_group: bool
) -> None:
    push = sim.pushes[2]
    label = push.scheduled_labels[-1]
    checked = await check_submission(
        sources.hgmo,
        sources.taskcluster,
        kind=kind,
        repo="autoland",
        revision=push.revision[:12],
        task_group=push.task_group_id if given_group else None,
        label=label,
    )
    assert checked.push.revision == push.revision
    assert checked.push.task_group_id == push.task_group_id
    with pytest.raises(SubmissionError) as refused:
        await check_submission(
            sources.hgmo,
            sources.taskcluster,
            kind=kind,
            repo="autoland",
            revision=push.revision,
            label="test-made-up/opt-nothing-1",
        )
    assert refused.value.field == "label"


async def test_check_submission_resolves_a_bisect_range(
    sim: Simulator, sources: SourceClients
) -> None:
    first, last = sim.pushes[0], sim.pushes[2]
    checked = await check_submission(
        sources.hgmo,
        sources.taskcluster,
        kind="bisect",
        repo="autoland",
        revision=last.revision[:12],
        from_revision=first.revision[:12],
    )
    assert (checked.push.push_id, checked.from_revision) == (last.push_id, first.revision)
    with pytest.raises(SubmissionError) as backwards:
        await check_submission(
            sources.hgmo,
            sources.taskcluster,
            kind="bisect",
            repo="autoland",
            revision=first.revision,
            from_revision=last.revision,
        )
    assert backwards.value.field == "from_revision"
