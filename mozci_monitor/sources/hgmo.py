"""hg.mozilla.org pushlog (`json-pushes?version=2`), always by push-ID range.

The pushlog's `startID` is exclusive and `endID` inclusive; `pushes()` takes
an inclusive range and does the off-by-one here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from .errors import NotFound, SourceError
from .jsonhttp import JsonHttp
from .models import Changeset, Push
from .politeness import PoliteSource

PRODUCTION_HG_URL = "https://hg.mozilla.org"

# Treeherder/Taskcluster repository name -> path on hg.mozilla.org.
REPO_PATHS: Mapping[str, str] = {
    "autoland": "integration/autoland",
    "mozilla-central": "mozilla-central",
    "try": "try",
    "mozilla-beta": "releases/mozilla-beta",
    "mozilla-release": "releases/mozilla-release",
    "mozilla-esr115": "releases/mozilla-esr115",
    "mozilla-esr128": "releases/mozilla-esr128",
    "mozilla-esr140": "releases/mozilla-esr140",
}


def repo_path(repo: str) -> str:
    """hg path of a repository; unknown names are taken to be paths already."""
    return REPO_PATHS.get(repo, repo)


def parse_pushlog(data: Mapping[str, Any]) -> list[Push]:
    """Pushes of a version-2 json-pushes answer, by ascending push ID.

    Changesets are node strings without `full=1` and objects with it; the push's
    revision is its last changeset (the head that was pushed).
    """
    pushes = data.get("pushes")
    if not isinstance(pushes, Mapping):
        raise ValueError("not a version 2 pushlog answer (no 'pushes' object)")
    result = [_parse_push(int(push_id), push) for push_id, push in pushes.items()]
    result.sort(key=lambda push: push.id)
    return result


def _parse_push(push_id: int, push: Mapping[str, Any]) -> Push:
    changesets = tuple(_parse_changeset(c) for c in push.get("changesets", ()))
    return Push(
        id=push_id,
        revision=changesets[-1].node if changesets else "",
        date=int(push["date"]),
        user=str(push.get("user", "")),
        changesets=changesets,
    )


def _parse_changeset(changeset: str | Mapping[str, Any]) -> Changeset:
    if isinstance(changeset, str):
        return Changeset(node=changeset)
    return Changeset(
        node=str(changeset["node"]),
        author=changeset.get("author"),
        desc=changeset.get("desc"),
        branch=changeset.get("branch"),
    )


class PushlogClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: PoliteSource,
        *,
        base_url: str = PRODUCTION_HG_URL,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.gate = gate
        self._http = JsonHttp(session, gate)

    def _url(self, repo: str) -> str:
        return f"{self.base_url}/{repo_path(repo)}/json-pushes"

    async def pushes(
        self, repo: str, first_id: int, last_id: int, *, full: bool = False
    ) -> list[Push]:
        """Pushes `first_id`..`last_id` (both included), by ascending ID."""
        if last_id < first_id:
            return []
        params: dict[str, str | int] = {
            "version": 2,
            "startID": max(first_id - 1, 0),
            "endID": last_id,
        }
        if full:
            params["full"] = 1
        return self._parse(await self._http.get_json(self._url(repo), params), repo)

    async def push_for_revision(self, repo: str, revision: str, *, full: bool = False) -> Push:
        """The push that contains `revision` (NotFound if the repo does not know it)."""
        params: dict[str, str | int] = {"version": 2, "changeset": revision}
        if full:
            params["full"] = 1
        found = self._parse(await self._http.get_json(self._url(repo), params), repo)
        if not found:
            raise NotFound(
                f"no push contains {revision} on {repo}",
                source=self._http.source,
                url=self._url(repo),
            )
        return found[0]

    async def push_id(self, repo: str, revision: str) -> int:
        return (await self.push_for_revision(repo, revision)).id

    async def last_push_id(self, repo: str) -> int:
        """ID of the newest push (an empty range still reports `lastpushid`)."""
        data = await self._http.get_json(self._url(repo), {"version": 2, "startID": 0, "endID": 0})
        try:
            return int(data["lastpushid"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(
                "pushlog answer has no lastpushid", source=self._http.source, url=self._url(repo)
            ) from exc

    def _parse(self, data: Any, repo: str) -> list[Push]:
        try:
            return parse_pushlog(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SourceError(
                f"unexpected pushlog answer: {exc}", source=self._http.source, url=self._url(repo)
            ) from exc
