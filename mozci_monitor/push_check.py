"""A submission checked against the push it names, before anything is recorded.

The revision is resolved through the pushlog (12 to 40 hex digits, as Treeherder shows
them) to its push and that push's head revision, which is what the index and Treeherder
know; the push's decision task group is found in the index and a task group given by hand
must be that one; labels must be in the push's full task graph (the decision task's
`public/full-task-graph.json`). Each refusal is a `SubmissionError` naming the field, with
the HTTP status the API answers with.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mozci_monitor.core.errors import NotFound, SourceError, SubmissionError
from mozci_monitor.core.kinds import CampaignParams
from mozci_monitor.ports.sources import HgPush

FULL_TASK_GRAPH = "public/full-task-graph.json"
P = TypeVar("P", bound=CampaignParams)
_REVISION = re.compile(r"^[0-9a-f]{12,40}$")


class Pushlog(Protocol):
    async def push_for_revision(
        self, repo: str, revision: str, *, full: bool = False
    ) -> HgPush: ...


class Queue(Protocol):
    async def find_decision_task(self, repo: str, revision: str) -> str: ...
    async def artifact_json(self, task_id: str, name: str) -> Any: ...


@dataclass(frozen=True)
class ResolvedPush:
    repo: str
    revision: str  # the push's head revision, 40 hex digits
    push_id: int
    task_group_id: str  # the decision task's group (its task id)


def check_revision_syntax(revision: str, *, field: str = "revision") -> str:
    """Lower-cased; refused unless 12 to 40 hexadecimal digits."""
    normal = revision.strip().lower()
    if not _REVISION.match(normal):
        raise SubmissionError(
            f"{field}: {revision!r} is not a revision (12 to 40 hexadecimal digits)", field=field
        )
    return normal


async def push_of_revision(
    pushlog: Pushlog, *, repo: str, revision: str, field: str = "revision"
) -> HgPush:
    """The pushlog's push containing `revision` (12 to 40 hex digits)."""
    wanted = check_revision_syntax(revision, field=field)
    try:
        return await pushlog.push_for_revision(repo, wanted)
    except NotFound:
        raise SubmissionError(
            f"{field}: {repo} has no push with revision {wanted}", field=field, status=404
        ) from None
    except SourceError as error:
        raise _unavailable(f"cannot read the pushlog of {repo}", error, field) from None


@dataclass(frozen=True)
class CheckedSubmission:
    """What a submission names, resolved: its push, and the first push of a bisect range."""

    push: ResolvedPush
    from_revision: str | None = None  # head revision of --from-revision's push


# Kinds whose label is a task of the push's graph (downstream's is its build); fill has
# patterns, not labels.
_KINDS_WITH_A_LABEL = frozenset({"watch", "downstream", "backfill", "bisect", "until-fail"})


async def check_submission(
    pushlog: Pushlog,
    queue: Queue,
    *,
    kind: str,
    repo: str,
    revision: str,
    task_group: str | None = None,
    label: str | None = None,
    label_field: str = "label",
    from_revision: str | None = None,
) -> CheckedSubmission:
    """Every check a campaign submission of `kind` gets against its push, in one place."""
    push = await resolve_push(pushlog, queue, repo=repo, revision=revision, task_group=task_group)
    if label and kind in _KINDS_WITH_A_LABEL:
        known = await full_task_graph_labels(queue, push)
        check_labels([label], known, push, field=label_field)
    first: str | None = None
    if from_revision:
        first_push = await push_of_revision(
            pushlog, repo=repo, revision=from_revision, field="from_revision"
        )
        if first_push.id > push.push_id:
            raise SubmissionError(
                f"from_revision: push {first_push.id} comes after push {push.push_id}",
                field="from_revision",
            )
        first = first_push.revision
    return CheckedSubmission(push, first)


async def resolve_push(
    pushlog: Pushlog,
    queue: Queue,
    *,
    repo: str,
    revision: str,
    task_group: str | None = None,
    field: str = "revision",
) -> ResolvedPush:
    """The push containing `revision`, its head revision and its decision task group.

    `task_group`, when given, must be the push's: a group of another push (or a made-up
    one) is refused rather than watched in vain.
    """
    push = await push_of_revision(pushlog, repo=repo, revision=revision, field=field)
    try:
        group = await queue.find_decision_task(repo, push.revision)
    except NotFound:
        raise SubmissionError(
            f"{field}: push {push.id} ({push.revision[:12]}) on {repo} has no decision task"
            " in the index (yet)",
            field=field,
            status=409,
        ) from None
    except SourceError as error:
        raise _unavailable("cannot read the Taskcluster index", error, field) from None
    if task_group is not None and task_group != group:
        raise SubmissionError(
            f"task_group: {task_group} is not the task group of {repo}@{push.revision[:12]}"
            f" (push {push.id}); its decision task group is {group}",
            field="task_group",
        )
    return ResolvedPush(repo, push.revision, push.id, group)


async def full_task_graph_labels(queue: Queue, push: ResolvedPush) -> frozenset[str]:
    """Every label the push's decision task could schedule."""
    try:
        graph = await queue.artifact_json(push.task_group_id, FULL_TASK_GRAPH)
    except NotFound:
        raise SubmissionError(
            f"label: the decision task of {push.repo}@{push.revision[:12]} has not published"
            f" {FULL_TASK_GRAPH} (yet): labels cannot be checked; try again once it finished",
            field="label",
            status=409,
        ) from None
    except SourceError as error:
        raise _unavailable(f"cannot read {FULL_TASK_GRAPH}", error, "label") from None
    if not isinstance(graph, Mapping):
        raise SubmissionError(
            f"label: {FULL_TASK_GRAPH} of {push.task_group_id} is not a label map",
            field="label",
            status=502,
        )
    return frozenset(str(label) for label in graph)


def check_labels(
    labels: Iterable[str], known: frozenset[str], push: ResolvedPush, *, field: str = "label"
) -> None:
    """Refuse labels the push's full task graph does not have, suggesting near ones."""
    for label in labels:
        if label in known:
            continue
        close = difflib.get_close_matches(label, sorted(known), n=3, cutoff=0.8)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SubmissionError(
            f"{field}: {label!r} is not in the full task graph of {push.repo}@"
            f"{push.revision[:12]} (push {push.push_id}){hint}",
            field=field,
        )


def _unavailable(what: str, error: SourceError, field: str) -> SubmissionError:
    return SubmissionError(f"{field}: {what}: {error}", field=field, status=502)


async def checked_params(params: P, pushlog: Pushlog | None, queue: Queue) -> P:
    """A campaign's parameters checked against their push, with the revision made the
    push's full head revision and the task group (when the kind has one) the push's.

    `params` is one of the kinds' parameter dataclasses (`core.kinds`). Without a pushlog
    (`[sources] hg_url` not configured) nothing can be resolved: refused, not trusted.
    """
    if pushlog is None:
        raise SubmissionError(
            "revision: cannot be checked: no pushlog is configured ([sources] hg_url)",
            field="revision",
            status=503,
        )
    build = getattr(params, "build", None)
    checked = await check_submission(
        pushlog,
        queue,
        kind=params.kind.value,
        repo=params.repo,
        revision=params.revision,
        task_group=getattr(params, "task_group", None),
        label=build or getattr(params, "label", None),
        label_field="build" if build else "label",
        from_revision=getattr(params, "from_revision", None),
    )
    changes: dict[str, Any] = {"revision": checked.push.revision}
    if hasattr(params, "task_group"):
        changes["task_group"] = checked.push.task_group_id
    if checked.from_revision is not None:
        changes["from_revision"] = checked.from_revision
    return dataclasses.replace(params, **changes)
