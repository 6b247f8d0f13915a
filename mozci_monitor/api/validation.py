"""Checks every input of the API and turns it into typed values, or one clear `ApiError`.

Each error names the field it is about, so a client can point at what to fix:
``{"error": "times: must be an integer from 1 to 100", "field": "times"}``. Unknown fields
are refused rather than ignored: a misspelt ``gren`` must not silently mean "not green".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mozci_monitor.api.backend import CampaignSubmission
from mozci_monitor.core.campaign import CampaignKind
from mozci_monitor.core.messages import is_slug_id

MAX_TIMES = 100
MAX_ACTIONS_PER_REQUEST = 100
MAX_CAMPAIGN_BUDGET = 10_000
MAX_TASK_IDS = 100
MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 50
MAX_REASON = 500

# Patterns shared with the OpenAPI document, so the published contract is the enforced one.
REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"
REVISION_PATTERN = r"^[0-9a-f]{12,40}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+@:,=-]{0,299}$"
CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SLUG_PATTERN = r"^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$"

MAX_REVISIONS = 100
MAX_BATCH = 100
MAX_BUDGET = 1000
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 300

_COMMON_FIELDS = frozenset(
    {"kind", "repo", "revision", "max_actions", "campaign_budget", "dry_run"}
)
KIND_FIELDS: Mapping[CampaignKind, frozenset[str]] = {
    CampaignKind.WATCH: _COMMON_FIELDS
    | {"task_group", "label", "times", "green", "record_only", "task_ids"},
    CampaignKind.DOWNSTREAM: _COMMON_FIELDS | {"task_group", "build"},
    CampaignKind.BACKFILL: _COMMON_FIELDS | {"label", "max_revisions", "times"},
    CampaignKind.BISECT: _COMMON_FIELDS | {"label", "from_revision", "max_revisions", "times"},
    CampaignKind.UNTIL_FAIL: _COMMON_FIELDS
    | {"task_group", "label", "batch", "budget", "keep_pending"},
    CampaignKind.FILL: _COMMON_FIELDS | {"task_group", "include", "exclude"},
}
_BASE_REQUIRED = frozenset({"kind", "repo", "revision"})
KIND_REQUIRED: Mapping[CampaignKind, frozenset[str]] = {
    CampaignKind.WATCH: _BASE_REQUIRED | {"task_group", "label"},
    CampaignKind.DOWNSTREAM: _BASE_REQUIRED | {"task_group"},
    CampaignKind.BACKFILL: _BASE_REQUIRED | {"label"},
    CampaignKind.BISECT: _BASE_REQUIRED | {"label"},
    CampaignKind.UNTIL_FAIL: _BASE_REQUIRED | {"label"},
    CampaignKind.FILL: _BASE_REQUIRED,
}
# Defaults that differ by kind (the same as the CLI commands').
KIND_DEFAULTS: Mapping[CampaignKind, Mapping[str, int]] = {
    CampaignKind.WATCH: {"times": 1},
    CampaignKind.BACKFILL: {"times": 1, "max_revisions": 20},
    CampaignKind.BISECT: {"times": 10, "max_revisions": 10},
    CampaignKind.UNTIL_FAIL: {"batch": 5, "budget": 50},
}


class ApiError(Exception):
    """An HTTP error answered as ``{"error": message, "field": field}``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}", field)


def parse_submission(document: object) -> CampaignSubmission:
    """A JSON body for ``POST /api/campaigns`` → a submission, or ApiError."""
    if not isinstance(document, dict):
        raise ApiError(400, "body must be a JSON object", None)
    kind = _kind(document.get("kind"))
    allowed = KIND_FIELDS[kind]
    for name in sorted(document):
        if name not in allowed:
            raise _bad(name, f"unknown field for a {kind.value} campaign")
    for name in sorted(KIND_REQUIRED[kind]):
        if name not in document:
            raise _bad(name, "required")
    defaults = KIND_DEFAULTS.get(kind, {})
    label_field = "build" if kind is CampaignKind.DOWNSTREAM else "label"
    return CampaignSubmission(
        kind=kind,
        repo=_pattern(document, "repo", REPO_PATTERN, "a repository name like autoland"),
        revision=_revision(document, "revision"),
        # A present field must hold a real value: null is not "absent".
        task_group=_slug(document["task_group"], "task_group")
        if "task_group" in document
        else None,
        label=(
            _pattern(document, label_field, LABEL_PATTERN, "a task label")
            if label_field in document
            else None
        ),
        times=_int(document, "times", 1, MAX_TIMES, default=defaults.get("times", 1)),
        green=_bool(document, "green"),
        record_only=_bool(document, "record_only"),
        task_ids=_task_ids(document.get("task_ids", [])),
        max_revisions=_kind_int(document, "max_revisions", MAX_REVISIONS, defaults),
        from_revision=_revision(document, "from_revision") if "from_revision" in document else None,
        batch=_kind_int(document, "batch", MAX_BATCH, defaults),
        budget=_kind_int(document, "budget", MAX_BUDGET, defaults),
        keep_pending=_bool(document, "keep_pending"),
        include=_patterns(document, "include"),
        exclude=_patterns(document, "exclude"),
        max_actions=_optional_int(document, "max_actions", 1, MAX_ACTIONS_PER_REQUEST),
        campaign_budget=_optional_int(document, "campaign_budget", 1, MAX_CAMPAIGN_BUDGET),
        dry_run=_bool(document, "dry_run"),
    )


def parse_cancel(document: object) -> str:
    """The body of ``POST /api/campaigns/{id}/cancel`` (may be empty) → the reason."""
    default = "canceled through the API"
    if document is None:
        return default
    if not isinstance(document, dict):
        raise ApiError(400, "body must be a JSON object", None)
    for name in sorted(document):
        if name != "reason":
            raise _bad(name, "unknown field")
    reason = document.get("reason", default)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise _bad("reason", f"must be a non-blank string of at most {MAX_REASON} characters")
    return " ".join(reason.split())  # one line: it ends up in logs and notifications


def parse_list_query(query: Mapping[str, str]) -> tuple[bool, int]:
    """``?open=true&limit=20`` → (open_only, limit)."""
    for name in sorted(query):
        if name not in {"open", "limit"}:
            raise _bad(name, "unknown query parameter")
    raw_open = query.get("open", "false")
    if raw_open not in {"true", "false"}:
        raise _bad("open", "must be true or false")
    raw_limit = query.get("limit", str(DEFAULT_LIST_LIMIT))
    if not raw_limit.isascii() or not raw_limit.isdigit():
        raise _bad("limit", f"must be an integer from 1 to {MAX_LIST_LIMIT}")
    limit = int(raw_limit)
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise _bad("limit", f"must be an integer from 1 to {MAX_LIST_LIMIT}")
    return raw_open == "true", limit


def check_campaign_id(campaign_id: str) -> str:
    if re.fullmatch(CAMPAIGN_ID_PATTERN, campaign_id) is None:
        raise ApiError(400, "id: not a campaign id (letters, digits, - and _)", "id")
    return campaign_id


def _kind(value: object) -> CampaignKind:
    if value is None:
        raise _bad("kind", "required")
    try:
        kind = CampaignKind(value) if isinstance(value, str) else None
    except ValueError:
        kind = None
    if kind is None:
        kinds = ", ".join(k.value for k in CampaignKind)
        raise _bad("kind", f"must be one of {kinds}")
    return kind


def _revision(document: Mapping[str, Any], name: str) -> str:
    return _pattern(document, name, REVISION_PATTERN, "12 to 40 lowercase hex digits")


def _kind_int(
    document: Mapping[str, Any], name: str, high: int, defaults: Mapping[str, int]
) -> int | None:
    if name not in document and name not in defaults:
        return None
    return _int(document, name, 1, high, default=defaults.get(name, 1))


def _patterns(document: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = document.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_PATTERNS:
        raise _bad(name, f"must be a list of at most {MAX_PATTERNS} regular expressions")
    for pattern in value:
        if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN_LENGTH:
            raise _bad(name, f"each must be a string of 1 to {MAX_PATTERN_LENGTH} characters")
        try:
            re.compile(pattern)
        except re.error as error:
            raise _bad(name, f"{pattern!r} is not a regular expression: {error}") from None
    return tuple(value)


def _pattern(document: Mapping[str, Any], name: str, pattern: str, what: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        raise _bad(name, f"must be {what}")
    return value


def _slug(value: object, name: str) -> str:
    if not is_slug_id(value):
        raise _bad(name, "must be a Taskcluster slug id (22 characters)")
    assert isinstance(value, str)
    return value


def _task_ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TASK_IDS:
        raise _bad("task_ids", f"must be a list of at most {MAX_TASK_IDS} task ids")
    return tuple(dict.fromkeys(_slug(item, "task_ids") for item in value))


def _bool(document: Mapping[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name, "must be true or false")
    return value


def _int(document: Mapping[str, Any], name: str, low: int, high: int, *, default: int) -> int:
    value = document.get(name, default)
    # bool is an int in Python but not in JSON: `true` is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, f"must be an integer from {low} to {high}")
    return value


def _optional_int(document: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    if document.get(name) is None:
        return None
    return _int(document, name, low, high, default=low)
