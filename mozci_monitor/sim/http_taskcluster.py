"""Taskcluster REST services (queue, index, hooks, notify) under `{rootUrl}/api/<service>/v1`.

Shapes follow the services' API references so the official `taskcluster.aio` clients
work unchanged; artifacts answer like the real queue (303 to a storage URL).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from mozci_monitor.sim.clock import iso
from mozci_monitor.sim.context import Notification, SimContext
from mozci_monitor.sim.world import QueueError, SimTask

CTX: web.AppKey[SimContext] = web.AppKey("sim_context", SimContext)
_MAX_PAGE = 1000


def error_response(request: web.Request, status: int, code: str, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "requestInfo": {
            "method": request.method,
            "params": dict(request.match_info),
            "payload": {},
            "time": iso(request.app[CTX].world.events.now),
        },
    }
    return web.json_response(body, status=status)


def _ctx(request: web.Request) -> SimContext:
    return request.app[CTX]


def _task(request: web.Request) -> SimTask:
    task = _ctx(request).world.tasks.get(request.match_info["taskId"])
    if task is None:
        raise QueueError(404, "ResourceNotFound", f"task {request.match_info['taskId']} not found")
    return task


@web.middleware
async def queue_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn `QueueError`s into the services' JSON error bodies."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except QueueError as err:
        return error_response(request, err.status, err.code, err.message)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise QueueError(400, "MalformedPayload", "request body is not JSON") from None


# --------------------------------------------------------------------------- queue


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"alive": True, "uptime": 1})


async def get_task(request: web.Request) -> web.Response:
    return web.json_response(_task(request).definition)


async def get_status(request: web.Request) -> web.Response:
    return web.json_response({"status": _task(request).status()})


async def task_queue_counts(request: web.Request) -> web.Response:
    """`queue.taskQueueCounts`: the pool's pending count from the scheduler (the queue
    counts claimed tasks too; the simulator's running runs stand for them)."""
    queue = unquote(request.match_info["taskQueueId"])
    world = _ctx(request).world
    claimed = sum(
        1
        for task in world.tasks.values()
        if task.state == "running" and task.definition.get("taskQueueId") == queue
    )
    return web.json_response(
        {"taskQueueId": queue, "pendingTasks": world.pending_tasks(queue), "claimedTasks": claimed}
    )


async def pending_tasks(request: web.Request) -> web.Response:
    """`queue.pendingTasks` (deprecated by the queue in favour of `taskQueueCounts`)."""
    queue = unquote(request.match_info["taskQueueId"])
    return web.json_response(
        {"taskQueueId": queue, "pendingTasks": _ctx(request).world.pending_tasks(queue)}
    )


def _page(request: web.Request, items: list[str]) -> tuple[list[str], str | None]:
    try:
        limit = min(int(request.query.get("limit", _MAX_PAGE)), _MAX_PAGE)
        token = request.query.get("continuationToken")
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise QueueError(400, "InputError", "invalid limit or continuationToken") from None
    limit = max(limit, 1)
    chunk = items[start : start + limit]
    following = start + limit
    next_token = (
        base64.urlsafe_b64encode(str(following).encode()).decode()
        if following < len(items)
        else None
    )
    return chunk, next_token


async def list_task_group(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    group_id = request.match_info["taskGroupId"]
    members = ctx.world.task_groups.get(group_id)
    if members is None:
        raise QueueError(404, "ResourceNotFound", f"task group {group_id} not found")
    chunk, token = _page(request, members)
    body: dict[str, Any] = {
        "taskGroupId": group_id,
        "tasks": [
            {"status": ctx.world.tasks[t].status(), "task": ctx.world.tasks[t].definition}
            for t in chunk
        ],
    }
    if token:
        body["continuationToken"] = token
    return web.json_response(body)


async def get_task_group(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    group_id = request.match_info["taskGroupId"]
    members = ctx.world.task_groups.get(group_id)
    if not members:
        raise QueueError(404, "ResourceNotFound", f"task group {group_id} not found")
    first = ctx.world.tasks[members[0]].definition
    return web.json_response(
        {"taskGroupId": group_id, "schedulerId": first["schedulerId"], "expires": first["expires"]}
    )


async def list_dependents(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    task = _task(request)
    chunk, token = _page(request, task.dependents)
    body: dict[str, Any] = {
        "taskId": task.task_id,
        "tasks": [
            {"status": ctx.world.tasks[t].status(), "task": ctx.world.tasks[t].definition}
            for t in chunk
        ],
    }
    if token:
        body["continuationToken"] = token
    return web.json_response(body)


_DEFAULTS: dict[str, Any] = {
    "schedulerId": "-",
    "projectId": "none",
    "dependencies": [],
    "requires": "all-completed",
    "routes": [],
    "priority": "lowest",
    "retries": 5,
    "scopes": [],
    "tags": {},
    "extra": {},
}


def _normalise_definition(task_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise QueueError(400, "InputError", "task definition must be an object")
    missing = [k for k in ("created", "deadline", "payload", "metadata") if k not in body]
    if missing:
        raise QueueError(400, "InputError", f"missing required properties: {missing}")
    definition = {**_DEFAULTS, **body}
    if "taskQueueId" in definition:
        provisioner, _, worker_type = str(definition["taskQueueId"]).partition("/")
        definition.setdefault("provisionerId", provisioner)
        definition.setdefault("workerType", worker_type)
    elif "provisionerId" in definition and "workerType" in definition:
        definition["taskQueueId"] = f"{definition['provisionerId']}/{definition['workerType']}"
    else:
        raise QueueError(400, "InputError", "taskQueueId (or provisionerId+workerType) required")
    definition.setdefault("taskGroupId", task_id)
    definition.setdefault("expires", definition["deadline"])
    return definition


async def create_task(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    task_id = request.match_info["taskId"]
    definition = _normalise_definition(task_id, await _json_body(request))
    existing = ctx.world.tasks.get(task_id)
    if existing is not None:
        if existing.definition != definition:
            raise QueueError(
                409, "RequestConflict", f"task {task_id} already exists with another definition"
            )
        return web.json_response({"status": existing.status()})
    push = ctx.world.push_by_group(str(definition["taskGroupId"]))
    task = ctx.world.create_task(task_id, definition, push)
    return web.json_response({"status": task.status()})


async def rerun_task(request: web.Request) -> web.Response:
    task = _ctx(request).world.rerun(request.match_info["taskId"])
    return web.json_response({"status": task.status()})


async def cancel_task(request: web.Request) -> web.Response:
    task = _ctx(request).world.cancel(request.match_info["taskId"])
    return web.json_response({"status": task.status()})


def _run_id(request: web.Request, task: SimTask) -> int:
    raw = request.match_info.get("runId")
    if raw is None:
        if not task.runs:
            raise QueueError(404, "ResourceNotFound", "task has no runs")
        return len(task.runs) - 1
    try:
        run_id = int(raw)
    except ValueError:
        raise QueueError(400, "InputError", f"invalid runId {raw!r}") from None
    if not 0 <= run_id < len(task.runs):
        raise QueueError(404, "ResourceNotFound", f"run {run_id} not found")
    return run_id


def _artifact(request: web.Request) -> tuple[SimTask, int, str, str]:
    task = _task(request)
    run_id = _run_id(request, task)
    name = request.match_info["name"]
    artifacts = task.artifacts.get(run_id, {})
    if name not in artifacts:
        raise QueueError(404, "ResourceNotFound", f"artifact {name} not found")
    return task, run_id, name, artifacts[name][0]


def _storage_url(ctx: SimContext, task_id: str, run_id: int, name: str) -> str:
    return f"{ctx.base_url}/_artifacts/{task_id}/{run_id}/{name}"


async def get_artifact(request: web.Request) -> web.Response:
    task, run_id, name, _ = _artifact(request)
    url = _storage_url(_ctx(request), task.task_id, run_id, name)
    return web.json_response(
        {"storageType": "s3", "url": url}, status=303, headers={"Location": url}
    )


async def artifact_content(request: web.Request) -> web.Response:
    task, run_id, name, _ = _artifact(request)
    return web.json_response(
        {"storageType": "s3", "url": _storage_url(_ctx(request), task.task_id, run_id, name)}
    )


async def artifact_info(request: web.Request) -> web.Response:
    task, _, name, content_type = _artifact(request)
    return web.json_response(
        {
            "storageType": "s3",
            "name": name,
            "expires": task.definition["expires"],
            "contentType": content_type,
        }
    )


async def list_artifacts(request: web.Request) -> web.Response:
    task = _task(request)
    run_id = _run_id(request, task)
    items = sorted(task.artifacts.get(run_id, {}).items())
    return web.json_response(
        {
            "artifacts": [
                {
                    "storageType": "s3",
                    "name": name,
                    "expires": task.definition["expires"],
                    "contentType": content_type,
                }
                for name, (content_type, _) in items
            ]
        }
    )


async def artifact_storage(request: web.Request) -> web.Response:
    """The "S3" the queue redirects to: the artifact bytes themselves."""
    task, _, name, content_type = _artifact(request)
    run_id = _run_id(request, task)
    body = task.artifacts[run_id][name][1]()
    return web.Response(body=body, headers={"Content-Type": content_type})


# --------------------------------------------------------------------------- index


async def find_task(request: web.Request) -> web.Response:
    path = request.match_info["indexPath"]
    entry = _ctx(request).world.index.get(path)
    if entry is None:
        raise QueueError(404, "ResourceNotFound", f"Indexed task not found: {path}")
    return web.json_response(entry)


async def find_artifact_from_task(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    entry = ctx.world.index.get(request.match_info["indexPath"])
    if entry is None:
        raise QueueError(404, "ResourceNotFound", "Indexed task not found")
    name = request.match_info["name"]
    url = f"{ctx.base_url}/api/queue/v1/task/{entry['taskId']}/artifacts/{name}"
    return web.json_response(
        {"storageType": "reference", "url": url}, status=303, headers={"Location": url}
    )


# --------------------------------------------------------------------------- hooks


async def trigger_hook(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    payload = await _json_body(request)
    if not isinstance(payload, dict):
        raise QueueError(400, "InputError", "hook context must be an object")
    task = ctx.actions.trigger(
        request.match_info["hookGroupId"], request.match_info["hookId"], payload
    )
    return web.json_response({"taskId": task.task_id, "status": {"taskId": task.task_id}})


# --------------------------------------------------------------------------- notify


def _notifier(kind: str, required: tuple[str, ...]) -> Any:
    async def handler(request: web.Request) -> web.Response:
        ctx = _ctx(request)
        payload = await _json_body(request)
        if not isinstance(payload, dict) or any(key not in payload for key in required):
            raise QueueError(400, "InputError", f"{kind} request needs {list(required)}")
        ctx.notifications.append(Notification(kind, payload, ctx.world.events.now))
        return web.json_response({})

    return handler


def add_routes(app: web.Application) -> None:
    q = "/api/queue/v1"
    app.router.add_get(f"{q}/ping", ping)
    app.router.add_get(f"{q}/task/{{taskId}}", get_task)
    app.router.add_put(f"{q}/task/{{taskId}}", create_task)
    app.router.add_get(f"{q}/task/{{taskId}}/status", get_status)
    app.router.add_post(f"{q}/task/{{taskId}}/rerun", rerun_task)
    app.router.add_post(f"{q}/task/{{taskId}}/cancel", cancel_task)
    app.router.add_get(f"{q}/task/{{taskId}}/dependents", list_dependents)
    app.router.add_get(f"{q}/task-group/{{taskGroupId}}/list", list_task_group)
    app.router.add_get(f"{q}/task-group/{{taskGroupId}}", get_task_group)
    # The pool is "provisioner/worker-type": its slash arrives encoded (%2F) or not.
    app.router.add_get(f"{q}/task-queues/{{taskQueueId:.+}}/counts", task_queue_counts)
    app.router.add_get(f"{q}/pending/{{taskQueueId:.+}}", pending_tasks)
    for prefix in (f"{q}/task/{{taskId}}", f"{q}/task/{{taskId}}/runs/{{runId}}"):
        app.router.add_get(f"{prefix}/artifacts", list_artifacts)
        app.router.add_get(f"{prefix}/artifacts/{{name:.+}}", get_artifact)
        app.router.add_get(f"{prefix}/artifact-content/{{name:.+}}", artifact_content)
        app.router.add_get(f"{prefix}/artifact-info/{{name:.+}}", artifact_info)
    app.router.add_get("/_artifacts/{taskId}/{runId}/{name:.+}", artifact_storage)

    i = "/api/index/v1"
    app.router.add_get(f"{i}/ping", ping)
    app.router.add_get(f"{i}/task/{{indexPath}}/artifacts/{{name:.+}}", find_artifact_from_task)
    app.router.add_get(f"{i}/task/{{indexPath}}", find_task)

    h = "/api/hooks/v1"
    app.router.add_get(f"{h}/ping", ping)
    app.router.add_post(f"{h}/hooks/{{hookGroupId}}/{{hookId:.+}}/trigger", trigger_hook)

    n = "/api/notify/v1"
    app.router.add_get(f"{n}/ping", ping)
    app.router.add_post(f"{n}/email", _notifier("email", ("address", "subject", "content")))
    app.router.add_post(f"{n}/matrix", _notifier("matrix", ("roomId", "body")))
    app.router.add_post(f"{n}/slack", _notifier("slack", ("channelId", "text")))
    app.router.add_post(f"{n}/pulse", _notifier("pulse", ("routingKey", "message")))
