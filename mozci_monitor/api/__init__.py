"""The HTTP edge: JSON API, status page, /metrics, health probes.

It imports no other edge: the daemon implements `ApiBackend` and starts an `ApiServer`.
"""

from mozci_monitor.api.app import ApiOptions, ApiServer, create_app
from mozci_monitor.api.backend import (
    ActionView,
    ApiBackend,
    CampaignSubmission,
    HealthView,
    MetricsSource,
    SubmissionRefused,
    TimelineEntryView,
)
from mozci_monitor.api.openapi import openapi_document
from mozci_monitor.api.submission import SubmissionDefaults, build_campaign, new_campaign_id
from mozci_monitor.api.validation import ApiError, parse_submission

__all__ = [
    "ActionView",
    "ApiBackend",
    "ApiError",
    "ApiOptions",
    "ApiServer",
    "CampaignSubmission",
    "HealthView",
    "MetricsSource",
    "SubmissionDefaults",
    "SubmissionRefused",
    "TimelineEntryView",
    "build_campaign",
    "create_app",
    "new_campaign_id",
    "openapi_document",
    "parse_submission",
]
