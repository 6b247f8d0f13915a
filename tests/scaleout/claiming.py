"""PROPOSAL for the actuator: perform outbox entries through claims, not `pending_actions`.

`ClaimingStore(store, owner, lease_seconds)` wraps a store that has `claim_actions` (the
PostgreSQL store, or SQLite with the proposed methods) so that today's Actuator, unchanged,
only ever sees and marks entries this instance holds:

* `pending_actions(limit)` claims (SELECT … FOR UPDATE SKIP LOCKED + lease) instead of
  listing every pending entry;
* `mark_action_started` is fenced on the claim and raises `LostClaim` when another
  instance took the entry over (the lease ran out): the actuator must not attempt it;
* `mark_action_done` / `mark_action_failed` are fenced too.

Everything else is passed through. The lead can fold this into the Actuator (see
mozci_monitor/store/WIRING.md) instead of wrapping the store.
"""

from __future__ import annotations

from typing import Any


class LostClaim(RuntimeError):
    """Another instance holds this outbox entry now."""


class ClaimingStore:
    def __init__(self, store: Any, owner: str, lease_seconds: float) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def pending_actions(self, limit: int = 100) -> list[Any]:
        entries: list[Any] = self.store.claim_actions(
            self.owner, lease_seconds=self.lease_seconds, limit=limit
        )
        return entries

    def mark_action_started(self, key: str, at: str) -> None:
        if not self.store.mark_action_started(key, at, owner=self.owner):
            raise LostClaim(key)

    def mark_action_done(self, key: str, at: str, result: str) -> None:
        self.store.mark_action_done(key, at, result, owner=self.owner)

    def mark_action_failed(self, key: str, at: str, error: str, *, final: bool) -> None:
        self.store.mark_action_failed(key, at, error, final=final, owner=self.owner)
