"""Treeherder's REST API for pushes and jobs, derived from the simulated tasks.

Mapping follows Treeherder's Taskcluster ingestion: one job per (taskId, runId) of
tasks routed `tc-treeherder.*`; pending/running -> result `unknown`; completed ->
success; failed -> testfailed; exception -> exception, usercancel (canceled),
superseded, or retry when the queue retried the run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from yarl import URL

from mozci_monitor.sim.clock import unix
from mozci_monitor.sim.config import AUTO_RETRIED
from mozci_monitor.sim.http_taskcluster import CTX
from mozci_monitor.sim.taskgraph import repo_path
from mozci_monitor.sim.world import Push, SimTask, World

JOB_PROPERTY_NAMES = (
    "failure_classification_id",
    "id",
    "job_group_name",
    "job_group_symbol",
    "job_type_name",
    "job_type_symbol",
    "last_modified",
    "platform",
    "push_id",
    "push_revision",
    "result",
    "signature",
    "state",
    "tier",
    "task_id",
    "retry_id",
    "duration",
    "platform_option",
)
_PAGE_SIZE = 2000


def job_result(task: SimTask, run_id: int) -> tuple[str, str]:
    """(state, result) of one run as Treeherder shows it."""
    run = task.runs[run_id]
    state = run["state"]
    if state in ("pending", "running"):
        return state, "unknown"
    if state == "completed":
        return "completed", "success"
    if state == "failed":
        return "completed", "testfailed"
    reason = run.get("reasonResolved")
    if (
        reason in AUTO_RETRIED
        and run_id + 1 < len(task.runs)
        and (task.runs[run_id + 1]["reasonCreated"] in ("retry", "task-retry"))
    ):
        return "completed", "retry"
    if reason == "canceled":
        return "completed", "usercancel"
    if reason == "superseded":
        return "completed", "superseded"
    return "completed", "exception"


def _iso_to_unix(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def job_rows(world: World, push: Push) -> list[dict[str, Any]]:
    """Every Treeherder job of a push, ordered by job id."""
    route_prefix = f"tc-treeherder.v2.{world.config.repo}.{push.revision}."
    rows = []
    for task_id in world.task_groups.get(push.task_group_id, []):
        task = world.tasks[task_id]
        if not any(r.startswith(route_prefix) for r in task.definition.get("routes", [])):
            continue
        treeherder = task.definition.get("extra", {}).get("treeherder", {})
        collection = treeherder.get("collection", {"opt": True})
        option = next(iter(collection), "opt")
        for run_id, job_id in sorted(task.job_ids.items()):
            run = task.runs[run_id]
            state, result = job_result(task, run_id)
            start, end = _iso_to_unix(run.get("started")), _iso_to_unix(run.get("resolved"))
            rows.append(
                {
                    "failure_classification_id": 1,
                    "id": job_id,
                    "job_group_name": treeherder.get("groupName", "unknown"),
                    "job_group_symbol": treeherder.get("groupSymbol", "?"),
                    "job_type_name": task.label,
                    "job_type_symbol": treeherder.get("symbol", "?"),
                    "last_modified": run.get("resolved") or run.get("started") or run["scheduled"],
                    "platform": treeherder.get("machine", {}).get("platform", "unknown"),
                    "push_id": push.treeherder_id,
                    "push_revision": push.revision,
                    "result": result,
                    "signature": f"{task.label}-signature",
                    "state": state,
                    "tier": treeherder.get("tier", 1),
                    "task_id": task.task_id,
                    "retry_id": run_id,
                    "duration": (end - start) // 60 if start and end else 0,
                    "platform_option": option,
                }
            )
    rows.sort(key=lambda row: row["id"])
    return rows


def push_json(world: World, push: Push) -> dict[str, Any]:
    author = push.user
    return {
        "id": push.treeherder_id,
        "revision": push.revision,
        "author": author,
        "revisions": [
            {
                "result_set_id": push.treeherder_id,
                "repository_id": 77,
                "revision": c["node"],
                "author": c["author"],
                "comments": c["desc"],
            }
            for c in reversed(push.changesets)
        ],
        "revision_count": len(push.changesets),
        "push_timestamp": unix(push.date),
        "repository_id": 77,
    }


async def pushes(request: web.Request) -> web.Response:
    world = request.app[CTX].world
    project = request.match_info["project"]
    if project != world.config.repo:
        return web.json_response({"detail": f"No project with name {project}"}, status=404)
    selected = [p for p in world.pushes if p.arrived]
    revision = request.query.get("revision")
    if revision:
        # like Treeherder, any changeset of a push finds it, not only its tip
        selected = [p for p in selected if any(c["node"] == revision for c in p.changesets)]
    elif "id" in request.query:
        selected = [p for p in selected if str(p.treeherder_id) == request.query["id"]]
    count = int(request.query.get("count", 10))
    selected = list(reversed(selected))[:count]
    meta: dict[str, Any] = {"count": len(selected), "repository": project, "filter_params": {}}
    if revision:
        meta["revision"] = revision
        meta["filter_params"] = {"revision": revision}
    return web.json_response({"meta": meta, "results": [push_json(world, p) for p in selected]})


def _push_from_query(world: World, request: web.Request) -> Push | None:
    raw = request.query.get("push_id") or request.query.get("result_set_id")
    if raw is None:
        raise web.HTTPBadRequest(text="push_id is required by the simulator")
    for push in world.pushes:
        if push.arrived and str(push.treeherder_id) == raw:
            return push
    return None


async def jobs(request: web.Request) -> web.Response:
    """`/api/jobs/?push_id=` : rows as lists, `job_property_names`, paged with `next`."""
    world = request.app[CTX].world
    push = _push_from_query(world, request)
    rows = job_rows(world, push) if push else []
    try:
        page = max(int(request.query.get("page", 1)), 1)
        size = min(max(int(request.query.get("count", _PAGE_SIZE)), 1), _PAGE_SIZE)
    except ValueError:
        raise web.HTTPBadRequest(text="invalid page or count") from None
    chunk = rows[(page - 1) * size : page * size]
    next_url = None
    if page * size < len(rows):
        next_url = str(URL(str(request.url)).update_query(page=page + 1))
    return web.json_response(
        {
            "next": next_url,
            "previous": None,
            "results": [[row[name] for name in JOB_PROPERTY_NAMES] for row in chunk],
            "job_property_names": list(JOB_PROPERTY_NAMES),
        }
    )


async def project_jobs(request: web.Request) -> web.Response:
    """`/api/project/<repo>/jobs/?push_id=` : dict rows with offset/count paging."""
    world = request.app[CTX].world
    push = _push_from_query(world, request)
    rows = job_rows(world, push) if push else []
    offset = int(request.query.get("offset", 0))
    count = min(int(request.query.get("count", 10)), _PAGE_SIZE)
    return web.json_response(
        {
            "results": rows[offset : offset + count],
            "meta": {"repository": request.match_info["project"], "offset": offset, "count": count},
        }
    )


async def bug_suggestions(request: web.Request) -> web.Response:
    """`/api/project/<repo>/jobs/<id>/bug_suggestions/`: the job's failure lines, shaped
    as Treeherder's `get_error_summary` answers (no bug matching: `bugs` stay empty)."""
    world = request.app[CTX].world
    try:
        job_id = int(request.match_info["job_id"])
    except ValueError:
        raise web.HTTPNotFound(text="No job with id") from None
    for task in world.tasks.values():
        for run_id, known_job_id in task.job_ids.items():
            if known_job_id != job_id:
                continue
            tests = world.test_runs.get((task.task_id, run_id))
            texts = tests.failure_lines() if tests is not None else []
            return web.json_response(
                [
                    {
                        "search": text,
                        "search_terms": [],
                        "path_end": text.split(" | ")[1 if text.startswith("TEST-") else 2],
                        "bugs": {"open_recent": [], "all_others": []},
                        "line_number": number,
                        "counter": 0,
                        "failure_new_in_rev": False,
                    }
                    for number, text in enumerate(texts)
                ]
            )
    raise web.HTTPNotFound(text=f"No job with id: {job_id}")


async def repositories(request: web.Request) -> web.Response:
    world = request.app[CTX].world
    return web.json_response(
        [
            {
                "id": 77,
                "name": world.config.repo,
                "url": f"https://hg.mozilla.org/{repo_path(world.config.repo)}",
                "dvcs_type": "hg",
                "active_status": "active",
            }
        ]
    )


def add_routes(app: web.Application) -> None:
    api = "/treeherder/api"
    app.router.add_get(f"{api}/repository/", repositories)
    app.router.add_get(f"{api}/project/{{project}}/push/", pushes)
    app.router.add_get(f"{api}/project/{{project}}/jobs/", project_jobs)
    app.router.add_get(
        f"{api}/project/{{project}}/jobs/{{job_id}}/bug_suggestions/", bug_suggestions
    )
    app.router.add_get(f"{api}/jobs/", jobs)
