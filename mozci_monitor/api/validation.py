"""Checks every input of the API and turns it into typed values, or one clear `ApiError`.

Each error names the field it is about, so a client can point at what to fix:
``{"error": "times: must be an integer from 1 to 100", "field": "times"}``. Unknown fields
are refused rather than ignored: a misspelt ``gren`` must not silently mean "not green".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final

from mozci_monitor import submissions
from mozci_monitor.api.backend import CampaignSubmission
from mozci_monitor.core.errors import InputError, SubmissionError

MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 50
MAX_REASON = 500

CAMPAIGN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# A cancel reason must hold one character that is not whitespace. The whitespace is spelt out
# (Python's str.isspace set) because `\S` means other sets in other regex dialects: with it,
# the document would admit "\u0085" while the server refuses it.
REASON_PATTERN = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class _Absent(enum.Enum):
    BODY = "no body"


# A request without a body; JSON `null` is a body, and not an object.
NO_BODY: Final = _Absent.BODY


class ApiError(InputError):
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
    """A JSON body for ``POST /api/campaigns`` → a submission, or ApiError.

    The same check as the CLI's campaign commands (`mozci_monitor.submissions`), generated
    from the campaign kinds' registry.
    """
    try:
        return submissions.parse_submission(document)
    except SubmissionError as error:
        raise ApiError(error.status, str(error), error.field) from None


def parse_cancel(document: object) -> str:
    """The body of ``POST /api/campaigns/{id}/cancel`` (may be `NO_BODY`) → the reason."""
    default = "canceled through the API"
    if document is NO_BODY:
        return default
    if not isinstance(document, dict):
        raise ApiError(400, "body must be a JSON object", None)
    for name in sorted(document):
        if name != "reason":
            raise _bad(name, "unknown field")
    reason = document.get("reason", default)
    if (
        not isinstance(reason, str)
        or re.search(REASON_PATTERN, reason) is None
        or len(reason) > MAX_REASON
    ):
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


def no_campaign(campaign_id: str) -> ApiError:
    """404 for an id (or prefix) that names no campaign, or more than one."""
    return ApiError(
        404, f"no campaign matches {campaign_id!r} (or several do: give more of the id)", "id"
    )


def check_campaign_id(campaign_id: str) -> str:
    if re.fullmatch(CAMPAIGN_ID_PATTERN, campaign_id) is None:
        raise ApiError(400, "id: not a campaign id (letters, digits, - and _)", "id")
    return campaign_id
