"""The campaign service: one path for every campaign (validate → plan → start → cancel)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from store.pulse_builder import GROUP, LABEL
from support.offline_cli import REVISION, watch_argv

from mozci_monitor.api.submission import SubmissionDefaults
from mozci_monitor.campaigns import CampaignService
from mozci_monitor.cli import main
from mozci_monitor.core.campaign import Campaign, CampaignKind
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.model import Request
from mozci_monitor.store.sqlite import SqliteStore


class RecordingStarter:
    def __init__(self) -> None:
        self.started: list[tuple[Campaign, list[Request]]] = []
        self.canceled: list[tuple[str, str]] = []

    async def start_campaign(self, campaign: Campaign, requests: Sequence[Request]) -> Campaign:
        self.started.append((campaign, list(requests)))
        return campaign

    async def cancel_campaign(self, campaign_id: str, reason: str) -> Campaign | None:
        self.canceled.append((campaign_id, reason))
        return None


def _service(
    per_request: int = 3, per_campaign: int = 5
) -> tuple[CampaignService, RecordingStarter]:
    starter = RecordingStarter()
    defaults = SubmissionDefaults(
        max_actions_per_request=per_request, max_actions_per_campaign=per_campaign
    )
    return CampaignService(starter, defaults=defaults), starter


def _watch(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "watch",
        "repo": "autoland",
        "revision": REVISION,
        "task_group": GROUP,
        "label": LABEL,
        **fields,
    }


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({}, (3, 5)),  # nothing asked: the configured budgets
        ({"max_actions": 1, "campaign_budget": 2}, (1, 2)),  # lowered: kept
        ({"max_actions": 50, "campaign_budget": 10_000}, (3, 5)),  # raised: capped
    ],
)
async def test_configured_budgets_are_caps_a_submission_may_only_lower(
    asked: dict[str, int], expected: tuple[int, int]
) -> None:
    service, starter = _service()
    await service.submit(service.validate(_watch(**asked)))
    ((campaign, (request,)),) = starter.started
    assert (request.max_actions, campaign.max_actions) == expected


async def test_without_a_campaign_cap_the_submission_sets_the_campaign_budget() -> None:
    service, starter = _service(per_campaign=0)  # 0: no campaign-wide limit configured
    await service.submit(service.validate(_watch(campaign_budget=7)))
    ((campaign, _),) = starter.started
    assert campaign.max_actions == 7


async def test_validate_refuses_what_the_api_refuses_and_names_the_field() -> None:
    service, starter = _service()
    with pytest.raises(SubmissionError) as refused:
        service.validate(_watch(times=250))
    assert refused.value.field == "times"
    assert starter.started == []


async def test_plan_then_start_is_submit_and_cancel_goes_to_the_starter() -> None:
    service, starter = _service()
    campaign, requests = await service.plan(service.validate(_watch(times=2)))
    assert campaign.kind is CampaignKind.WATCH
    assert [(r.label, r.wanted) for r in requests] == [(LABEL, 2)]
    await service.start(campaign, requests)
    await service.cancel(campaign.campaign_id, "not needed")
    assert starter.started == [(campaign, requests)]
    assert starter.canceled == [(campaign.campaign_id, "not needed")]


def test_the_cli_refuses_what_the_api_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI submits through the same validation: `watch --times 250` used to be accepted
    by the CLI (and fail later at Taskcluster) while the API refused it."""
    code = main(
        [
            *watch_argv(GROUP, LABEL, "--times", "250"),
            "--store",
            str(tmp_path / "state.sqlite3"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("mozci-monitor: --times: must be an integer from 1 to 100")
    assert SqliteStore(tmp_path / "state.sqlite3").list_campaigns() == []
