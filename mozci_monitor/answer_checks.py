"""Before a search's culprit is announced: was it backed out after the range?

The search's answer already says whether the failure still reproduces at the newest push
analysed and whether a push of the range backed the culprit out (`core/kinds/_search.py`,
from what planning read). Sheriffs often back a culprit out after the pushes a campaign
analysed: this reads the pushes after the range through the pushlog port when the
notification goes out, and, when one of them backed the culprit out ("Backed out
changeset <rev>", `core.backout`), the answer says so too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import structlog

from mozci_monitor.core.backout import backed_out_by, backouts_in
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.ports.sources import Pushlog, SourceError

log = structlog.get_logger(__name__)

LATER_PUSHES = 100  # pushes after the range read for a backout (a day of autoland or so)


class AnswerChecks:
    def __init__(self, pushlog: Pushlog, *, later_pushes: int = LATER_PUSHES) -> None:
        self._pushlog = pushlog
        self._later_pushes = later_pushes

    async def complete(self, campaign: Campaign) -> Campaign:
        """The campaign as its notification tells it: a culprit backed out by a push after
        the range is said to be. Unreadable pushlog: the answer goes out as it was."""
        answer = campaign.summary.get("answer")
        if not isinstance(answer, Mapping) or answer.get("backed_out_by"):
            return campaign
        culprit = answer.get("first_worse")
        if answer.get("strategy") != "search" or not isinstance(culprit, Mapping):
            return campaign
        entries = [e for e in campaign.params.get("pushes", ()) if isinstance(e, Mapping)]
        suspect = next((e for e in entries if e.get("push_id") == culprit.get("push_id")), None)
        if suspect is None or not entries:
            return campaign
        changesets = [str(c) for c in suspect.get("changesets") or (suspect["revision"],)]
        last = max(int(e["push_id"]) for e in entries)
        try:
            later = await self._pushlog.pushes(
                campaign.push.repo, last + 1, last + self._later_pushes, full=True
            )
        except SourceError as error:
            log.warning(
                "pushes after the range unreadable", campaign=campaign.campaign_id, error=str(error)
            )
            return campaign
        descriptions = [(p.revision, [c.desc or "" for c in p.changesets]) for p in later]
        found = backed_out_by(changesets, backouts_in(descriptions))
        if found is None:
            return campaign
        push = next(p for p in later if p.revision == found.revision)
        backout: dict[str, Any] = {"push_id": push.id, "revision": push.revision}
        said = f"; already backed out by {push.revision[:12]} (push {push.id})"
        completed = {
            **answer,
            "backed_out_by": backout,
            "summary": f"{answer.get('summary', '')}{said}",
        }
        return replace(
            campaign,
            outcome=f"{campaign.outcome or ''}{said}",
            summary={**campaign.summary, "answer": completed},
        )
