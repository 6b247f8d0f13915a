"""Sheriff campaigns submitted through the API are planned by the campaign service.

`mozci_monitor.campaigns.plan_submission` is the dispatch every submission path uses (the
API's backend, the CLI, the demo). The planners themselves are tested in tests/sheriff against the
simulator; here: the arguments they get from a submission, and the errors the API answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mozci_monitor import planner
from mozci_monitor.api import CampaignSubmission, SubmissionDefaults, SubmissionRefused
from mozci_monitor.api.validation import parse_submission
from mozci_monitor.campaigns import plan_submission
from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.model import Push, RemedyPolicy
from mozci_monitor.sources import NotFound, SourceError
from mozci_monitor.wiring import Services

from .fakes import GROUP, LABEL, REVISION

DEFAULTS = SubmissionDefaults(max_actions_per_request=3, max_actions_per_campaign=0)


@dataclass
class FakeTaskcluster:
    groups: dict[str, str] = field(default_factory=dict)
    error: Exception | None = None

    async def find_decision_task(self, repo: str, revision: str) -> str:
        if self.error is not None:
            raise self.error
        if revision not in self.groups:
            raise NotFound(f"no decision task for {repo}@{revision}", source="taskcluster")
        return self.groups[revision]


def _services(taskcluster: FakeTaskcluster, pushlog: Any = None) -> Services:
    return Services(taskcluster=taskcluster, render=lambda *a: None, pushlog=pushlog)  # type: ignore[arg-type]


def _submission(**document: Any) -> CampaignSubmission:
    return parse_submission({"repo": "autoland", "revision": REVISION, **document})


async def test_until_fail_looks_up_the_push_and_plans_batches() -> None:
    services = _services(FakeTaskcluster({REVISION: GROUP}))
    plan = await plan_submission(
        _submission(kind="until-fail", label=LABEL, batch=4, budget=12, keep_pending=True),
        services,
        DEFAULTS,
    )
    assert plan.campaign.kind is CampaignKind.UNTIL_FAIL
    assert plan.campaign.push == Push("autoland", REVISION, GROUP)
    (request,) = plan.requests
    assert (request.label, request.wanted, request.remedy) == (LABEL, 12, RemedyPolicy.UNTIL_FAIL)
    assert plan.campaign.params == {"batch": 4, "budget": 12, "cancel_on_fail": False}


async def test_fill_uses_the_given_group_and_filters() -> None:
    plan = await plan_submission(
        _submission(kind="fill", task_group=GROUP, include=["^test-"], exclude=["asan"]),
        _services(FakeTaskcluster()),  # no look-up needed: the group was given
        DEFAULTS,
    )
    assert plan.campaign.push.task_group_id == GROUP
    assert plan.campaign.params["include"] == ["^test-"]
    assert plan.campaign.params["exclude"] == ["asan"]
    assert plan.campaign.params["max_actions_per_request"] == 3


@pytest.mark.parametrize(
    ("kind", "planner_name", "expected"),
    [
        ("backfill", "plan_backfill", {"max_revisions": 20, "times": 1, "max_actions": 3}),
        (
            "bisect",
            "plan_bisect",
            {"max_revisions": 10, "times": 10, "first_revision": REVISION[:12]},
        ),
    ],
)
async def test_range_kinds_go_to_their_planner(
    monkeypatch: pytest.MonkeyPatch, kind: str, planner_name: str, expected: dict[str, Any]
) -> None:
    calls: list[dict[str, Any]] = []

    async def recording(pushlog: Any, queue: Any, **options: Any) -> str:
        calls.append(options)
        return "the plan"

    monkeypatch.setattr(planner, planner_name, recording)
    document: dict[str, Any] = {"kind": kind, "label": LABEL, "dry_run": True}
    if kind == "bisect":
        document["from_revision"] = REVISION[:12]
    result = await plan_submission(
        _submission(**document), _services(FakeTaskcluster(), pushlog=object()), DEFAULTS
    )
    assert result == "the plan"
    (options,) = calls
    assert options["repo"] == "autoland" and options["label"] == LABEL
    assert options["dry_run"] is True and options["campaign_budget"] is None
    assert {name: options[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("services", "document", "status", "field"),
    [
        (None, {"kind": "fill"}, 422, "kind"),
        (_services(FakeTaskcluster()), {"kind": "backfill", "label": LABEL}, 422, "kind"),
        (_services(FakeTaskcluster()), {"kind": "fill"}, 422, "revision"),
        (
            _services(
                FakeTaskcluster(error=SourceError("index unavailable", source="taskcluster"))
            ),
            {"kind": "until-fail", "label": LABEL},
            503,
            None,
        ),
        (
            _services(FakeTaskcluster({REVISION: GROUP})),
            {"kind": "fill", "include": ["a{2,1}"]},
            400,
            "include",
        ),
    ],
)
async def test_what_cannot_be_planned_is_refused_clearly(
    services: Services | None, document: dict[str, Any], status: int, field: str | None
) -> None:
    from mozci_monitor.api import ApiError

    with pytest.raises((SubmissionRefused, ApiError)) as refused:
        await plan_submission(_submission(**document), services, DEFAULTS)
    assert (refused.value.status, refused.value.field) == (status, field)
