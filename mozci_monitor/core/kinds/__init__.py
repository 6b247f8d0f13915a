"""The campaign kinds, one module each, and the registry the edges are generated from.

Adding a kind: write its module here (its parameters as a `CampaignParams` dataclass, its
summary, its pure decisions), add its planner function where planning needs the sources
(`mozci_monitor/planner.py`), and add one entry to `REGISTRY`. The CLI's subcommand, the
API's validation and the OpenAPI schema follow from the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import (
    Campaign,
    CampaignDecision,
    CampaignKind,
    backfill_action,
    until_every_request_ended,
    until_expanded_and_ended,
)
from mozci_monitor.core.kinds import (
    backfill,
    bisect,
    confirm,
    downstream,
    fill,
    until_fail,
    watch,
)
from mozci_monitor.core.kinds._params import (
    ACTION_MAX_TIMES,
    BACKFILL_MAX_DEPTH,
    BACKFILL_MAX_TIMES,
    DEFAULT_TASKS_PER_REQUEST,
    Budgets,
    CampaignParams,
    Param,
    budgets_of,
)
from mozci_monitor.core.kinds.backfill import BackfillParams
from mozci_monitor.core.kinds.bisect import BisectParams
from mozci_monitor.core.kinds.confirm import ConfirmParams
from mozci_monitor.core.kinds.downstream import DownstreamParams
from mozci_monitor.core.kinds.fill import FillParams
from mozci_monitor.core.kinds.until_fail import UntilFailParams
from mozci_monitor.core.kinds.watch import WatchParams
from mozci_monitor.core.model import Request


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One campaign kind: its name, parameters and one-line summary.

    `needs_sources`: its requests cannot follow from the submission alone (the push must
    be looked up, or the pushlog analysed), so a planner function plans it.
    """

    kind: CampaignKind
    params: type[CampaignParams]
    summary: str
    needs_sources: bool
    # When a campaign of this kind ends, and with what answer.
    progress: Callable[[Campaign, Sequence[Request]], CampaignDecision]
    # The action it starts with, once its requests are recorded (None: it starts with none).
    start: Callable[[Campaign, Sequence[Request]], Action | None] | None = None

    @property
    def name(self) -> str:
        return self.kind.value

    def param_fields(self) -> list[tuple[str, Param]]:
        """Every parameter but `kind`, in declaration order (the common ones first)."""
        return [(item.name, item.metadata["param"]) for item in fields(self.params)]


REGISTRY: Mapping[CampaignKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            CampaignKind.WATCH,
            WatchParams,
            watch.SUMMARY,
            needs_sources=False,
            progress=until_every_request_ended,
        ),
        KindSpec(
            CampaignKind.DOWNSTREAM,
            DownstreamParams,
            downstream.SUMMARY,
            needs_sources=False,
            progress=until_expanded_and_ended,
        ),
        KindSpec(
            CampaignKind.BACKFILL,
            BackfillParams,
            backfill.SUMMARY,
            needs_sources=True,
            progress=backfill.progress,
            start=backfill_action,
        ),
        KindSpec(
            CampaignKind.BISECT,
            BisectParams,
            bisect.SUMMARY,
            needs_sources=True,
            progress=bisect.progress,
        ),
        KindSpec(
            CampaignKind.UNTIL_FAIL,
            UntilFailParams,
            until_fail.SUMMARY,
            needs_sources=True,
            progress=until_fail.progress,
        ),
        KindSpec(
            CampaignKind.FILL,
            FillParams,
            fill.SUMMARY,
            needs_sources=True,
            progress=until_expanded_and_ended,
        ),
        KindSpec(
            CampaignKind.CONFIRM,
            ConfirmParams,
            confirm.SUMMARY,
            needs_sources=True,
            progress=confirm.progress,
            start=confirm.start,
        ),
    )
}

AnyParams = (
    WatchParams
    | DownstreamParams
    | BackfillParams
    | BisectParams
    | UntilFailParams
    | FillParams
    | ConfirmParams
)

__all__ = [
    "ACTION_MAX_TIMES",
    "BACKFILL_MAX_DEPTH",
    "BACKFILL_MAX_TIMES",
    "DEFAULT_TASKS_PER_REQUEST",
    "REGISTRY",
    "AnyParams",
    "BackfillParams",
    "BisectParams",
    "Budgets",
    "CampaignParams",
    "ConfirmParams",
    "DownstreamParams",
    "FillParams",
    "KindSpec",
    "Param",
    "UntilFailParams",
    "WatchParams",
    "budgets_of",
]
