"""Treeherder's REST API: a push by revision, the jobs of a push, a job's failure lines.

`/api/project/<repo>/push/?revision=<rev>` gives the push; `/api/jobs/?push_id=<id>`
gives its jobs, paged (`count` per page, up to 2000, and a `next` URL to
follow), each row a list to be read with `job_property_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from mozci_monitor.core.failure_lines import FailureLine

from .errors import NotFound, SourceError
from .jsonhttp import JsonHttp
from .models import TreeherderJob, TreeherderPush
from .politeness import PoliteSource

PRODUCTION_TREEHERDER_URL = "https://treeherder.mozilla.org"
MAX_PAGE_SIZE = 2000

T = TypeVar("T")


def parse_push(result: Mapping[str, Any]) -> TreeherderPush:
    return TreeherderPush(
        id=int(result["id"]),
        revision=str(result["revision"]),
        author=str(result.get("author", "")),
        push_timestamp=int(result.get("push_timestamp", 0)),
        revisions=tuple(
            str(r["revision"]) if isinstance(r, Mapping) else str(r)
            for r in result.get("revisions", ())
        ),
    )


def parse_jobs(page: Mapping[str, Any]) -> list[TreeherderJob]:
    """Jobs of one `/api/jobs/` page; rows are lists (job_property_names) or objects."""
    names: Sequence[str] = page.get("job_property_names") or ()
    jobs = []
    for row in page.get("results", ()):
        fields = row if isinstance(row, Mapping) else dict(zip(names, row, strict=False))
        jobs.append(_parse_job(fields))
    return jobs


def parse_bug_suggestions(data: Any) -> list[FailureLine]:
    """`/api/project/<repo>/jobs/<id>/bug_suggestions/`: one entry per error line."""
    if not isinstance(data, list):
        raise TypeError("bug_suggestions is not a list")
    lines = []
    for entry in data:
        if not isinstance(entry, Mapping):
            raise TypeError("bug_suggestions entry is not an object")
        bugs = entry.get("bugs") or {}
        path_end = entry.get("path_end")
        lines.append(
            FailureLine(
                text=str(entry["search"]),
                path_end=str(path_end) if path_end else None,
                has_bug_suggestions=bool(bugs.get("open_recent") or bugs.get("all_others")),
                new_in_revision=bool(entry.get("failure_new_in_rev", False)),
            )
        )
    return lines


def _parse_job(fields: Mapping[str, Any]) -> TreeherderJob:
    retry_id = fields.get("retry_id")
    push_id = fields.get("push_id")
    tier = fields.get("tier")
    return TreeherderJob(
        id=int(fields["id"]),
        label=str(fields.get("job_type_name") or fields.get("ref_data_name") or ""),
        result=str(fields.get("result", "")),
        state=str(fields.get("state", "")),
        task_id=fields.get("task_id"),
        retry_id=int(retry_id) if retry_id is not None else None,
        push_id=int(push_id) if push_id is not None else None,
        platform=fields.get("platform"),
        tier=int(tier) if tier is not None else None,
    )


class TreeherderClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: PoliteSource,
        *,
        base_url: str = PRODUCTION_TREEHERDER_URL,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.gate = gate
        self._http = JsonHttp(session, gate)

    async def push(self, repo: str, revision: str) -> TreeherderPush:
        url = f"{self.base_url}/api/project/{repo}/push/"
        data = await self._http.get_json(url, {"revision": revision})
        results = data.get("results") if isinstance(data, Mapping) else None
        if not results:
            raise NotFound(f"no push for {revision} on {repo}", source=self._http.source, url=url)
        return self._guard(parse_push, results[0], url)

    async def jobs(self, push_id: int) -> list[TreeherderJob]:
        """Every job of the push, following the `next` pages."""
        url: str | None = f"{self.base_url}/api/jobs/?push_id={push_id}&count={self.page_size}"
        jobs: list[TreeherderJob] = []
        seen: set[str] = set()
        while url:
            seen.add(url)
            page = await self._http.get_json(url)
            if not isinstance(page, Mapping):
                raise SourceError("jobs page is not an object", source=self._http.source, url=url)
            jobs.extend(self._guard(parse_jobs, page, url))
            # `next` is the server's own link to the following page, query included.
            url = page.get("next")
            if url in seen:
                raise SourceError("jobs paging loops", source=self._http.source, url=url)
        return jobs

    async def failure_lines(self, repo: str, job_id: int) -> list[FailureLine]:
        """The job's failure lines as Treeherder's bug suggestions list them."""
        url = f"{self.base_url}/api/project/{repo}/jobs/{job_id}/bug_suggestions/"
        return self._guard(parse_bug_suggestions, await self._http.get_json(url), url)

    async def jobs_for_revision(self, repo: str, revision: str) -> list[TreeherderJob]:
        return await self.jobs((await self.push(repo, revision)).id)

    def _guard(self, parse: Callable[[Any], T], data: Any, url: str) -> T:
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(
                f"unexpected answer: {exc!r}", source=self._http.source, url=url
            ) from exc
