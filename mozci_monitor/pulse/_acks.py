"""Which acks can go out as one `basic.ack` with `multiple=True`.

A multiple ack settles every unsettled delivery of the channel up to its tag, so it may
only cover a prefix of the deliveries still unsettled in arrival order that are all being
acked now. A delivery handed out in a batch that is not committed yet, or not handed out
at all, ends the prefix: it and everything after it is acked one by one (or later).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AckPlan:
    up_to: int | None  # basic.ack(up_to, multiple=True), when the prefix has 2 or more tags
    singles: tuple[int | str, ...]  # basic.ack(tag) each


class Unsettled:
    """The delivery tags of one channel not yet acked or rejected, in arrival order."""

    def __init__(self) -> None:
        self._tags: OrderedDict[int | str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tags)

    def delivered(self, tag: int | str) -> None:
        self._tags[tag] = None

    def rejected(self, tag: int | str) -> None:
        self._tags.pop(tag, None)

    def plan(self, acked: Sequence[int | str]) -> AckPlan:
        """Plan the acks of `acked` and forget those tags."""
        wanted = set(acked)
        prefix: list[int | str] = []
        for tag in self._tags:
            # Virtual transports (memory://) use string tags: no multiple acks there.
            if tag not in wanted or not isinstance(tag, int):
                break
            prefix.append(tag)
        for _ in prefix:
            self._tags.popitem(last=False)
        covered = set(prefix)
        rest = tuple(tag for tag in acked if tag not in covered)
        for tag in rest:
            self._tags.pop(tag, None)
        if len(prefix) >= 2:
            last = prefix[-1]
            assert isinstance(last, int)
            return AckPlan(up_to=last, singles=rest)
        return AckPlan(up_to=None, singles=(*prefix, *rest))
