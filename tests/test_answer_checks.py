"""Before a search's culprit is announced, the pushes after the range are read through
the pushlog port: a later push that backed the culprit out ("Backed out changeset <rev>")
is said in the notification; the answer also says whether the failure still reproduces at
the newest push analysed. An unreadable pushlog leaves the answer as it was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import sample_campaigns as samples
from support.recording import RecordingSink

from mozci_monitor.actuator import Actuator
from mozci_monitor.answer_checks import AnswerChecks
from mozci_monitor.core.campaign import Campaign, notification_action
from mozci_monitor.core.kinds import bisect
from mozci_monitor.sources import TransientError
from mozci_monitor.sources.models import Changeset, Push
from mozci_monitor.store.sqlite import SqliteStore

AT = "2026-11-22T12:00:00.000Z"
CULPRIT = samples.revision(103)
BACKOUT = "b" * 40


def _answered() -> Campaign:
    """A bisect search over pushes 101-104 whose answer is push 103."""
    entries = [
        {
            "push_id": 101 + i,
            "revision": samples.revision(101 + i),
            "task_group_id": samples.PUSH.task_group_id,
            "green": green,
            "orange": orange,
            "changesets": [samples.revision(101 + i)],
        }
        for i, (green, orange) in enumerate([(40, 0), (40, 0), (0, 5), (0, 5)])
    ]
    start = replace(
        samples.bisect().campaign,
        params={"strategy": "search", "times": 10, "pushes": entries},
        state=samples.bisect().campaign.state.RUNNING,
        summary={},
    )
    return bisect.progress(start, []).campaign


class Pushlog:
    def __init__(self, later: list[Push] | None) -> None:
        self.later = later
        self.asked: list[tuple[str, int, int]] = []

    async def pushes(
        self, repo: str, first_id: int, last_id: int, *, full: bool = False
    ) -> list[Push]:
        self.asked.append((repo, first_id, last_id))
        if self.later is None:
            raise TransientError("hg.mozilla.org down", source="hgmo")
        return self.later

    async def push_for_revision(self, repo: str, revision: str, *, full: bool = False) -> Push:
        raise AssertionError("not needed")


def _push(push_id: int, revision: str, *descriptions: str) -> Push:
    changesets = tuple(Changeset(revision, desc=d) for d in descriptions)
    return Push(push_id, revision, 0, "sheriff@mozilla.com", changesets)


BACKED_OUT = _push(
    107, BACKOUT, f"Backed out changeset {CULPRIT[:12]} (bug 1234) for causing mochitest failures"
)


async def test_a_backout_after_the_range_is_said() -> None:
    campaign = _answered()
    assert "backed_out_by" not in campaign.summary["answer"]
    pushlog = Pushlog([_push(105, "c" * 40, "Bug 5 - a fix"), BACKED_OUT])
    checked = await AnswerChecks(pushlog).complete(campaign)
    assert pushlog.asked == [("autoland", 105, 204)]  # the pushes after the range
    answer = checked.summary["answer"]
    assert answer["backed_out_by"] == {"push_id": 107, "revision": BACKOUT}
    assert answer["reproduces_at_newest"] is True
    assert checked.outcome is not None
    assert checked.outcome.endswith(f"; already backed out by {BACKOUT[:12]} (push 107)")


async def test_nothing_backed_out_or_an_unreadable_pushlog_changes_nothing() -> None:
    campaign = _answered()
    assert (
        await AnswerChecks(Pushlog([_push(105, "c" * 40, "Bug 5")])).complete(campaign) == campaign
    )
    assert await AnswerChecks(Pushlog(None)).complete(campaign) == campaign


async def test_the_notification_says_the_culprit_was_backed_out(tmp_path: Path) -> None:
    campaign = _answered()
    store = SqliteStore(tmp_path / "state.sqlite3")
    with store.transaction():
        store.add_campaign(campaign, AT)
        store.add_action(notification_action(campaign), AT)
    sink = RecordingSink()

    async def in_store(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def abandoned(action: Any, error: str) -> None:
        raise AssertionError(error)

    actuator = Actuator(
        in_store=in_store,
        store=store,
        taskcluster=None,  # type: ignore[arg-type]
        render=lambda *a, **k: None,  # type: ignore[arg-type,return-value]
        sinks=[sink],
        on_permanent_failure=abandoned,
        now=lambda: AT,
        complete_answer=AnswerChecks(Pushlog([BACKED_OUT])).complete,
    )
    assert await actuator.drain() is False
    (sent,) = sink.sent
    assert sent.title.endswith(
        f"still fails at the newest push analysed); already backed out by {BACKOUT[:12]} (push 107)"
    ), sent.title
