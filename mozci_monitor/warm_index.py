"""What the engine remembers of the store between units of work.

A task's messages arrive spread over several batches (pending, running, completed minutes
apart, or interleaved with thousands of others), so a working set that forgets everything
at the end of its unit reads the same task rows, the same "which requests serve this
task" answers and the same request rows again for every message. This index keeps them,
as they were committed, for the next units of this process.

It never disagrees with the store:

- It is updated only after a unit's transaction committed (`absorb`), from what that unit
  read and wrote; a unit that failed or rolled back leaves it as it was, or empties it
  when the outcome is not known (`clear`).
- Every transaction that changes tasks or requests counts one more store generation
  (`SqlStore.generation`), whichever process or command wrote it. A unit reads the
  generation first, under the store's write lock: if it is not the one this index was
  left at, someone else wrote in between and the index starts empty (`begin`).
- Where the serving answers could have grown (a request was registered, an action task
  was linked), the unit says so and they are dropped (`keep_serving=False`).

It is bounded: past its limits it starts empty rather than evicting piecemeal (a
generation's worth of rows is read again, as before it existed).
"""

from __future__ import annotations

from collections.abc import Mapping

from mozci_monitor.core.model import Request, TaskRecord

# (task id, task group id, label): the key of a "who serves this task" answer.
ServingKey = tuple[str, str, str | None]

# About 1.5 KB per task row with its status (measured with tracemalloc on the benchmark's
# tasks of one or two runs): the limits keep the index near 100 MB at most.
MAX_TASKS = 50_000
MAX_REQUESTS = 20_000
MAX_SERVING = 50_000


class WarmIndex:
    def __init__(
        self,
        *,
        max_tasks: int = MAX_TASKS,
        max_requests: int = MAX_REQUESTS,
        max_serving: int = MAX_SERVING,
    ) -> None:
        self._limits = (max_tasks, max_requests, max_serving)
        self.generation: int | None = None  # the store's, when this index was last right
        self.tasks: dict[str, TaskRecord] = {}
        self.requests: dict[str, Request] = {}  # as committed
        # Requests serving a task, as found before the unit that asked: every request the
        # store would name now is among them; the others are closed requests that do not
        # own the task, which `core.machine.matches` turns away.
        self.serving: dict[ServingKey, tuple[str, ...]] = {}
        self.reloads = 0  # times it started empty (another writer, a failure, its limits)

    def begin(self, generation: int) -> None:
        """A unit starts and the store is at `generation`: forget all if it moved on."""
        if generation != self.generation:
            self.clear()
            self.generation = generation

    def clear(self) -> None:
        """Forget everything (a failed commit, whose outcome is not known)."""
        if self.tasks or self.requests or self.serving:
            self.reloads += 1
        self.generation = None
        self.tasks, self.requests, self.serving = {}, {}, {}

    def absorb(
        self,
        generation: int,
        *,
        tasks: Mapping[str, TaskRecord | None],
        requests: Mapping[str, Request],
        serving: Mapping[ServingKey, tuple[str, ...]],
        keep_serving: bool,
    ) -> None:
        """A unit committed, leaving the store at `generation`: keep what it read and wrote
        (the newest version of each row)."""
        self.generation = generation
        self.tasks.update((task_id, t) for task_id, t in tasks.items() if t is not None)
        self.requests.update(requests)
        if keep_serving:
            self.serving.update(serving)
        else:
            self.serving = {}
        max_tasks, max_requests, max_serving = self._limits
        if (
            len(self.tasks) > max_tasks
            or len(self.requests) > max_requests
            or len(self.serving) > max_serving
        ):
            self.clear()
            self.generation = generation
