"""Deterministic identifiers: Taskcluster slugids and hg revisions drawn from a seeded RNG."""

from __future__ import annotations

import base64
import random
import uuid


def slug_from_rng(rng: random.Random) -> str:
    """A "nice" v4 slugid (like `slugid.nice()`), but reproducible from `rng`."""
    raw = bytearray(uuid.UUID(int=rng.getrandbits(128), version=4).bytes)
    # slugid.nice() clears the top bit so the id never starts with '-'.
    raw[0] &= 0x7F
    return base64.urlsafe_b64encode(bytes(raw)).decode("ascii").rstrip("=")


def revision_from_rng(rng: random.Random) -> str:
    """A 40-hex-digit changeset id."""
    return f"{rng.getrandbits(160):040x}"
