"""The routes of the server-rendered pages: `/campaigns` and `/campaigns/{id}`.

They read through the same `ApiBackend` as the JSON API and answer HTML, also for errors
(a person follows these links, not a program).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from aiohttp import web

from mozci_monitor.api.backend import ApiBackend
from mozci_monitor.api.pages.campaign import campaign_page
from mozci_monitor.api.pages.layout import CONTENT_SECURITY_POLICY, page
from mozci_monitor.api.pages.listing import list_page, parse_filters
from mozci_monitor.api.validation import MAX_LIST_LIMIT, ApiError, check_campaign_id, no_campaign
from mozci_monitor.core.links import Links

_Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application, backend: ApiBackend, links: Links) -> None:
    app.router.add_get("/campaigns", _html(_list(backend, links)))
    app.router.add_get("/campaigns/{id}", _html(_show(backend, links)))


def _html(handler: Callable[[web.Request], Awaitable[str]]) -> _Handler:
    async def respond(request: web.Request) -> web.Response:
        try:
            body, status = await handler(request), 200
        except ApiError as error:
            body = page(f"error {error.status}", f'<p class="empty">{escape(error.message)}</p>')
            status = error.status
        response = web.Response(text=body, content_type="text/html", status=status)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    return respond


def _list(backend: ApiBackend, links: Links) -> Callable[[web.Request], Awaitable[str]]:
    async def render(request: web.Request) -> str:
        query: dict[str, str] = {}
        for name, value in request.query.items():
            if name in query:
                raise ApiError(400, f"{name}: given more than once", name)
            query[name] = value
        filters = parse_filters(query)
        # Filtered here over the newest campaigns: the backend lists, it does not search.
        campaigns = await backend.list_campaigns(open_only=filters.open_only, limit=MAX_LIST_LIMIT)
        return list_page(campaigns, filters, links, searched=len(campaigns))

    return render


def _show(backend: ApiBackend, links: Links) -> Callable[[web.Request], Awaitable[str]]:
    async def render(request: web.Request) -> str:
        campaign_id = check_campaign_id(request.match_info["id"])
        campaign = await backend.get_campaign(campaign_id)
        if campaign is None:
            raise no_campaign(campaign_id)
        requests = await backend.campaign_requests(campaign.campaign_id)
        timelines = [(r, await backend.request_timeline(r.request_id)) for r in requests]
        actions = await backend.campaign_actions(campaign.campaign_id)
        return campaign_page(campaign, timelines, actions, links)

    return render
