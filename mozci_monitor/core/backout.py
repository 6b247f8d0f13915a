"""Before a culprit is announced: was it backed out already, does it still fail?

Sheriffs back a culprit out with a push whose description says "Backed out changeset
<rev> (bug N) for …" (several such lines when several changesets go). A culprit already
backed out needs no one's attention but the notification should say so; a failure that
no longer reproduces at the newest push analysed is said as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHORT_HASH = 12
# Our own fixed pattern over pushlog text (bounded, no backtracking blow-up).
_BACKOUT = re.compile(r"\bbacked out (?:changeset|revision) ([0-9a-f]{12,40})\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Backout:
    """A push that backed out some changesets."""

    revision: str  # the backout push's revision
    backed_out: tuple[str, ...]  # the changesets it names (12 to 40 hex digits)


def backouts_in(pushes: Iterable[tuple[str, Sequence[str]]]) -> list[Backout]:
    """(push revision, its changesets' descriptions) → the backouts among them."""
    found = []
    for revision, descriptions in pushes:
        named = tuple(
            match.group(1).lower()
            for description in descriptions
            for match in _BACKOUT.finditer(description)
        )
        if named:
            found.append(Backout(revision, named))
    return found


def backed_out_by(suspect_changesets: Sequence[str], backouts: Sequence[Backout]) -> Backout | None:
    """The first backout naming one of the suspect push's changesets."""
    suspects = [changeset.lower() for changeset in suspect_changesets]
    for backout in backouts:
        for named in backout.backed_out:
            if any(_same_changeset(named, full) for full in suspects):
                return backout
    return None


def _same_changeset(one: str, other: str) -> bool:
    """Equal up to the shorter, when the shorter has at least 12 digits (hg's short form:
    fewer could name several changesets)."""
    shorter = min(len(one), len(other))
    return shorter >= SHORT_HASH and one[:shorter] == other[:shorter]


@dataclass(frozen=True, slots=True)
class Checks:
    """What the notification says next to the culprit."""

    reproduces_at: str | None  # the newest push analysed, when it still fails there
    latest_push: str
    backout: Backout | None

    def lines(self) -> list[str]:
        said = []
        if self.backout is not None:
            said.append(
                f"already backed out by {self.backout.revision[:12]}"
                f" (Backed out changeset {self.backout.backed_out[0][:12]})"
            )
        if self.reproduces_at is not None:
            said.append(f"still fails at the newest push analysed ({self.reproduces_at[:12]})")
        else:
            said.append(f"did not fail again at the newest push analysed ({self.latest_push[:12]})")
        return said
