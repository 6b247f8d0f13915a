"""The HTTP API, the status page and /metrics, served with aiohttp.

Reads are open (the server binds to loopback by default); the endpoints that change
something need ``Authorization: Bearer <token>``, compared in constant time. Every error is
JSON: ``{"error": "...", "field": "..." | null}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from mozci_monitor.api import validation
from mozci_monitor.api.backend import ApiBackend, MetricsSource
from mozci_monitor.api.openapi import openapi_document
from mozci_monitor.api.pages import handlers as pages
from mozci_monitor.api.status_page import CONTENT_SECURITY_POLICY, PAGE
from mozci_monitor.api.validation import ApiError
from mozci_monitor.api.views import (
    campaign_detail_json,
    campaign_json,
    health_json,
)
from mozci_monitor.core.errors import SubmissionError
from mozci_monitor.core.links import Links

log = structlog.get_logger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_LINKS = Links()  # Mozilla's production Treeherder and Taskcluster

BACKEND_KEY: web.AppKey[ApiBackend] = web.AppKey("backend")
TOKEN_KEY: web.AppKey[str | None] = web.AppKey("token")
METRICS_KEY: web.AppKey[MetricsSource | None] = web.AppKey("metrics")
OPENAPI_KEY: web.AppKey[bytes] = web.AppKey("openapi")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ApiOptions:
    host: str = DEFAULT_HOST  # loopback: expose it with a reverse proxy, deliberately
    port: int = DEFAULT_PORT  # 0: any free port (tests)
    token: str | None = None  # None: mutating endpoints answer 403
    max_body_bytes: int = DEFAULT_MAX_BODY
    links: Links = DEFAULT_LINKS  # Treeherder and Taskcluster, for the pages' links


def create_app(
    backend: ApiBackend,
    *,
    token: str | None,
    metrics: MetricsSource | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    links: Links = DEFAULT_LINKS,
) -> web.Application:
    app = web.Application(middlewares=[_errors, _headers], client_max_size=max_body_bytes)
    app[BACKEND_KEY] = backend
    app[TOKEN_KEY] = token or None
    app[METRICS_KEY] = metrics
    app[OPENAPI_KEY] = json.dumps(openapi_document(), indent=1).encode()
    app.router.add_get("/", _status_page)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/api/campaigns", _list_campaigns)
    app.router.add_post("/api/campaigns", _submit)
    app.router.add_get("/api/campaigns/{id}", _show_campaign)
    app.router.add_post("/api/campaigns/{id}/cancel", _cancel)
    pages.add_routes(app, backend, links)
    return app


class ApiServer:
    """Runs the app on a TCP socket; `start()` then `stop()` (the daemon's lifetime)."""

    def __init__(
        self,
        backend: ApiBackend,
        options: ApiOptions = ApiOptions(),
        *,
        metrics: MetricsSource | None = None,
    ) -> None:
        self._options = options
        self._app = create_app(
            backend,
            token=options.token,
            metrics=metrics,
            max_body_bytes=options.max_body_bytes,
            links=options.links,
        )
        self._runner: web.AppRunner | None = None

    @property
    def app(self) -> web.Application:
        return self._app

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._options.host, self._options.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("api listening", url=self.url, auth=self._options.token is not None)

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("the API server is not started")
        address: Any = self._runner.addresses[0]
        return int(address[1])

    @property
    def url(self) -> str:
        host = self._options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# -- middlewares ----------------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return _error_response(error.status, error.message, error.field)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        message = error.reason if error.status != 413 else "body too large"
        response = _error_response(error.status, message.lower(), None)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("api handler failed", path=request.path, method=request.method)
        return _error_response(500, "internal error", None)


@web.middleware
async def _headers(request: web.Request, handler: _Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error_response(status: int, message: str, field: str | None) -> web.Response:
    response = web.json_response({"error": message, "field": field}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mozci-monitor"'
    return response


# -- helpers --------------------------------------------------------------------------------


def _backend(request: web.Request) -> ApiBackend:
    return request.app[BACKEND_KEY]


def _require_token(request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "a bearer token is required (Authorization: Bearer <token>)")
    # aiohttp hands undecodable header bytes over as surrogates: such a token cannot be ours.
    if not (given.isascii() and given.isprintable()):
        raise ApiError(401, "the bearer token must be printable ASCII")
    expected = request.app[TOKEN_KEY]
    if expected is None:
        raise ApiError(403, "changes are disabled: no API token is configured on the server")
    if not hmac.compare_digest(given.encode(), expected.encode("utf-8", "surrogateescape")):
        raise ApiError(403, "wrong token")


async def _json_body(request: web.Request, *, required: bool) -> object:
    """The request's JSON body, or `NO_BODY` when absent and allowed to be."""
    raw = await request.read()  # aiohttp refuses bodies over client_max_size (413)
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        return validation.NO_BODY
    if request.content_type != "application/json":
        raise ApiError(415, "the body must be application/json")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _query(request: web.Request) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in request.query.items():
        if name in query:
            raise ApiError(400, f"{name}: given more than once", name)
        query[name] = value
    return query


# -- handlers -------------------------------------------------------------------------------


async def _status_page(request: web.Request) -> web.Response:
    response = web.Response(text=PAGE, content_type="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


async def _healthz(request: web.Request) -> web.Response:
    health = _backend(request).health()
    return web.json_response(health_json(health), status=200 if health.alive else 503)


async def _readyz(request: web.Request) -> web.Response:
    health = _backend(request).health()
    return web.json_response(health_json(health), status=200 if health.ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    source = request.app[METRICS_KEY]
    if source is None:
        raise ApiError(404, "metrics are not enabled")
    body, content_type = source.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_KEY], content_type="application/json")


async def _list_campaigns(request: web.Request) -> web.Response:
    open_only, limit = validation.parse_list_query(_query(request))
    campaigns = await _backend(request).list_campaigns(open_only=open_only, limit=limit)
    return web.json_response([campaign_json(c) for c in campaigns])


async def _show_campaign(request: web.Request) -> web.Response:
    campaign_id = validation.check_campaign_id(request.match_info["id"])
    backend = _backend(request)
    campaign = await backend.get_campaign(campaign_id)
    if campaign is None:
        raise validation.no_campaign(campaign_id)
    requests = await backend.campaign_requests(campaign.campaign_id)
    timelines = [(r, await backend.request_timeline(r.request_id)) for r in requests]
    actions = await backend.campaign_actions(campaign.campaign_id)
    return web.json_response(campaign_detail_json(campaign, timelines, actions))


async def _submit(request: web.Request) -> web.Response:
    _require_token(request)
    submission = validation.parse_submission(await _json_body(request, required=True))
    try:
        campaign = await _backend(request).submit(submission)
    except SubmissionError as refused:  # SubmissionRefused, or the push check's refusals
        raise ApiError(refused.status, str(refused), refused.field) from None
    log.info(
        "campaign submitted through the API",
        campaign=campaign.campaign_id,
        kind=campaign.kind.value,
        repo=campaign.push.repo,
    )
    response = web.json_response(campaign_json(campaign), status=201)
    response.headers["Location"] = f"/api/campaigns/{campaign.campaign_id}"
    return response


async def _cancel(request: web.Request) -> web.Response:
    _require_token(request)
    campaign_id = validation.check_campaign_id(request.match_info["id"])
    reason = validation.parse_cancel(await _json_body(request, required=False))
    backend = _backend(request)
    found = await backend.get_campaign(campaign_id)
    if found is None:
        raise validation.no_campaign(campaign_id)
    canceled = await backend.cancel(found.campaign_id, reason)
    if canceled is None:
        raise validation.no_campaign(campaign_id)
    log.info("campaign canceled through the API", campaign=canceled.campaign_id, reason=reason)
    return web.json_response(campaign_json(canceled))
