"""The OpenAPI 3 document of the HTTP API, served at ``/api/openapi.json``.

Written as data next to the validation it describes; the submissions' schemas are
generated from the campaign kinds' registry, from the same models that validate them. The
tests check every real response against the schemas here (and schemathesis drives the
server from this document).
"""

from __future__ import annotations

from typing import Any

from mozci_monitor import __version__
from mozci_monitor.api import validation as v
from mozci_monitor.core.campaign import CampaignKind, CampaignState
from mozci_monitor.core.model import FailureKind, RemedyPolicy, RequestState
from mozci_monitor.submissions import schema_components

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_NULLABLE_STRING = {"type": "string", "nullable": True}
# Budgets count tasks (core.actions.tasks_of): what a campaign's or request's actions
# scheduled, against its `max_actions`.
_TASKS_SPENT = {
    "type": "integer",
    "minimum": 0,
    "description": "tasks its actions scheduled: what max_actions bounds",
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "field"],
        "properties": {
            "error": {"type": "string"},
            "field": {**_NULLABLE_STRING, "description": "the input field at fault, if one"},
        },
    },
    # The submissions are generated from the campaign kinds' registry.
    **schema_components(),
    "Cancel": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": v.MAX_REASON,
                "pattern": v.REASON_PATTERN,
                "description": "why; not only whitespace (default: canceled through the API)",
            },
        },
    },
    "Campaign": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "state",
            "final",
            "outcome",
            "label",
            "repo",
            "revision",
            "task_group_id",
            "actions",
            "tasks",
            "max_actions",
            "dry_run",
            "summary",
        ],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in CampaignKind]},
            "state": {"type": "string", "enum": [s.value for s in CampaignState]},
            "final": {"type": "boolean"},
            "outcome": _NULLABLE_STRING,
            "label": _NULLABLE_STRING,
            "repo": {"type": "string"},
            "revision": {"type": "string"},
            "task_group_id": {"type": "string"},
            "actions": {"type": "integer", "minimum": 0},
            "tasks": _TASKS_SPENT,
            "max_actions": {
                "type": "integer",
                "nullable": True,
                "description": "campaign budget, in tasks (null: per-request budgets only)",
            },
            "dry_run": {"type": "boolean"},
            "summary": {"type": "object"},
        },
    },
    "TimelineEntry": {
        "type": "object",
        "required": ["seq", "at", "kind", "task_id", "detail"],
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string"},
            "kind": {
                "type": "string",
                "description": "registered, task-seen, task-phase, action, state, gave-up, …",
            },
            "task_id": _NULLABLE_STRING,
            "detail": {"type": "object"},
        },
    },
    "Request": {
        "type": "object",
        "required": [
            "id",
            "label",
            "state",
            "final",
            "failure",
            "reason",
            "wanted",
            "runs_green",
            "runs_orange",
            "require_green",
            "remedy",
            "actions",
            "tasks",
            "max_actions",
            "task_ids",
            "timeline",
        ],
        "properties": {
            "id": {"type": "string"},
            "label": {"type": "string"},
            "state": {"type": "string", "enum": [s.value for s in RequestState]},
            "final": {"type": "boolean"},
            "failure": {
                "type": "string",
                "nullable": True,
                "enum": [f.value for f in FailureKind] + [None],
            },
            "reason": _NULLABLE_STRING,
            "wanted": {"type": "integer", "minimum": 1},
            "runs_green": {"type": "integer", "minimum": 0},
            "runs_orange": {"type": "integer", "minimum": 0},
            "require_green": {"type": "boolean"},
            "remedy": {"type": "string", "enum": [p.value for p in RemedyPolicy]},
            "actions": {"type": "integer", "minimum": 0},
            "tasks": _TASKS_SPENT,
            "max_actions": {
                "type": "integer",
                "minimum": 0,
                "description": "per-request budget, in tasks",
            },
            "task_ids": {"type": "array", "items": {"type": "string"}},
            "timeline": {"type": "array", "items": _ref("TimelineEntry")},
        },
    },
    "Action": {
        "type": "object",
        "required": ["key", "kind", "state", "why", "result", "error", "request_id"],
        "properties": {
            "key": {"type": "string"},
            "kind": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "done", "failed", "withdrawn"]},
            "why": {"type": "string"},
            "result": _NULLABLE_STRING,
            "error": _NULLABLE_STRING,
            "request_id": _NULLABLE_STRING,
        },
    },
    "CampaignDetail": {
        "allOf": [
            _ref("Campaign"),
            {
                "type": "object",
                "required": ["requests", "action_log"],
                "properties": {
                    "requests": {"type": "array", "items": _ref("Request")},
                    "action_log": {
                        "type": "array",
                        "items": _ref("Action"),
                        "description": "what the monitor decided to do, and how it went",
                    },
                },
            },
        ]
    },
    "Health": {
        "type": "object",
        "required": ["alive", "ready", "reasons", "checks", "status"],
        "properties": {
            "alive": {"type": "boolean"},
            "ready": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "status": {"type": "string"},
        },
    },
}

_ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "a campaign id, or a prefix naming exactly one campaign",
    "schema": {"type": "string", "pattern": v.CAMPAIGN_ID_PATTERN},
}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_AUTH_ERRORS = {
    "401": _error("no bearer token"),
    "403": _error("wrong token, or no token configured on the server"),
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mozci-monitor",
            "version": __version__,
            "description": "Campaigns watching Firefox CI jobs: submit, list, show, cancel.",
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/campaigns": {
                "get": {
                    "operationId": "listCampaigns",
                    "summary": "campaigns, newest first",
                    "parameters": [
                        {
                            "name": "open",
                            "in": "query",
                            "description": "only campaigns still running",
                            "schema": {"type": "boolean", "default": False},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": v.MAX_LIST_LIMIT,
                                "default": v.DEFAULT_LIST_LIMIT,
                            },
                        },
                    ],
                    "responses": {
                        "200": _json({"type": "array", "items": _ref("Campaign")}, "campaigns"),
                        "400": _error("bad query parameter"),
                    },
                },
                "post": {
                    "operationId": "submitCampaign",
                    "summary": "start a campaign",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("Submission")}},
                    },
                    "responses": {
                        "201": _json(_ref("Campaign"), "the campaign, started"),
                        "400": _error("invalid submission"),
                        **_AUTH_ERRORS,
                        "413": _error("body too large"),
                        "415": _error("body is not JSON"),
                        "422": _error("valid, but cannot be planned or started"),
                        "503": _error("the sources needed to plan the campaign are unavailable"),
                    },
                },
            },
            "/api/campaigns/{id}": {
                "get": {
                    "operationId": "showCampaign",
                    "summary": "a campaign with its requests, their timelines, and its actions",
                    "parameters": [_ID_PARAMETER],
                    "responses": {
                        "200": _json(_ref("CampaignDetail"), "the campaign"),
                        "400": _error("not a campaign id"),
                        "404": _error("no campaign, or more than one, matches"),
                    },
                }
            },
            "/api/campaigns/{id}/cancel": {
                "post": {
                    "operationId": "cancelCampaign",
                    "summary": "cancel a campaign (its open requests end canceled)",
                    "security": _AUTH,
                    "parameters": [_ID_PARAMETER],
                    "requestBody": {
                        "required": False,
                        "content": {_JSON: {"schema": _ref("Cancel")}},
                    },
                    "responses": {
                        "200": _json(_ref("Campaign"), "the campaign after canceling"),
                        "400": _error("bad id or body"),
                        **_AUTH_ERRORS,
                        "404": _error("no such campaign"),
                        "413": _error("body too large"),
                        "415": _error("body is not JSON"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "alive",
                    "summary": "liveness: answers 200 while the process serves HTTP",
                    "responses": {
                        "200": _json(_ref("Health"), "alive"),
                        "503": _json(_ref("Health"), "a loop is stuck; `reasons` says which"),
                    },
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "summary": "readiness: broker connected, store writable, consumer fresh",
                    "responses": {
                        "200": _json(_ref("Health"), "ready"),
                        "503": _json(_ref("Health"), "not ready; `reasons` says why"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus exposition",
                    "responses": {
                        "200": {
                            "description": "metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": _error("metrics are not enabled"),
                    },
                }
            },
            "/": {
                "get": {
                    "operationId": "statusPage",
                    "summary": "the status page (HTML, refreshes itself)",
                    "responses": {
                        "200": {
                            "description": "page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "this document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
