"""An in-memory `ApiBackend`, and a checker of responses against the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from openapi_schema_validator import OAS30Validator

from mozci_monitor.api import (
    ActionView,
    CampaignSubmission,
    HealthView,
    SubmissionDefaults,
    TimelineEntryView,
    build_campaign,
    openapi_document,
)
from mozci_monitor.api.submission import BUILDABLE_KINDS
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.model import FailureKind, Push, Request, RequestState

TOKEN = "s3cret-token-for-tests"
GROUP = "fQ1YvXN1SDG4IWQyLPAUMQ"  # a valid v4 slug id
REVISION = "219d38523a321229f7f48aca6592f76b993fb1aa"
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-e10s-1"

# The budgets of `[actions]` are caps a submission may lower, never raise: configured above
# what these tests submit, so that the submitted budgets are the ones stored.
CONFIGURED = SubmissionDefaults(max_actions_per_request=10)


@dataclass
class FakeBackend:
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    requests: dict[str, list[Request]] = field(default_factory=dict)
    timelines: dict[str, list[TimelineEntryView]] = field(default_factory=dict)
    actions: dict[str, list[ActionView]] = field(default_factory=dict)
    submitted: list[CampaignSubmission] = field(default_factory=list)
    view: HealthView = field(
        default_factory=lambda: HealthView(
            alive=True, ready=True, checks={"broker_connected": True, "store_writable": True}
        )
    )
    fail_next: Exception | None = None

    async def list_campaigns(self, *, open_only: bool, limit: int) -> list[Campaign]:
        found = [c for c in reversed(self.campaigns.values()) if not (open_only and c.is_final)]
        return found[:limit]

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        if campaign_id in self.campaigns:
            return self.campaigns[campaign_id]
        matches = [c for key, c in self.campaigns.items() if key.startswith(campaign_id)]
        return matches[0] if len(matches) == 1 else None

    async def campaign_requests(self, campaign_id: str) -> list[Request]:
        return list(self.requests.get(campaign_id, []))

    async def request_timeline(self, request_id: str) -> list[TimelineEntryView]:
        return list(self.timelines.get(request_id, []))

    async def campaign_actions(self, campaign_id: str) -> list[ActionView]:
        return list(self.actions.get(campaign_id, []))

    async def submit(self, submission: CampaignSubmission) -> Campaign:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.submitted.append(submission)
        campaign_id = f"c-{len(self.campaigns) + 1:010x}"
        if submission.kind in BUILDABLE_KINDS:
            campaign, requests = build_campaign(submission, CONFIGURED, campaign_id=campaign_id)
        else:  # the daemon plans these from the sources; here they start empty
            group = getattr(submission, "task_group", None) or GROUP
            push = Push(submission.repo, submission.revision, group)
            label = getattr(submission, "label", None)
            campaign, requests = Campaign(campaign_id, submission.kind, push, label), []
        self.campaigns[campaign.campaign_id] = campaign
        self.requests[campaign.campaign_id] = requests
        for request in requests:
            self.timelines[request.request_id] = [
                TimelineEntryView(1, "2026-11-22T10:00:00Z", "registered", None, {"wanted": 1})
            ]
        return campaign

    async def cancel(self, campaign_id: str, reason: str) -> Campaign | None:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return None
        if not campaign.is_final:
            campaign = replace(campaign, state=CampaignState.CANCELED, outcome=reason)
            self.campaigns[campaign_id] = campaign
        return campaign

    def health(self) -> HealthView:
        return self.view

    # -- test helpers -----------------------------------------------------------------------

    def seed(self) -> Campaign:
        """A running campaign with requests in every colour the status page shows."""
        push = Push("autoland", REVISION, GROUP)
        campaign = Campaign("c-seeded0001", CampaignKind.WATCH, push, label=LABEL)
        states = [
            ("completed", RequestState.COMPLETED, None),
            ("orange", RequestState.FAILED, FailureKind.ORANGE),
            ("exception", RequestState.FAILED, FailureKind.EXCEPTION),
            ("budget", RequestState.FAILED, FailureKind.BUDGET),
            ("coalesced", RequestState.COALESCED, None),
            ("running", RequestState.RUNNING, None),
            ("canceled", RequestState.CANCELED, None),
        ]
        requests = []
        for n, (name, state, failure) in enumerate(states, start=1):
            request = Request(
                f"{campaign.campaign_id}-r{n}",
                push,
                f"test-linux1804-64/opt-{name}-{n}",
                state=state,
                failure=failure,
                reason=None if failure is None else f"{name} happened",
                campaign_id=campaign.campaign_id,
            )
            requests.append(request)
            phase = {"budget": "orange", "canceled": "running"}.get(name, name)
            self.timelines[request.request_id] = [
                TimelineEntryView(1, "2026-11-22T10:00:00Z", "registered", None, {"wanted": 1}),
                TimelineEntryView(2, "2026-11-22T10:05:00Z", "task-phase", GROUP, {"phase": phase}),
                TimelineEntryView(
                    3,
                    "2026-11-22T10:06:00Z",
                    "state",
                    None,
                    {"state": state.value, **({"failure": failure.value} if failure else {})},
                ),
            ]
        self.campaigns[campaign.campaign_id] = campaign
        self.requests[campaign.campaign_id] = requests
        self.actions[campaign.campaign_id] = [
            ActionView("c-seeded0001-r2/action-1", "retrigger", "done", "orange", "task X"),
            ActionView("c-seeded0001-r3/action-1", "rerun", "failed", "exception", None, "403"),
        ]
        return campaign


_DOCUMENT = openapi_document()


def check_response(path: str, method: str, status: int, body: Any) -> None:
    """Raise unless `body` is what the OpenAPI document says `path`/`method`/`status` returns."""
    operation = _DOCUMENT["paths"][path][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} not documented"
    content = responses[str(status)].get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return
    root = {**schema, "components": _DOCUMENT["components"]}
    OAS30Validator(root).validate(body)
