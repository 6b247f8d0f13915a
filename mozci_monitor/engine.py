"""Applies parsed deliveries to the store through the core state machine.

This is the one place where the pure core meets durable state: every call runs inside one
store transaction, so a batch is either entirely committed (and may then be acked) or not
at all. The store is reached through the `StorePort` protocol; the daemon picks the
implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from mozci_monitor.core.machine import Change, TaskUpdate, decide, matches, observe
from mozci_monitor.core.messages import Rejection
from mozci_monitor.core.model import Request, TaskEvent, TaskRecord, TimelineEntry


class StorePort(Protocol):
    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]: ...
    def open_task_groups(self) -> set[str]: ...
    def get_task(self, task_id: str) -> TaskRecord | None: ...
    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]: ...
    def tasks_in_group(self, task_group_id: str) -> list[TaskRecord]: ...
    def save_task(self, record: TaskRecord, at: str) -> None: ...
    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]: ...
    def add_request(self, request: Request, at: str) -> None: ...
    def save_request(self, request: Request, at: str) -> None: ...
    def append_timeline(
        self, request_id: str, entries: Sequence[TimelineEntry], at: str
    ) -> None: ...
    def record_rejection(self, rejection: Rejection, at: str) -> None: ...


@dataclass
class BatchOutcome:
    applied: int = 0  # a watched task moved forward
    duplicates: int = 0  # already known (redelivery, or the same status twice)
    stale: int = 0  # behind what we know (out-of-order delivery)
    unwatched: int = 0  # no open request watches this task's group
    rejected: int = 0
    changed_requests: dict[str, Request] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)  # watched tasks whose label is unknown

    @property
    def parsed(self) -> int:
        return self.applied + self.duplicates + self.stale + self.unwatched

    def add(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.stale += other.stale
        self.unwatched += other.unwatched
        self.rejected += other.rejected
        self.changed_requests.update(other.changed_requests)
        self.unlabelled.extend(other.unlabelled)


class Engine:
    def __init__(self, store: StorePort) -> None:
        self._store = store

    def apply(
        self, items: Sequence[TaskEvent | Rejection], at: str, *, dry_run: bool = False
    ) -> BatchOutcome:
        """Apply a batch atomically; on return (without dry_run) it is durable."""
        outcome = BatchOutcome()
        with self._store.transaction(rollback=dry_run):
            watched = self._store.open_task_groups()
            for item in items:
                if isinstance(item, Rejection):
                    self._store.record_rejection(item, at)
                    outcome.rejected += 1
                else:
                    self._apply_event(item, watched, at, outcome)
        return outcome

    def register(self, request: Request, at: str) -> Request:
        """Add a request and adopt the tasks of its group already known to serve it."""
        with self._store.transaction():
            self._store.add_request(request, at)
            self._store.append_timeline(
                request.request_id,
                [
                    TimelineEntry(
                        "registered", None, {"label": request.label, "wanted": request.wanted}
                    )
                ],
                at,
            )
            known = [
                record
                for record in self._store.tasks_in_group(request.push.task_group_id)
                if matches(request, record)
            ]
            outcome = BatchOutcome()
            for record in known:
                request = self._feed(request, TaskUpdate(record, Change.NEW), at, outcome)
            return request

    def learn_label(self, task_id: str, label: str, at: str) -> BatchOutcome:
        """A label found out-of-band (queue.task) lets an unlabelled task join its requests."""
        outcome = BatchOutcome()
        with self._store.transaction():
            previous = self._store.get_task(task_id)
            if previous is None or previous.label == label:
                return outcome
            update = observe(previous, previous.status, label)
            self._store.save_task(update.record, at)
            self._match(update, at, outcome)
        return outcome

    def _apply_event(
        self, event: TaskEvent, watched: set[str], at: str, outcome: BatchOutcome
    ) -> None:
        previous = self._store.get_task(event.task_id)
        if previous is None and event.task_group_id not in watched:
            outcome.unwatched += 1
            return
        update = observe(previous, event.status, event.label)
        if update.change is Change.STALE:
            outcome.stale += 1
        elif update.change is Change.DUPLICATE:
            outcome.duplicates += 1
        else:
            outcome.applied += 1
        if update.record == previous:
            return
        self._store.save_task(update.record, at)
        if update.record.label is None:
            outcome.unlabelled.append(event.task_id)
        self._match(update, at, outcome)

    def _match(self, update: TaskUpdate, at: str, outcome: BatchOutcome) -> None:
        record = update.record
        for request in self._store.requests_serving(
            record.task_id, record.task_group_id, record.label
        ):
            if matches(request, record):
                self._feed(request, update, at, outcome)

    def _feed(
        self, request: Request, update: TaskUpdate, at: str, outcome: BatchOutcome
    ) -> Request:
        tasks = self._store.get_tasks(list(request.task_ids))
        decision = decide(request, tasks, update)
        if decision.changed:
            self._store.save_request(decision.request, at)
            self._store.append_timeline(request.request_id, decision.timeline, at)
            outcome.changed_requests[request.request_id] = decision.request
        return decision.request
