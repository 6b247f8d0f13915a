"""What every campaign kind's parameters are made of: typed fields with their limits as data.

A kind's parameters are a frozen dataclass whose fields carry a `Param` in their metadata:
the help text, the bounds and the pattern. The CLI parser, the API's validation and the
OpenAPI document are generated from these, so one limit is written once and enforced the
same way everywhere.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from mozci_monitor.core.campaign import CampaignKind

# Anchored patterns for the identifiers a submission names.
REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"
REVISION_PATTERN = r"^[0-9a-f]{12,40}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+@:,=-]{0,299}$"
SLUG_PATTERN = r"^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$"

# Limits of Firefox CI's in-tree actions (gecko_taskgraph/actions): retrigger,
# retrigger-multiple and add-new-jobs accept `times` up to 100; backfill accepts `depth`
# 1 to 25 and `times` up to 10 per push. A submission beyond them would fail at the action.
ACTION_MAX_TIMES = 100
BACKFILL_MAX_DEPTH = 25
BACKFILL_MAX_TIMES = 10

# The monitor's own bounds on what one submission may ask for. Budgets count tasks
# (`core.actions.tasks_of`), not actions.
MAX_ACTIONS_PER_REQUEST = 100
# The configured per-request budget unless the settings say otherwise: the kinds' default
# asks fit in it (bisect's 10 runs per push, a search's batch of at most 10) with room
# for a few reruns of infrastructure failures.
DEFAULT_TASKS_PER_REQUEST = 20
MAX_CAMPAIGN_BUDGET = 10_000
MAX_TASK_IDS = 100
MAX_REVISIONS = 100
MAX_RUNS_BUDGET = 1000
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Param:
    """How one parameter is described and bounded (for strings: `pattern`, lengths)."""

    help: str
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None  # an anchored regular expression the value must match
    what: str = ""  # the pattern in words, for error messages
    max_items: int | None = None  # lists
    min_length: int | None = None  # strings, or each item of a list
    max_length: int | None = None
    user_regex: bool = False  # items are users' regular expressions (linear-time engine only)
    option: str | None = None  # the CLI option when it is not --<name with dashes>
    nullable: bool = False  # null means "not given" (budgets that default to the settings)
    excludes: str | None = None  # a parameter that cannot be given together with this one


def param(spec: Param, default: Any = MISSING) -> Any:
    """A dataclass field carrying its `Param`; no default means the field is required."""
    if default is MISSING:
        return field(metadata={"param": spec})
    return field(default=default, metadata={"param": spec})


def param_of(params_type: type, name: str) -> Param:
    for item in fields(params_type):
        if item.name == name:
            spec: Param = item.metadata["param"]
            return spec
    raise KeyError(name)


TASK_GROUP = Param(
    "the push's decision task group (a Taskcluster task id)",
    pattern=SLUG_PATTERN,
    what="a Taskcluster slug id (22 characters)",
)
LOOKED_UP_TASK_GROUP = Param(
    "the push's decision task group (default: from the index)",
    pattern=SLUG_PATTERN,
    what=TASK_GROUP.what,
)
REVISION = Param(
    "the push's revision", pattern=REVISION_PATTERN, what="12 to 40 lowercase hex digits"
)
LABEL = Param("the task label", pattern=LABEL_PATTERN, what="a task label")
STRATEGY = Param(
    "search: sample only where the answer is decided, stop once it is;"
    " sweep: `times` runs on every push",
    pattern=r"^(search|sweep)$",
    what="search or sweep",
)


def count(maximum: int, help_text: str) -> Param:
    """A count from 1 to `maximum`."""
    return Param(help_text, minimum=1, maximum=maximum)


@dataclass(frozen=True, slots=True)
class Budgets:
    """The budgets a campaign gets, in tasks: the submission's, else the configured ones."""

    per_request: int
    per_campaign: int | None


def budgets_of(params: CampaignParams, per_request: int, per_campaign: int) -> Budgets:
    """The configured budgets are caps a submission may lower, never raise; `per_campaign`
    0 means no campaign-wide limit (then the submission's, if any, applies)."""
    asked_request, asked_campaign = params.max_actions, params.campaign_budget
    return Budgets(
        per_request=min(asked_request, per_request) if asked_request else per_request,
        per_campaign=(
            min(asked_campaign, per_campaign)
            if asked_campaign and per_campaign
            else asked_campaign or per_campaign or None
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignParams:
    """What every submission names; each kind's parameters extend it."""

    kind: ClassVar[CampaignKind]

    repo: str = param(
        Param(
            "the repository, e.g. autoland, mozilla-central",
            pattern=REPO_PATTERN,
            what="a repository name like autoland",
        )
    )
    revision: str = param(REVISION)
    max_actions: int | None = param(
        Param(
            "tasks the monitor may schedule per request (default: actions.max_per_request)",
            minimum=1,
            maximum=MAX_ACTIONS_PER_REQUEST,
            nullable=True,
        ),
        None,
    )
    campaign_budget: int | None = param(
        Param(
            "tasks the monitor may schedule for the whole campaign",
            minimum=1,
            maximum=MAX_CAMPAIGN_BUDGET,
            nullable=True,
        ),
        None,
    )
    dry_run: bool = param(Param("decide and log actions, perform none"), False)

    def check(self) -> None:
        """Refuse (SubmissionError) what the fields' bounds alone cannot: a kind's rules
        across fields, or a value its own parser refuses. Nothing by default."""
