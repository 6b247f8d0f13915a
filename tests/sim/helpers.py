"""Small helpers shared by the simulator tests: clients bound to a simulator."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import jsone
import taskcluster.aio

from mozci_monitor.sim import Push, Simulator


def queue(sim: Simulator) -> Any:
    return taskcluster.aio.Queue({"rootUrl": sim.root_url})


async def fetch_artifact(sim: Simulator, task_id: str, name: str) -> Any:
    """Download an artifact the way tools do: GET the queue URL and follow the redirect."""
    url = queue(sim).buildUrl("getLatestArtifact", task_id, name)
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        text = await response.text()
    return json.loads(text) if name.endswith(".json") else text


def action_for(actions: dict[str, Any], name: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """The first action named `name` whose context matches the task's tags (or, with no
    task, an action without task context), as Treeherder picks it."""
    for action in actions["actions"]:
        if action["name"] != name:
            continue
        contexts = action["context"]
        if tags is None and not contexts:
            return dict(action)
        if tags is not None and any(
            all(tags.get(k) == v for k, v in context.items()) for context in contexts
        ):
            return dict(action)
    raise LookupError(f"no action {name!r} for tags {tags}")


async def trigger_action(
    sim: Simulator, push: Push, name: str, *, task_id: str | None, action_input: Any
) -> dict[str, Any]:
    """Trigger an in-tree action exactly like a client: actions.json + JSON-e + triggerHook."""
    actions = await fetch_artifact(sim, push.decision_task_id, "public/actions.json")
    tags = sim.task(task_id).definition["tags"] if task_id else None
    action = action_for(actions, name, tags)
    payload = jsone.render(
        action["hookPayload"],
        {"input": action_input, "taskId": task_id, "taskGroupId": push.task_group_id},
    )
    hooks = taskcluster.aio.Hooks({"rootUrl": sim.root_url})
    result: dict[str, Any] = await hooks.triggerHook(
        action["hookGroupId"], action["hookId"], payload
    )
    return result


async def get_json(url: str, **params: Any) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        response.raise_for_status()
        return await response.json()


async def treeherder_jobs(sim: Simulator, push: Push, count: int = 2000) -> list[dict[str, Any]]:
    """All Treeherder jobs of a push, following `next` pages, as dicts."""
    push_rows = await get_json(
        f"{sim.treeherder_url}/api/project/{sim.config.repo}/push/", revision=push.revision
    )
    push_id = push_rows["results"][0]["id"]
    url: str | None = f"{sim.treeherder_url}/api/jobs/?push_id={push_id}&count={count}"
    jobs: list[dict[str, Any]] = []
    while url:
        page = await get_json(url)
        names = page["job_property_names"]
        jobs += [dict(zip(names, row, strict=True)) for row in page["results"]]
        url = page["next"]
    return jobs
