"""The store port: what the engine, actuator, reconciler, daemon and API read and write.

The protocols are narrow on purpose: each consumer names only the calls it makes, so a test
double implements a handful of methods and the SQL store (`mozci_monitor.store`) satisfies
all of them. The data types here are what the store hands back beside the core's models.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from mozci_monitor.core.actions import Action
from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.errors import StoreError
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import Request, TaskRecord, TimelineEntry

__all__ = [
    "CapacityStore",
    "DaemonStore",
    "EngineStore",
    "OutboxEntry",
    "OutboxStore",
    "PruneReport",
    "ReconcileStore",
    "RejectedMessage",
    "RetentionPolicy",
    "ScheduledTasks",
    "StoreError",
    "StoreReader",
    "StoredEntry",
    "TaskResultsStore",
]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An action the engine decided on, and how far performing it got."""

    key: str
    action: Action
    state: str  # pending | done | failed | withdrawn (closed unperformed: core.withdrawal)
    attempts: int
    started_at: str | None
    created_at: str
    done_at: str | None
    result: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A timeline entry as stored: its order (`seq`) and when it was written."""

    seq: int
    at: str
    kind: str
    task_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduledTasks:
    """Tasks an action puts (or put) on one worker pool: the pool as its task's definition
    names it (None: no task of the label is known), and the label's platform."""

    pool: str | None
    platform: str
    tasks: int
    label: str = ""


class RejectedMessage(NamedTuple):
    """A message that could not be applied, as recorded (its body is kept, truncated)."""

    at: str
    exchange: str
    routing_key: str
    reason: str


@dataclass(slots=True)
class PruneReport:
    """Rows a retention pass deleted (or would delete, on a dry run), per table."""

    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, rows: int) -> None:
        self.deleted[table] = self.deleted.get(table, 0) + rows

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


class EngineStore(Protocol):
    """What the engine needs: one transaction per batch, and the rows it decides on."""

    # Set when a transaction that changed tasks or requests committed: the store's
    # generation it left (see `generation`); None after one that changed neither.
    written_generation: int | None

    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]: ...
    def generation(self) -> int:
        """Committed transactions that changed tasks or requests so far, by any process."""
        ...

    def watched_among(self, task_group_ids: Iterable[str]) -> set[str]: ...
    def get_task(self, task_id: str) -> TaskRecord | None: ...
    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]: ...
    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]: ...
    def save_task(self, record: TaskRecord, at: str) -> None: ...
    def save_tasks(self, records: Sequence[TaskRecord], at: str) -> None: ...
    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]: ...
    def request_ids_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[str]: ...
    def get_request(self, request_id: str) -> Request | None: ...
    def request_ids_serving_many(
        self, keys: Sequence[tuple[str, str, str | None]]
    ) -> dict[tuple[str, str, str | None], list[str]]: ...
    def get_requests(self, request_ids: Sequence[str]) -> list[Request]: ...
    def iter_requests(
        self, *, open_only: bool = False, task_group_id: str | None = None, page: int = 500
    ) -> Iterator[Request]: ...
    def add_request(self, request: Request, at: str) -> None: ...
    def save_request(self, request: Request, at: str) -> None: ...
    def save_requests(
        self,
        requests: Sequence[Request],
        at: str,
        *,
        already_linked: Mapping[str, Collection[str]] | None = None,
    ) -> None: ...
    def append_timeline(
        self, request_id: str, entries: Sequence[TimelineEntry], at: str
    ) -> None: ...
    def append_timelines(self, entries: Sequence[tuple[str, TimelineEntry]], at: str) -> None: ...
    def record_rejection(self, rejection: Rejection, at: str) -> None: ...
    def add_campaign(self, campaign: Campaign, at: str) -> None: ...
    def save_campaign(self, campaign: Campaign, at: str) -> None: ...
    def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    def campaign_requests(self, campaign_id: str) -> list[Request]: ...
    def add_action(self, action: Action, at: str) -> bool: ...
    def count_tasks(self, *, repo: str, day: str) -> int: ...


class OutboxStore(Protocol):
    """Claims make several daemons on one store perform each entry once: an instance only
    works on entries it claimed (with a lease), and its marks fail once another instance
    took an entry over after the lease ran out."""

    def claim_actions(
        self, owner: str, *, lease_seconds: float, limit: int = 100
    ) -> list[OutboxEntry]: ...
    def release_actions(self, owner: str) -> int: ...
    def mark_action_started(
        self, key: str, at: str, *, owner: str | None = None
    ) -> bool | None: ...
    def mark_action_done(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None: ...
    def mark_action_failed(
        self, key: str, at: str, error: str, *, final: bool, owner: str | None = None
    ) -> bool | None: ...
    def mark_action_deferred(
        self, key: str, reason: str, *, started_at: str | None, owner: str | None = None
    ) -> bool | None: ...
    def mark_action_sized(self, action: Action, *, owner: str | None = None) -> bool | None: ...
    def count_done_like(self, action: Action) -> int: ...
    def mark_action_withdrawn(
        self, key: str, at: str, result: str, *, owner: str | None = None
    ) -> bool | None: ...
    # The claim for performing reads what the action serves in the same transaction
    # (`core.withdrawal`): an end the engine committed first always wins.
    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]: ...
    def get_requests(self, request_ids: Sequence[str]) -> list[Request]: ...
    def tasks_of_action(self, action: Action) -> list[ScheduledTasks]: ...
    def tasks_scheduled_on(self, day: str, *, owner: str | None = None) -> list[ScheduledTasks]: ...
    def get_campaign(self, campaign_id: str) -> Campaign | None: ...


class CapacityStore(Protocol):
    """What the capacity check reads: where an action's tasks go, and what this monitor
    scheduled on a UTC day (actions performed or being performed that day)."""

    def tasks_of_action(self, action: Action) -> list[ScheduledTasks]: ...
    def tasks_scheduled_on(self, day: str, *, owner: str | None = None) -> list[ScheduledTasks]: ...


class ReconcileStore(Protocol):
    """What the REST catch-up reads. Open requests and campaigns are paged through (keyset),
    never cut at a limit: an old request must get its remedy however many newer ones exist."""

    def open_task_groups(self) -> set[str]: ...
    def iter_requests(
        self, *, open_only: bool = False, task_group_id: str | None = None, page: int = 500
    ) -> Iterator[Request]: ...
    def iter_campaigns(
        self, *, open_only: bool = False, task_group_id: str | None = None, page: int = 500
    ) -> Iterator[Campaign]: ...
    def campaign_requests(self, campaign_id: str) -> list[Request]: ...
    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]: ...
    def try_lease(self, name: str, owner: str, seconds: float) -> bool: ...


class TaskResultsStore(Protocol):
    """Per finished run, what its test results say (`core.errorsummary.summary_to_json`):
    written once when fetched, read when a campaign judges the run by its signature."""

    def put_task_results(
        self, task_id: str, run_id: int, source: str, results: dict[str, Any], at: str
    ) -> bool: ...
    def task_results(self, task_id: str, run_id: int) -> tuple[str, dict[str, Any]] | None: ...


class StoreReader(Protocol):
    """Read-only look-ups for people (API, status page, CLI), on their own connection so
    that they never wait behind the writer's transactions."""

    def get_request(self, request_id: str) -> Request | None: ...
    def find_requests(self, prefix: str) -> list[Request]: ...
    def list_requests(self, *, open_only: bool = False, limit: int = 1000) -> list[Request]: ...
    def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    def find_campaigns(self, prefix: str) -> list[Campaign]: ...
    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]: ...
    def campaign_requests(self, campaign_id: str) -> list[Request]: ...
    def timeline(self, request_id: str) -> list[StoredEntry]: ...
    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]: ...
    def close(self) -> None: ...


class DaemonStore(
    EngineStore, OutboxStore, ReconcileStore, TaskResultsStore, CapacityStore, Protocol
):
    """Everything the daemon's own loops use, plus the read-only view it serves the API from."""

    def probe_writable(self) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def count_open_requests(self) -> int: ...
    def find_campaigns(self, prefix: str) -> list[Campaign]: ...
    def timeline(self, request_id: str) -> list[StoredEntry]: ...
    def actions_of(
        self, *, request_id: str | None = None, campaign_id: str | None = None
    ) -> list[OutboxEntry]: ...
    def list_campaigns(self, *, open_only: bool = False, limit: int = 1000) -> list[Campaign]: ...
    def prune_step(self, policy: RetentionPolicy, now: datetime) -> PruneReport: ...
    def reader(self) -> StoreReader: ...
    def outbox(self) -> OutboxStore:
        """The outbox on its own read-write connection (see SqlStore.outbox)."""
        ...


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long what may be forgotten is kept; `batch` bounds the rows of one delete so the
    writer is never held long (the daemon interleaves batches with message commits)."""

    rejected_days: float = 7.0
    rejected_max_rows: int = 10_000
    finished_task_days: float = 14.0
    batch: int = 500
