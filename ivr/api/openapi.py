"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json without a token.

Written out by hand, beside the routes: the schemas are the contract the tests check every
response against, so a change to a view that breaks the contract fails there. Response objects
allow extra properties (a later field is not a breaking change); request bodies do not (a
misspelt field is refused, not ignored).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ivr.api import case_schema, evidence_schema
from ivr.api.blueprint import bp
from ivr.api.params import MAX_ID, SPACE
from ivr.api.queue_routes import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, STATUSES
from ivr.api.schema_parts import JSON, error, json_body, nullable, ref
from ivr.reports.build import MONTH_PATTERN
from ivr.reports.scope import GROUPS

# What the database can store (no NUL character) and, where text is required, not only spaces.
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = f"^[^\\u0000]*[^\\u0000{SPACE.encode('unicode_escape').decode()}][^\\u0000]*$"


def _text(
    max_length: int, *, blank_ok: bool = True, nullable: bool = False, **more: Any
) -> dict[str, Any]:
    """A string field as ivr.api.params reads it."""
    schema: dict[str, Any] = {
        "type": ["string", "null"] if nullable else "string",
        "maxLength": max_length,
        "pattern": NO_NUL if blank_ok else NOT_BLANK,
        **more,
    }
    if not blank_ok:
        schema["minLength"] = 1
    return schema


TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = nullable("string", format="date-time")

REPORT_RATES = ("follow_up_rate", "effective_rate", "satisfaction_rate")
REPORT_COUNTS = ("cases", "excluded", "attempted", "reached", "completed")

SCHEMAS: dict[str, Any] = {
    "Report": {
        "type": "object",
        "description": "A campaign's figures; definitions in the README (Reports). Rates are "
        "fractions 0..1, null when the denominator is 0.",
        "required": ["campaign", "period", *REPORT_COUNTS, *REPORT_RATES, "escalations", "sla"],
        "properties": {
            "campaign": {"type": "string"},
            "period": {
                "type": "object",
                "required": ["from", "to"],
                "properties": {"from": nullable("string"), "to": nullable("string")},
            },
            **{name: {"type": "integer", "minimum": 0} for name in REPORT_COUNTS},
            **{name: nullable("number", minimum=0, maximum=1) for name in REPORT_RATES},
            "escalations": {"type": "object", "additionalProperties": {"type": "integer"}},
            "sla": {"type": "object"},
            "success_within_deadline_rate": nullable("number", minimum=0, maximum=1),
            "open_with_days_left": {"type": "integer", "minimum": 0},
            "groups": {"type": "object", "additionalProperties": {"type": "object"}},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["claimed"]},
                    "message": {"type": "string"},
                    "holder": {"type": "string", "description": "409 claimed: who holds it"},
                    "since": {**TIME, "description": "409 claimed: since when"},
                },
            }
        },
    },
    "EscalationSummary": {
        "type": "object",
        "required": [
            "id",
            "campaign",
            "external_ref",
            "reason",
            "priority",
            "status",
            "due",
            "triggers",
            "claimed_by",
            "claimed_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "campaign": {"type": "string"},
            "external_ref": {"type": "string"},
            "reason": {"type": "string", "examples": ["missell_suspected"]},
            "priority": {"type": "integer", "description": "1 is the most urgent"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "due": TIME,
            "triggers": {"type": "integer"},
            "claimed_by": nullable("string", description="the holder's user name"),
            "claimed_at": NULLABLE_TIME,
        },
    },
    "EscalationPage": {
        "type": "object",
        "required": ["items", "limit", "offset", "next_offset"],
        "properties": {
            "items": {"type": "array", "items": ref("EscalationSummary")},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": nullable("integer", description="null on the last page"),
        },
    },
    "Evidence": {
        "type": "object",
        "required": ["id", "kind", "added_by", "added_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["recording", "scan"]},
            "recording_sid": nullable("string"),
            "path": nullable("string"),
            "sha256": nullable("string"),
            "size_bytes": nullable("integer"),
            "media_type": nullable("string"),
            "added_by": {"type": "string"},
            "added_at": TIME,
        },
    },
    "HistoryEvent": {
        "type": "object",
        "required": ["at", "actor", "action", "detail"],
        "properties": {
            "at": TIME,
            "actor": {"type": "string"},
            "action": {"type": "string", "examples": ["claimed"]},
            "detail": nullable("string"),
        },
    },
    "Escalation": {
        "type": "object",
        "description": "What `ivr queue show ID --format json` prints.",
        "required": [
            "id",
            "campaign",
            "external_ref",
            "reason",
            "priority",
            "status",
            "due",
            "triggers",
            "claimed_by",
            "claimed_at",
            "resolved_by",
            "resolved_at",
            "outcome",
            "outcomes",
            "evidence",
            "history",
        ],
        "properties": {
            "id": {"type": "integer"},
            "campaign": {"type": "string"},
            "external_ref": {"type": "string"},
            "reason": {"type": "string"},
            "priority": {"type": "integer"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "due": TIME,
            "triggers": {"type": "integer"},
            "detail": nullable("string"),
            "claimed_by": nullable("string"),
            "claimed_at": NULLABLE_TIME,
            "touched_at": NULLABLE_TIME,
            "resolved_by": nullable("string"),
            "resolved_at": NULLABLE_TIME,
            "outcome": nullable("string"),
            "resolution_note": nullable("string"),
            "outcomes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what resolve accepts as outcome for this campaign",
            },
            "evidence": {"type": "array", "items": ref("Evidence")},
            "history": {"type": "array", "items": ref("HistoryEvent")},
        },
    },
    "Claim": {
        "type": "object",
        "required": ["escalation_id", "holder", "since", "lapsed_holder"],
        "properties": {
            "escalation_id": {"type": "integer"},
            "holder": {"type": "string"},
            "since": TIME,
            "lapsed_holder": nullable("string", description="whose idle claim this one took over"),
        },
    },
    "ResolveRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["outcome"],
        "properties": {
            "outcome": _text(50, blank_ok=False, description="one of the escalation's `outcomes`"),
            "note": _text(2000, nullable=True),
            "recording_sid": _text(
                64, nullable=True, description="a stored recording of this case, linked as evidence"
            ),
        },
    },
    "ReopenRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["note"],
        "properties": {"note": _text(2000, blank_ok=False, description="why it is reopened")},
    },
    "ReassignRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["to"],
        "properties": {
            "to": _text(100, blank_ok=False, description="the user name of who takes it over"),
            "note": _text(2000, nullable=True),
        },
    },
}

ID_PARAMETER = {
    "name": "escalation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}

UNAUTHORIZED = {
    "description": "no token, or an unknown or revoked one",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": {JSON: {"schema": ref("Error")}},
}


def _action(
    summary: str,
    ok: dict[str, Any],
    *,
    body: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A POST on one escalation: its answers, and its JSON body when it takes one."""
    responses: dict[str, Any] = {
        "200": ok,
        "401": UNAUTHORIZED,
        "403": error("the role or scope does not allow it, or the user sold the policy"),
        "404": error("no such escalation"),
        "409": error("the escalation's state does not allow it"),
    }
    if body is not None:
        responses["400"] = error("malformed JSON, wrong types or unknown fields")
        responses["413"] = error("the body is too large")
        responses["415"] = error("the body is not JSON")
    for status, description in (extra or {}).items():
        responses[status] = error(description)
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [ID_PARAMETER],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(body)}}}
    return {"post": operation}


ESCALATION = json_body(ref("Escalation"), "the escalation after the change")


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": (description),
    }


PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document", "content": {JSON: {}}}},
        }
    },
    "/api/v1/escalations": {
        "get": {
            "summary": "Escalations the user may work, most urgent first",
            "description": "Agents with a scope see only its campaigns and departments.",
            "parameters": [
                _query("status", {"type": "string", "enum": list(STATUSES)}, "only this status"),
                _query(
                    "campaign",
                    _text(100),
                    "only this campaign (its name); an unknown name lists nothing",
                ),
                _query(
                    "mine",
                    {"type": "string", "enum": ["true", "false"]},
                    "true: only those the user holds",
                ),
                _query(
                    "limit",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                    "rows per page",
                ),
                _query(
                    "offset",
                    {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                    "rows to skip: the previous page's next_offset",
                ),
            ],
            "responses": {
                "200": json_body(ref("EscalationPage"), "a page of escalations"),
                "400": error("a query parameter is not valid"),
                "401": UNAUTHORIZED,
            },
        }
    },
    "/api/v1/escalations/{escalation_id}": {
        "get": {
            "summary": "One escalation with its evidence and history",
            "parameters": [ID_PARAMETER],
            "responses": {
                "200": json_body(ref("Escalation"), "the escalation"),
                "401": UNAUTHORIZED,
                "403": error("outside the user's scope"),
                "404": error("no such escalation"),
            },
        }
    },
    "/api/v1/campaigns/{name}/report": {
        "get": {
            "summary": "A campaign's report (supervisors, compliance officers, admins)",
            "description": "The same object as `ivr report --format json`. The period is the "
            "cases' anchor dates: month, or from/to (both included), or none for every case.",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": _text(100),
                    "description": "the campaign's name",
                },
                _query("month", {"type": "string", "pattern": MONTH_PATTERN}, "YYYY-MM"),
                _query("from", {"type": "string", "format": "date"}, "first anchor date"),
                _query("to", {"type": "string", "format": "date"}, "last anchor date"),
                _query("by", {"type": "string", "enum": list(GROUPS)}, "split into groups"),
            ],
            "responses": {
                "200": json_body(ref("Report"), "the report"),
                "400": error("a query parameter is not valid"),
                "401": UNAUTHORIZED,
                "403": error("the user's role does not see reports"),
                "404": error("no such campaign"),
            },
        }
    },
    "/api/v1/escalations/{escalation_id}/claim": _action(
        "Claim the escalation",
        json_body(ref("Claim"), "claimed (or already held by the caller, whose claim is renewed)"),
        extra={"409": "held by someone else: error.holder and error.since name them"},
    ),
    "/api/v1/escalations/{escalation_id}/release": _action(
        "Give the escalation back to the queue (its holder, a supervisor or an admin)",
        ESCALATION,
    ),
    "/api/v1/escalations/{escalation_id}/resolve": _action(
        "Resolve with one of the campaign's outcomes, optionally linking a recording",
        ESCALATION,
        body="ResolveRequest",
        extra={"422": "evidence missing, not an outcome of the campaign, or a bad recording"},
    ),
    "/api/v1/escalations/{escalation_id}/reopen": _action(
        "Set a resolved escalation back to open (a supervisor, an admin or its resolver)",
        ESCALATION,
        body="ReopenRequest",
    ),
    "/api/v1/escalations/{escalation_id}/reassign": _action(
        "Hand the escalation to another user (supervisors and admins)",
        ESCALATION,
        body="ReassignRequest",
        extra={"422": "the named user is unknown or disabled"},
    ),
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IVR follow-up API",
            "version": "1.0.0",
            "description": (
                "Tokens are made with `ivr tokens add NAME --user USER`; a request acts as that "
                'user, with its role and scope. Every error is {"error": {"code", "message"}}.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": {**PATHS, **case_schema.PATHS, **evidence_schema.PATHS},
        "components": {
            "schemas": {**SCHEMAS, **case_schema.SCHEMAS, **evidence_schema.SCHEMAS},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "ivr_..."}
            },
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """The document, readable without a token."""
    return jsonify(document())
