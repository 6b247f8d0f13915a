"""hg.mozilla.org's pushlog: `{base}/hg/<repo>/json-pushes?version=2`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mozci_monitor.sim.clock import unix
from mozci_monitor.sim.http_taskcluster import CTX
from mozci_monitor.sim.world import Push


def _changeset(changeset: dict[str, Any], full: bool) -> Any:
    if not full:
        return changeset["node"]
    return {
        key: changeset[key]
        for key in ("node", "author", "desc", "branch", "tags", "files", "parents")
    }


def _push_json(push: Push, *, full: bool, tips_only: bool) -> dict[str, Any]:
    changesets = push.changesets[-1:] if tips_only else push.changesets
    return {
        "changesets": [_changeset(c, full) for c in changesets],
        "date": unix(push.date),
        "user": push.user,
    }


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


async def json_pushes(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    repo = request.match_info["repo"].rstrip("/").split("/")[-1]
    if repo != ctx.world.config.repo:
        raise web.HTTPNotFound(text=f"repository {repo} not found")
    arrived = [push for push in ctx.world.pushes if push.arrived]
    full = request.query.get("full") in ("1", "true")
    tips_only = request.query.get("tipsonly") in ("1", "true")
    selected = arrived
    start_id, end_id = _int(request, "startID"), _int(request, "endID")
    if start_id is not None:
        selected = [p for p in selected if p.push_id > start_id]
    if end_id is not None:
        selected = [p for p in selected if p.push_id <= end_id]
    changeset = request.query.get("changeset")
    if changeset:
        selected = [
            p for p in selected if any(c["node"].startswith(changeset) for c in p.changesets)
        ]
        if not selected:
            raise web.HTTPNotFound(text=f"unknown revision '{changeset}'")
    if start_id is None and end_id is None and not changeset:
        # Like hg.mozilla.org: with no range, only the latest pushes.
        selected = selected[-10:]
    pushes = {str(p.push_id): _push_json(p, full=full, tips_only=tips_only) for p in selected}
    if request.query.get("version", "1") == "1":
        return web.json_response(pushes)
    last = arrived[-1].push_id if arrived else 0
    return web.json_response({"lastpushid": last, "pushes": pushes})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/hg/{repo:.+}/json-pushes", json_pushes)
