"""A task's test results: its errorsummary.log artifacts, or Treeherder's failure lines.

First source: the queue's artifacts of the task's latest run, every
`public/test_info/*errorsummary.log` (a task running several harness passes publishes
several), each read up to `max_bytes` and parsed off the event loop. Second source, for
a task without them (expired artifacts, a harness that died before writing one):
Treeherder's failure lines for the job, which can show a failure but never a pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from mozci_monitor.core.errorsummary import ErrorSummary, merge_summaries, parse_errorsummary
from mozci_monitor.core.failure_lines import summary_from_failure_lines

from .errors import NotFound
from .jsonhttp import BoundedBody
from .taskcluster import TaskclusterClient
from .treeherder import TreeherderClient

ERRORSUMMARY_PREFIX = "public/test_info/"
ERRORSUMMARY_SUFFIX = "errorsummary.log"
# Real errorsummary logs are a few KiB to a few hundred KiB; past this a log says
# nothing a campaign needs that the first part did not.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_ARTIFACTS = 20


@dataclass(frozen=True, slots=True)
class TaskResults:
    summary: ErrorSummary
    # "errorsummary" or "treeherder": how far the summary can be trusted to show passes.
    source: str
    artifacts: tuple[str, ...] = ()


def is_errorsummary(name: str) -> bool:
    return name.startswith(ERRORSUMMARY_PREFIX) and name.endswith(ERRORSUMMARY_SUFFIX)


async def errorsummary_of_task(
    taskcluster: TaskclusterClient, task_id: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> TaskResults | None:
    """None when the task published no errorsummary (or the task is unknown)."""
    try:
        names = [
            name for name in await taskcluster.list_artifacts(task_id) if is_errorsummary(name)
        ]
    except NotFound:
        return None
    names = sorted(names)[:MAX_ARTIFACTS]
    if not names:
        return None
    summaries = []
    for name in names:
        try:
            body = await taskcluster.artifact_bytes(task_id, name, max_bytes=max_bytes)
        except NotFound:
            continue  # listed, then expired or deleted
        summaries.append(await asyncio.to_thread(_parse, body, max_bytes))
    if not summaries:
        return None
    return TaskResults(merge_summaries(summaries), source="errorsummary", artifacts=tuple(names))


async def failure_lines_of_job(treeherder: TreeherderClient, repo: str, job_id: int) -> TaskResults:
    lines = await treeherder.failure_lines(repo, job_id)
    return TaskResults(summary_from_failure_lines(lines), source="treeherder")


async def results_of_task(
    taskcluster: TaskclusterClient,
    treeherder: TreeherderClient | None,
    task_id: str,
    *,
    repo: str,
    job_id: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> TaskResults | None:
    """The errorsummary when there is one, else Treeherder's failure lines for the job."""
    results = await errorsummary_of_task(taskcluster, task_id, max_bytes=max_bytes)
    if results is not None or treeherder is None or job_id is None:
        return results
    try:
        return await failure_lines_of_job(treeherder, repo, job_id)
    except NotFound:
        return None


def _parse(body: BoundedBody, max_bytes: int) -> ErrorSummary:
    if not body.truncated:
        return parse_errorsummary(body.data)
    # The last line was cut in the middle: drop it, and say the log was cut.
    whole_lines, _, _ = body.data.rpartition(b"\n")
    summary = parse_errorsummary(whole_lines)
    return dataclasses.replace(
        summary,
        bad_lines=summary.bad_lines + 1,
        bad_line_reasons=(*summary.bad_line_reasons, f"cut at {max_bytes} bytes"),
    )
