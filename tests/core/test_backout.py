"""core/backout.py as tables: backouts read from pushlog descriptions, a suspect found
backed out, and what the notification says."""

from __future__ import annotations

import pytest

from mozci_monitor.core.backout import Backout, Checks, backed_out_by, backouts_in

SUSPECT = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345"
OTHER = "9c1b7d4e5f60718293a4b5c6d7e8f90123453f2a"

PUSHES = [
    ("aaaaaaaaaaaa0000000000000000000000000000", ["Bug 1 - Fix the thing r=me"]),
    (
        "bbbbbbbbbbbb0000000000000000000000000000",
        [
            "Backed out 2 changesets (bug 1912345) for causing mochitest failures"
            " CLOSED TREE\n\nBacked out changeset 3f2a9c1b7d4e (bug 1912345)\n"
            "Backed out changeset 1234567890ab (bug 1912345)"
        ],
    ),
    ("cccccccccccc0000000000000000000000000000", ["backed out revision 9C1B7D4E5F60 for bustage"]),
]


def test_backouts_are_read_from_descriptions() -> None:
    assert backouts_in(PUSHES) == [
        Backout("bbbbbbbbbbbb0000000000000000000000000000", ("3f2a9c1b7d4e", "1234567890ab")),
        Backout("cccccccccccc0000000000000000000000000000", ("9c1b7d4e5f60",)),
    ]


@pytest.mark.parametrize(
    ("changesets", "backout_push"),
    [
        ([SUSPECT], "bbbbbbbbbbbb0000000000000000000000000000"),
        ([SUSPECT.upper()], "bbbbbbbbbbbb0000000000000000000000000000"),
        (["0" * 40, OTHER], "cccccccccccc0000000000000000000000000000"),
        (["0" * 40], None),
        # A suspect given by too short a hash matches nothing (12 digits at least).
        (["3f2a9c1b"], None),
    ],
)
def test_a_suspect_backed_out(changesets: list[str], backout_push: str | None) -> None:
    found = backed_out_by(changesets, backouts_in(PUSHES))
    assert (found.revision if found else None) == backout_push


def test_what_the_notification_says() -> None:
    backout = Backout("bbbbbbbbbbbb0000000000000000000000000000", ("3f2a9c1b7d4e",))
    checks = Checks(reproduces_at=OTHER, latest_push=OTHER, backout=backout)
    assert checks.lines() == [
        "already backed out by bbbbbbbbbbbb (Backed out changeset 3f2a9c1b7d4e)",
        "still fails at the newest push analysed (9c1b7d4e5f60)",
    ]
    quiet = Checks(reproduces_at=None, latest_push=OTHER, backout=None)
    assert quiet.lines() == ["did not fail again at the newest push analysed (9c1b7d4e5f60)"]
