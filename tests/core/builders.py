"""Small builders for core tests: slugids, status snapshots from run specs, records, requests.

A run spec is `"[reasonCreated>]state[:reasonResolved]"`, e.g. `"pending"`,
`"retry>running"`, `"exception:claim-expired"`, `"rerun>failed"`. Run 0 defaults to
reasonCreated "scheduled"; later runs must say why they exist. Completed and failed runs
default to the reasonResolved of the same name; exception runs must name theirs.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from typing import Any

from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.machine import phase_of
from mozci_monitor.core.messages import is_slug_id
from mozci_monitor.core.model import (
    Phase,
    Push,
    Request,
    RequestState,
    Run,
    RunState,
    TaskRecord,
    TaskStatus,
)

# Real ids from the reference Pulse messages.
TASK_A = "A35mWTRuQmyj88yMnIF0fA"
TASK_B = "A3dJ8bDIQRKzHiZBhM0c5Q"
GROUP = "XrWNyFwpT2in-wLY9frb-w"
OTHER_GROUP = "MibGDsa4Q7uFNzDf7EV6nw"
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-e10s-1"
PUSH = Push(repo="mozilla-central", revision="0" * 40, task_group_id=GROUP)


def slug(n: int) -> str:
    """A deterministic, valid (v4) slugid for `n`: what slugid.v4 would give for that UUID."""
    value = uuid.UUID(int=n, version=4)
    text = base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")
    assert is_slug_id(text), text
    return text


def run(spec: str, run_id: int) -> Run:
    created, _, rest = spec.rpartition(">")
    state_name, _, resolved = rest.partition(":")
    state = RunState(state_name)
    if not created:
        assert run_id == 0, f"run {run_id} needs a reasonCreated in {spec!r}"
        created = "scheduled"
    if state in (RunState.COMPLETED, RunState.FAILED):
        resolved = resolved or state.value
    elif state is RunState.EXCEPTION:
        assert resolved, f"an exception run needs a reasonResolved: {spec!r}"
    else:
        assert not resolved, f"an open run has no reasonResolved: {spec!r}"
    return Run(run_id=run_id, state=state, reason_created=created, reason_resolved=resolved or None)


def status(
    *runs: str, retries_left: int = 5, task_id: str = TASK_A, group: str = GROUP
) -> TaskStatus:
    built = tuple(run(spec, index) for index, spec in enumerate(runs))
    return TaskStatus(
        task_id=task_id,
        task_group_id=group,
        state=built[-1].state.value if built else "unscheduled",
        retries_left=retries_left,
        runs=built,
        provisioner_id="proj-autophone",
        worker_type="gecko-t-linux-large",
        scheduler_id="gecko-level-3",
    )


# One plausible snapshot for each phase, used where only the phase matters.
SNAPSHOT_OF_PHASE: dict[Phase, tuple[str, ...]] = {
    Phase.SCHEDULED: (),
    Phase.PENDING: ("pending",),
    Phase.RUNNING: ("running",),
    Phase.RETRYING: ("exception:claim-expired",),
    Phase.COMPLETED: ("completed",),
    Phase.ORANGE: ("failed",),
    Phase.EXCEPTION: ("exception:deadline-exceeded",),
    Phase.COALESCED: ("exception:superseded",),
    Phase.CANCELED: ("exception:canceled",),
}


def record(
    phase: Phase,
    *,
    task_id: str = TASK_A,
    label: str | None = LABEL,
    group: str = GROUP,
    reason: str | None = None,
    retries_left: int = 5,
) -> TaskRecord:
    """A task record in `phase`; `reason` overrides the exception reason of the snapshot."""
    runs = SNAPSHOT_OF_PHASE[phase]
    if reason is not None:
        runs = (f"exception:{reason}",)
    snapshot = status(*runs, retries_left=retries_left, task_id=task_id, group=group)
    derived, derived_reason = phase_of(snapshot)
    assert derived is phase, (derived, phase)
    return TaskRecord(task_id, group, label, snapshot, derived, derived_reason)


def request(
    *,
    wanted: int = 1,
    state: RequestState = RequestState.SCHEDULED,
    task_ids: tuple[str, ...] = (),
    label: str = LABEL,
    **fields: Any,
) -> Request:
    return Request(
        request_id="req-1",
        push=PUSH,
        label=label,
        wanted=wanted,
        state=state,
        task_ids=task_ids,
        **fields,
    )


def bisect_search(
    campaign_id: str, runs: Sequence[tuple[int, int]], probed: str, label: str = LABEL
) -> Campaign:
    """A bisect search over pushes 101, 102, ... (one (green, orange) pair per push: the
    runs planning found there); push 109 (the ninth) was probed by request `probed`; the
    last push is the failing one."""
    entries: list[dict[str, object]] = [
        {
            "push_id": 101 + i,
            "revision": f"{101 + i:040x}",
            "task_group_id": slug(500 + i),
            "green": green,
            "orange": orange,
        }
        for i, (green, orange) in enumerate(runs)
    ]
    entries[8]["request_id"] = probed
    newest = Push("autoland", f"{100 + len(runs):040x}", slug(499 + len(runs)))
    params = {"strategy": "search", "times": 10, "pushes": entries}
    return Campaign(campaign_id, CampaignKind.BISECT, newest, label=label, params=params)
