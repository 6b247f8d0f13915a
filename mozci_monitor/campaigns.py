"""The one path by which a campaign starts or ends: validate → plan → start → cancel.

The API backend, the CLI (when no daemon answers on the API) and the demo all go through
`CampaignService`, so a campaign is built, budgeted and recorded the same way whoever asks.
The seams are deliberately separate methods: `validate(raw)` turns outside input into a
`CampaignSubmission`, `plan(submission)` turns that into the campaign and its requests
(from the submission alone, or from the sources for the sheriff kinds), `start` records
them through a `CampaignStarter` (the running daemon, or the engine on the store), `cancel`
ends one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from mozci_monitor import planner
from mozci_monitor.api.backend import CampaignSubmission, SubmissionRefused
from mozci_monitor.api.submission import SubmissionDefaults
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request
from mozci_monitor.engine import Engine
from mozci_monitor.ports.sources import NotFound, Pushlog, Queue, ResultsSource, SourceError
from mozci_monitor.push_check import checked_params
from mozci_monitor.submissions import parse_submission

__all__ = [
    "CampaignService",
    "CampaignStarter",
    "EngineStarter",
    "PlanningSources",
    "SourcesNotConfigured",
    "plan_submission",
]


class PlanningSources(Protocol):
    """What planning reads: the queue/index, the pushlog for ranges of pushes, and a
    task's test results (to confirm its failures)."""

    @property
    def taskcluster(self) -> Queue: ...
    @property
    def pushlog(self) -> Pushlog | None: ...
    @property
    def results(self) -> ResultsSource | None: ...


class CampaignStarter(Protocol):
    """Records a planned campaign (and ends one): the daemon, or `EngineStarter`."""

    async def start_campaign(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign: ...
    async def cancel_campaign(self, campaign_id: str, reason: str) -> Campaign | None: ...


class EngineStarter:
    """Starts campaigns with an engine on the store directly, for the CLI when no daemon
    answers: the running daemon picks them up from the store (`daemon.bindings_refresh`)."""

    def __init__(self, engine: Engine, now: Callable[[], str]) -> None:
        self._engine = engine
        self._now = now

    async def start_campaign(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign:
        return await asyncio.to_thread(
            self._engine.start_campaign, campaign, list(requests), self._now()
        )

    async def cancel_campaign(self, campaign_id: str, reason: str) -> Campaign | None:
        return await asyncio.to_thread(
            self._engine.cancel_campaign, campaign_id, reason, self._now()
        )


class CampaignService:
    def __init__(
        self,
        starter: CampaignStarter,
        *,
        defaults: SubmissionDefaults,
        sources: PlanningSources | None = None,
    ) -> None:
        self._starter = starter
        self._defaults = defaults
        self._sources = sources

    @property
    def defaults(self) -> SubmissionDefaults:
        return self._defaults

    def validate(self, raw: Mapping[str, Any]) -> CampaignSubmission:
        """Outside input (an API body, the CLI's options) → a submission, or
        `SubmissionError` naming the field at fault."""
        return parse_submission(dict(raw))

    async def plan(self, submission: CampaignSubmission) -> tuple[Campaign, list[Request]]:
        """The campaign and its first requests, from the kind's planner (watch and
        downstream read no source); may raise `SubmissionRefused`."""
        if self._sources is not None:
            # Against the push it names: a made-up revision, another push's task group or a
            # label the push cannot run is refused here, not watched in vain.
            submission = await checked_params(
                submission, self._sources.pushlog, self._sources.taskcluster
            )
        plan = await plan_submission(submission, self._sources, self._defaults)
        return plan.campaign, list(plan.requests)

    async def start(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign:
        return await self._starter.start_campaign(campaign, requests)

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        campaign, requests = await self.plan(submission)
        return await self.start(campaign, requests)

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None:
        return await self._starter.cancel_campaign(campaign_id, reason)


class _NoSources:
    """No source configured: kinds planned from the submission alone read none."""

    @property
    def taskcluster(self) -> Queue:
        raise planner.SourcesMissing("no sources are configured")

    @property
    def pushlog(self) -> Pushlog | None:
        return None

    @property
    def results(self) -> ResultsSource | None:
        return None


_NO_SOURCES = _NoSources()


class SourcesNotConfigured(SubmissionRefused):
    """The kind is planned from a source (e.g. the hg pushlog) that is not configured."""


async def plan_submission(
    submission: CampaignSubmission, sources: PlanningSources | None, defaults: SubmissionDefaults
) -> planner.Plan:
    """Plan a submission with its kind's planner; refusals say which field is at fault."""
    kind = submission.kind
    not_configured = (
        f"kind: {kind.value} campaigns are planned from the sources,"
        " which this daemon has not configured"
    )
    try:
        return await planner.plan_campaign(
            submission, sources or _NO_SOURCES, defaults.budgets(submission)
        )
    except planner.SourcesMissing:
        raise SourcesNotConfigured(not_configured, "kind") from None
    except planner.PlanError as error:
        raise SubmissionRefused(str(error), error.field) from None
    except NotFound as error:
        raise SubmissionRefused(f"not found in the sources: {error}", "revision") from None
    except SourceError as error:
        raise SubmissionRefused(f"the sources could not plan it: {error}", None, 503) from None
