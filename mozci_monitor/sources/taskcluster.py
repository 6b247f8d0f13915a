"""Firefox CI's Taskcluster (Queue, Index, Hooks, Notify) through the politeness layer.

Uses the official `taskcluster.aio` clients on the injected aiohttp session,
with their own retries switched off (`maxRetries: 0`): `PoliteSource` retries,
so a failing call is not retried 6 x 5 times, and every attempt is throttled,
counted and seen by the circuit breaker. Paginated calls are paged here, one
polite call per page, for the same reason.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import structlog
import taskcluster
import taskcluster.aio
from taskcluster.exceptions import (
    TaskclusterAuthFailure,
    TaskclusterConnectionError,
    TaskclusterFailure,
    TaskclusterRestFailure,
)

from mozci_monitor.core.errors import MalformedMessage
from mozci_monitor.redact import redact_text, redact_url

from .errors import NotFound, SourceError, TransientError
from .jsonhttp import BoundedBody, JsonHttp
from .models import JsonObject, TaskGroupMember, TaskStatus, status_from_json
from .politeness import PoliteSource, parse_retry_after

_log = structlog.get_logger(__name__)

PRODUCTION_ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"

T = TypeVar("T")

Credentials = Mapping[str, str]


def credentials_from_environment() -> tuple[str | None, Credentials | None]:
    """(rootUrl, credentials) from TASKCLUSTER_ROOT_URL / _CLIENT_ID / _ACCESS_TOKEN."""
    options = taskcluster.optionsFromEnvironment()
    root_url = options.get("rootUrl")
    credentials = options.get("credentials")
    return root_url, (dict(credentials) if credentials else None)


class TaskclusterClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: PoliteSource,
        *,
        root_url: str = PRODUCTION_ROOT_URL,
        credentials: Credentials | None = None,
    ) -> None:
        self.root_url = root_url.rstrip("/")
        self.gate = gate
        options: dict[str, Any] = {
            "rootUrl": self.root_url,
            "maxRetries": 0,
            # Explicit empty credentials: never pick up ambient ones silently.
            "credentials": dict(credentials) if credentials else {},
        }
        self._queue = taskcluster.aio.Queue(options, session=session)
        self._index = taskcluster.aio.Index(options, session=session)
        self._hooks = taskcluster.aio.Hooks(options, session=session)
        self._notify = taskcluster.aio.Notify(options, session=session)
        self._http = JsonHttp(session, gate)

    @classmethod
    def from_environment(
        cls,
        session: aiohttp.ClientSession,
        gate: PoliteSource,
        *,
        root_url: str | None = None,
    ) -> TaskclusterClient:
        env_root, credentials = credentials_from_environment()
        return cls(
            session,
            gate,
            root_url=root_url or env_root or PRODUCTION_ROOT_URL,
            credentials=credentials,
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self._queue._hasCredentials())

    # -- queue -------------------------------------------------------------

    async def task(self, task_id: str) -> dict[str, Any]:
        """The task definition."""
        url = self._api("queue", f"task/{task_id}")
        result: dict[str, Any] = await self._call(url, lambda: self._queue.task(task_id))
        return result

    async def status(self, task_id: str) -> TaskStatus:
        url = self._api("queue", f"task/{task_id}/status")
        response = await self._call(url, lambda: self._queue.status(task_id))
        return self._status(response, url)

    async def list_task_group(self, task_group_id: str) -> list[TaskGroupMember]:
        """Every task of the group, following continuation tokens page by page."""
        url = self._api("queue", f"task-group/{task_group_id}/list")
        members: list[TaskGroupMember] = []
        pages = self._pages(url, self._queue.listTaskGroup, {"taskGroupId": task_group_id})
        async for page in pages:
            for entry in page.get("tasks", ()):
                try:
                    members.append(TaskGroupMember.from_json(entry))
                except MalformedMessage as error:
                    # One odd entry must not hide the rest of the group from reconciliation.
                    _log.warning(
                        "unparseable task status from the queue",
                        task_group=task_group_id,
                        reason=error.reason,
                    )
        return members

    async def artifact_json(self, task_id: str, name: str) -> Any:
        """A JSON artifact of the task's latest run (actions.json, label-to-taskid.json...).

        The queue answers with a redirect to the storage; it is followed.
        Non-public artifacts need credentials and go through a signed URL.
        """
        if name.startswith("public/") or not self.has_credentials:
            url = self._queue.buildUrl("getLatestArtifact", task_id, name)
        else:
            url = self._queue.buildSignedUrl("getLatestArtifact", task_id, name)
        return await self._http.get_json(url)

    async def list_artifacts(self, task_id: str) -> list[str]:
        """Names of the artifacts of the task's latest run, every page."""
        url = self._api("queue", f"task/{task_id}/artifacts")
        names: list[str] = []
        async for page in self._pages(url, self._queue.listLatestArtifacts, {"taskId": task_id}):
            for artifact in page.get("artifacts", ()):
                if isinstance(artifact, dict) and isinstance(artifact.get("name"), str):
                    names.append(artifact["name"])
        return names

    async def _pages(
        self, url: str, listing: Callable[..., Awaitable[Any]], params: dict[str, str]
    ) -> AsyncIterator[Any]:
        """Every page of a queue listing, following its continuation tokens."""
        token: str | None = None
        while True:
            query: dict[str, str | int] = {"limit": 1000}
            if token:
                query["continuationToken"] = token
            page = await self._call(url, functools.partial(listing, params=params, query=query))
            yield page
            token = page.get("continuationToken")
            if not token:
                return

    async def artifact_bytes(self, task_id: str, name: str, *, max_bytes: int) -> BoundedBody:
        """An artifact of the task's latest run as bytes, at most `max_bytes` of it."""
        if name.startswith("public/") or not self.has_credentials:
            url = self._queue.buildUrl("getLatestArtifact", task_id, name)
        else:
            url = self._queue.buildSignedUrl("getLatestArtifact", task_id, name)
        return await self._http.get_bytes(url, max_bytes=max_bytes)

    async def rerun_task(self, task_id: str) -> TaskStatus:
        url = self._api("queue", f"task/{task_id}/rerun")
        response = await self._call(url, lambda: self._queue.rerunTask(task_id))
        return self._status(response, url)

    async def cancel_task(self, task_id: str) -> TaskStatus:
        url = self._api("queue", f"task/{task_id}/cancel")
        response = await self._call(url, lambda: self._queue.cancelTask(task_id))
        return self._status(response, url)

    async def pending_tasks(self, task_queue_id: str) -> int:
        """The pool's pending tasks, approximately (`queue.taskQueueCounts`, which the
        queue's reference names in place of the deprecated `queue.pendingTasks`)."""
        url = self._api("queue", f"task-queues/{quote(task_queue_id, safe='')}/counts")
        response = await self._call(url, lambda: self._queue.taskQueueCounts(task_queue_id))
        count = response.get("pendingTasks") if isinstance(response, Mapping) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SourceError(
                f"the queue answered an unusable pending count: {count!r}",
                source=self.gate.name,
                url=redact_url(url),
            )
        return count

    def _status(self, response: Any, url: str) -> TaskStatus:
        try:
            return status_from_json(
                response.get("status") if isinstance(response, Mapping) else None
            )
        except MalformedMessage as error:
            raise SourceError(
                f"the queue answered an unusable task status: {error.reason}",
                source=self.gate.name,
                url=redact_url(url),
            ) from None

    # -- index -------------------------------------------------------------

    async def find_decision_task(self, repo: str, revision: str) -> str:
        """Task ID of the decision task of `revision` on `repo` (NotFound if none)."""
        path = f"gecko.v2.{repo}.revision.{revision}.taskgraph.decision"
        return await self.find_task(path)

    async def find_task(self, index_path: str) -> str:
        url = self._api("index", f"task/{index_path}")
        response = await self._call(url, lambda: self._index.findTask(index_path))
        return str(response["taskId"])

    # -- hooks -------------------------------------------------------------

    async def trigger_hook(
        self, hook_group_id: str, hook_id: str, payload: JsonObject
    ) -> str | None:
        """Fire a hook; returns the ID of the task it created, if any.

        Not retried once the request may have reached the server: firing an
        in-tree action twice would retrigger twice.
        """
        url = self._api("hooks", f"hooks/{hook_group_id}/{hook_id}/trigger")
        response = await self._call(
            url,
            lambda: self._hooks.triggerHook(hook_group_id, hook_id, dict(payload)),
            idempotent=False,
        )
        task_id = (response or {}).get("status", {}).get("taskId")
        return str(task_id) if task_id else None

    # -- notify ------------------------------------------------------------

    async def notify_email(
        self,
        address: str,
        subject: str,
        content: str,
        *,
        link: tuple[str, str] | None = None,
    ) -> None:
        """Send an e-mail (content is markdown); `link` is (href, text)."""
        request: dict[str, Any] = {"address": address, "subject": subject, "content": content}
        if link:
            request["link"] = {"href": link[0], "text": link[1]}
        url = self._api("notify", "email")
        await self._call(url, lambda: self._notify.email(request), idempotent=False)

    async def notify_matrix(
        self,
        room_id: str,
        body: str,
        *,
        formatted_body: str | None = None,
        msgtype: str = "m.notice",
    ) -> None:
        request: dict[str, Any] = {"roomId": room_id, "body": body, "msgtype": msgtype}
        if formatted_body is not None:
            request["format"] = "org.matrix.custom.html"
            request["formattedBody"] = formatted_body
        url = self._api("notify", "matrix")
        await self._call(url, lambda: self._notify.matrix(request), idempotent=False)

    # -- plumbing ------------------------------------------------------------

    def _api(self, service: str, path: str) -> str:
        return f"{self.root_url}/api/{service}/v1/{path}"

    async def _call(
        self,
        url: str,
        request: Callable[[], Awaitable[Any]],
        *,
        idempotent: bool = True,
    ) -> Any:
        safe_url = redact_url(url)

        async def once() -> Any:
            try:
                return await request()
            except aiohttp.ClientResponseError as exc:
                # The client raises this for 5xx once its own retries (none) are spent.
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                raise TransientError(
                    exc.message or "server error",
                    source=self.gate.name,
                    url=safe_url,
                    status=exc.status,
                    retry_after=parse_retry_after(retry_after, now=self.gate.now()),
                ) from exc
            except TaskclusterRestFailure as exc:
                raise _rest_failure(exc, source=self.gate.name, url=safe_url) from exc
            except TaskclusterConnectionError as exc:
                never_left = isinstance(exc.superExc, aiohttp.ClientConnectorError)
                raise TransientError(
                    f"connection failed: {redact_text(str(exc.superExc or exc))}",
                    source=self.gate.name,
                    url=safe_url,
                    request_sent=not never_left,
                ) from exc
            except TaskclusterAuthFailure as exc:
                raise SourceError(
                    f"authentication failed: {redact_text(str(exc))}",
                    source=self.gate.name,
                    url=safe_url,
                    status=401,
                ) from exc
            except TaskclusterFailure as exc:
                raise SourceError(
                    redact_text(str(exc)), source=self.gate.name, url=safe_url
                ) from exc

        return await self.gate.call(once, url=url, idempotent=idempotent)


def _rest_failure(exc: TaskclusterRestFailure, *, source: str, url: str) -> SourceError:
    status = getattr(exc, "status_code", None)
    message = redact_text(str(exc).splitlines()[0]) if str(exc) else "request failed"
    if status == 404:
        return NotFound(message, source=source, url=url, status=404)
    if status == 429 or (status is not None and status >= 500):
        return TransientError(message, source=source, url=url, status=status)
    return SourceError(message, source=source, url=url, status=status)
