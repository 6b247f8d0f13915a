"""Async, polite clients for the services mozci-monitor reads and acts on.

Taskcluster (queue, index, hooks, notify), Treeherder, the hg pushlog, plus
the pure in-tree action renderer and concurrent revision analysis. Every
client takes an injected `aiohttp.ClientSession` (see `create_session`) and a
`PoliteSource` (throttle, retries, circuit breaker, request meter).
"""

from mozci_monitor.redact import redact_text, redact_url

from .actions import (
    ActionError,
    ActionNotFound,
    HookCall,
    available_actions,
    render_action,
    render_choice,
)
from .analysis import Outcome, analyse_revisions
from .breaker import BreakerState, CircuitBreaker
from .clients import DEFAULT_POLICIES, SourceClients, SourceSettings, create_clients
from .errors import NotFound, SourceError, SourceUnavailable, TransientError
from .hgmo import PRODUCTION_HG_URL, PushlogClient, parse_pushlog, repo_path
from .jsonhttp import JsonHttp, create_session
from .models import (
    Changeset,
    Push,
    TaskGroupMember,
    TaskRun,
    TaskStatus,
    TreeherderJob,
    TreeherderPush,
)
from .politeness import (
    USER_AGENT,
    Policy,
    PoliteSource,
    parse_retry_after,
)
from .ratemeter import RateMeter
from .taskcluster import PRODUCTION_ROOT_URL, TaskclusterClient, credentials_from_environment
from .treeherder import PRODUCTION_TREEHERDER_URL, TreeherderClient

__all__ = [
    "DEFAULT_POLICIES",
    "PRODUCTION_HG_URL",
    "PRODUCTION_ROOT_URL",
    "PRODUCTION_TREEHERDER_URL",
    "USER_AGENT",
    "ActionError",
    "ActionNotFound",
    "BreakerState",
    "Changeset",
    "CircuitBreaker",
    "HookCall",
    "JsonHttp",
    "NotFound",
    "Outcome",
    "Policy",
    "PoliteSource",
    "Push",
    "PushlogClient",
    "RateMeter",
    "SourceClients",
    "SourceError",
    "SourceSettings",
    "SourceUnavailable",
    "TaskGroupMember",
    "TaskRun",
    "TaskStatus",
    "TaskclusterClient",
    "TransientError",
    "TreeherderClient",
    "TreeherderJob",
    "TreeherderPush",
    "analyse_revisions",
    "available_actions",
    "create_clients",
    "create_session",
    "credentials_from_environment",
    "parse_pushlog",
    "parse_retry_after",
    "redact_text",
    "redact_url",
    "render_action",
    "render_choice",
    "repo_path",
]
