"""What one unit of work (one store transaction) reads and writes, kept in memory.

A batch of Pulse messages touches the same few tasks, requests and campaigns again and
again (a task's pending, running and completed often arrive together; every event of a
request looks up its campaign's budget). The engine reads each of them once per unit,
through this working set, and sees its own changes from memory. In buffering mode the
changed tasks and requests (with their timeline entries) are written back once, at the
end, instead of once per event; the unit's transaction makes that as durable as before.

What the unit does not find in memory it asks of the engine's `WarmIndex` (what earlier
units committed, still valid for the store's generation) before the store; once the unit
committed, the engine gives the index what this unit read and wrote (`absorb_into`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mozci_monitor.core.campaign import Campaign
from mozci_monitor.core.model import Request, TaskRecord, TimelineEntry
from mozci_monitor.ports.store import EngineStore
from mozci_monitor.warm_index import ServingKey, WarmIndex


class WorkingSet:
    def __init__(
        self, store: EngineStore, index: WarmIndex | None = None, *, buffering: bool = False
    ) -> None:
        self._store = store
        self._index = index if index is not None else WarmIndex()
        self._buffering = buffering
        self._tasks: dict[str, TaskRecord | None] = {}
        self._requests: dict[str, Request] = {}  # the newest version this unit knows
        self._serving: dict[ServingKey, tuple[str, ...]] = {}
        # False once the serving answers may have grown (a request registered, an action
        # task linked): the index must not keep them past this unit.
        self.keep_serving = buffering
        self._campaigns: dict[str, Campaign | None] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._dirty_tasks: dict[str, TaskRecord] = {}
        self._dirty_requests: dict[str, Request] = {}
        # Of a buffered request, the tasks its stored version links (so not linked again).
        self._linked: dict[str, tuple[str, ...]] = {}
        self._timeline: dict[str, list[TimelineEntry]] = {}

    # -- tasks ----------------------------------------------------------------------------

    def task(self, task_id: str) -> TaskRecord | None:
        if task_id not in self._tasks:
            known = self._index.tasks.get(task_id)
            self._tasks[task_id] = known if known is not None else self._store.get_task(task_id)
        return self._tasks[task_id]

    def tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        missing: list[str] = []
        warm = self._index.tasks
        for task_id in task_ids:
            if task_id not in self._tasks:
                known = warm.get(task_id)
                if known is None:
                    missing.append(task_id)
                else:
                    self._tasks[task_id] = known
        if missing:
            found = self._store.get_tasks(missing)
            self._tasks.update((t, found.get(t)) for t in missing)
        return {t: record for t in task_ids if (record := self._tasks[t]) is not None}

    def preload_tasks(self, task_ids: Sequence[str]) -> None:
        """Read every task a batch is about in one go."""
        self.tasks(list(dict.fromkeys(task_ids)))

    def save_task(self, record: TaskRecord, at: str) -> None:
        self._tasks[record.task_id] = record
        if self._buffering:
            self._dirty_tasks[record.task_id] = record
        else:
            self._store.save_task(record, at)

    # -- requests -------------------------------------------------------------------------

    def requests_serving(
        self, task_id: str, task_group_id: str, label: str | None
    ) -> list[Request]:
        """The store's answer, read once per task in this unit, in this unit's versions.

        A request changed earlier in the unit is found as the store found it before (its
        group and label do not change, and one open at the start was returned by them).
        """
        key = (task_id, task_group_id, label)
        ids = self._serving.get(key)
        if ids is None:
            ids = self._index.serving.get(key)
            if ids is None:
                ids = tuple(self._store.request_ids_serving(task_id, task_group_id, label))
            self._serving[key] = ids
        return self._requests_by_id(ids)

    def preload_serving(self, keys: Sequence[ServingKey]) -> None:
        """Ask the store who serves every task of a batch it does not know of, at once,
        and read the requests it names that are not in memory."""
        warm = self._index.serving
        missing = [k for k in dict.fromkeys(keys) if k not in self._serving and k not in warm]
        if not missing:
            return
        answers = self._store.request_ids_serving_many(missing)
        self._serving.update((key, tuple(ids)) for key, ids in answers.items())
        self._requests_by_id(list(dict.fromkeys(i for ids in answers.values() for i in ids)))

    def _requests_by_id(self, ids: Sequence[str]) -> list[Request]:
        warm = self._index.requests
        missing = [i for i in ids if i not in self._requests and i not in warm]
        if missing:
            self._requests.update((r.request_id, r) for r in self._store.get_requests(missing))
        found: list[Request] = []
        for request_id in ids:
            request = self._requests.get(request_id)
            if request is None:
                request = warm.get(request_id)
            if request is not None:
                found.append(request)
        return found

    def request_added(self) -> None:
        """A request was registered in this unit: serving answers may have grown."""
        self.keep_serving = False

    def save_request(self, request: Request, timeline: Sequence[TimelineEntry], at: str) -> None:
        request_id = request.request_id
        if self._buffering and request_id not in self._dirty_requests:
            stored = self._requests.get(request_id) or self._index.requests.get(request_id)
            if stored is not None:  # what this unit or an earlier one read, as stored
                self._linked[request_id] = stored.task_ids
        self._requests[request_id] = request
        if not self._buffering:
            # Written through (outside a batch): it may link action tasks.
            self.keep_serving = False
            self._store.save_request(request, at)
            if timeline:
                self._store.append_timeline(request.request_id, timeline, at)
            return
        self._dirty_requests[request.request_id] = request
        if timeline:
            self._timeline.setdefault(request.request_id, []).extend(timeline)

    # -- campaigns and budgets ------------------------------------------------------------

    def campaign(self, campaign_id: str) -> Campaign | None:
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = self._store.get_campaign(campaign_id)
        return self._campaigns[campaign_id]

    def save_campaign(self, campaign: Campaign, at: str) -> None:
        self._store.save_campaign(campaign, at)  # rare: written through at once
        self._campaigns[campaign.campaign_id] = campaign

    def forget_campaign(self, campaign_id: str) -> None:
        """The store changed it behind the working set (add_campaign)."""
        self._campaigns.pop(campaign_id, None)

    def count_tasks(self, *, repo: str, day: str) -> int:
        """Tasks scheduled for the repository on the day (the daily budget counts them)."""
        if (repo, day) not in self._used:
            self._used[(repo, day)] = self._store.count_tasks(repo=repo, day=day)
        return self._used[(repo, day)]

    def tasks_added(self, repo: str, day: str, tasks: int) -> None:
        if (repo, day) in self._used:
            self._used[(repo, day)] += tasks

    # -- write-back -----------------------------------------------------------------------

    def flush(self, at: str) -> None:
        """Write what was buffered (the caller's transaction commits it), and write through
        from now on: what follows in the unit (campaign progress, a search registering
        requests) reads the store and must find everything there."""
        self._buffering = False
        self._store.save_tasks(list(self._dirty_tasks.values()), at)
        self._store.save_requests(
            list(self._dirty_requests.values()), at, already_linked=self._linked
        )
        self._store.append_timelines(
            [
                (request_id, entry)
                for request_id, entries in self._timeline.items()
                for entry in entries
            ],
            at,
        )
        self._dirty_tasks, self._dirty_requests, self._timeline = {}, {}, {}
        self._linked = {}

    # -- after the commit -----------------------------------------------------------------

    def absorb_into(self, index: WarmIndex, generation: int) -> None:
        """The unit committed, leaving the store at `generation`: what it read and wrote is
        what is stored."""
        index.absorb(
            generation,
            tasks=self._tasks,
            requests=self._requests,
            serving=self._serving,
            keep_serving=self.keep_serving,
        )
