"""The OpenAPI paths and schemas of the case endpoints (ivr.api.case_routes), merged by openapi.py.

A pushed case is a row of the campaign's template keyed by column name; the document cannot know
the campaign, so CaseItem names every column of every shipped template (all strings) and refuses
any other field. Which columns a campaign requires is checked by the importer, per item.
"""

from __future__ import annotations

from typing import Any

from ivr.api.case_routes import MAX_BATCH
from ivr.api.schema_parts import JSON, error, json_body, nullable, ref
from ivr.campaigns.templates import TEMPLATES
from ivr.models import AttemptStatus, CaseOutcome, CaseStatus, EscalationStatus

COLUMNS = sorted({column.name for tpl in TEMPLATES.values() for column in tpl.csv.columns})


TIME = nullable("string", format="date-time")
CELL = nullable("string", maxLength=1000, pattern="^[^\\u0000]*$")

SCHEMAS: dict[str, Any] = {
    "CaseItem": {
        "type": "object",
        "description": "One case: the columns of the campaign's template (`ivr templates show`), "
        "as strings; checked like a CSV row. Identity facts (dob, id_last4) are hashed on "
        "arrival and never stored or returned.",
        "additionalProperties": False,
        "required": ["external_ref", "name", "phone"],
        "properties": {name: CELL for name in COLUMNS},
    },
    "CaseBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["cases"],
        "properties": {
            "cases": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": ref("CaseItem"),
            }
        },
    },
    "FieldError": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    },
    "PushedItem": {
        "type": "object",
        "required": ["index", "ref", "status", "case_id", "case_ids", "errors"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "description": "the item's place, from 0"},
            "ref": nullable("string", description="null when the ref itself was refused"),
            "status": {"type": "string", "enum": ["created", "exists", "error"]},
            "case_id": nullable("integer"),
            "case_ids": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "every case the item is (a renovation job is three)",
            },
            "errors": {"type": "array", "items": ref("FieldError")},
        },
    },
    "PushResult": {
        "type": "object",
        "required": ["created", "exists", "errors", "items"],
        "properties": {
            "created": {"type": "integer", "minimum": 0},
            "exists": {"type": "integer", "minimum": 0},
            "errors": {"type": "integer", "minimum": 0},
            "items": {"type": "array", "items": ref("PushedItem")},
        },
    },
    "CaseAttempt": {
        "type": "object",
        "required": ["number", "status", "placed_at", "reached", "duration_s", "answers"],
        "properties": {
            "number": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in AttemptStatus]},
            "placed_at": TIME,
            "reached": {"type": "boolean"},
            "duration_s": nullable("integer"),
            "answers": {
                "type": "object",
                "description": "question id -> the key pressed (null: asked, no valid answer)",
                "additionalProperties": nullable("string"),
            },
        },
    },
    "CaseEscalation": {
        "type": "object",
        "required": ["id", "reason", "priority", "status", "due"],
        "properties": {
            "id": {"type": "integer"},
            "reason": {"type": "string"},
            "priority": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in EscalationStatus]},
            "due": {"type": "string", "format": "date-time"},
        },
    },
    "CaseProgress": {
        "type": "object",
        "description": "A case as an integration may read it: no identity fact, no details, "
        "the phone masked (+86*******8000).",
        "required": [
            "id",
            "campaign",
            "external_ref",
            "status",
            "outcome",
            "phone",
            "attempts_made",
            "attempts",
            "escalations",
        ],
        "properties": {
            "id": {"type": "integer"},
            "campaign": {"type": "string"},
            "external_ref": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
            "outcome": {
                "type": ["string", "null"],
                "enum": [*[o.value for o in CaseOutcome], None],
            },
            "excluded_reason": nullable("string"),
            "phone": {"type": "string", "pattern": "^[^0-9]*[0-9]{0,2}\\**[0-9]{0,4}$"},
            "anchor_date": {"type": "string", "format": "date"},
            "deadline_at": TIME,
            "next_call_at": TIME,
            "done_at": TIME,
            "attempts_made": {"type": "integer", "minimum": 0},
            "attempts": {"type": "array", "items": ref("CaseAttempt")},
            "escalations": {
                "type": "array",
                "items": ref("CaseEscalation"),
                "description": "the open and claimed ones (not the resolved)",
            },
        },
    },
}

UNAUTHORIZED = {
    "description": "no token, or an unknown or revoked one",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": {JSON: {"schema": ref("Error")}},
}
NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 100},
    "description": "the campaign's name",
}
REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 100},
    "description": "the case's external_ref",
}

PATHS: dict[str, Any] = {
    "/api/v1/campaigns/{name}/cases": {
        "post": {
            "summary": "Push one case or a batch (supervisors and admins)",
            "description": "Each item is checked like a CSV row of the campaign's template; the "
            "good ones import while the others come back with their index and fields. A ref the "
            "campaign already has creates nothing and is reported as `exists` with its case.",
            "parameters": [NAME],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"oneOf": [ref("CaseItem"), ref("CaseBatch")]}}},
            },
            "responses": {
                "201": json_body(ref("PushResult"), "at least one case was created"),
                "200": json_body(ref("PushResult"), "every item was already there"),
                "422": json_body(ref("PushResult"), "nothing created and some items refused"),
                "400": error("malformed JSON, or not an object or a batch of objects"),
                "401": UNAUTHORIZED,
                "403": error("only supervisors and admins push cases"),
                "404": error("no such campaign"),
                "413": error(f"more than {MAX_BATCH} cases, or over IVR_MAX_BODY_BYTES"),
                "415": error("the body is not JSON"),
            },
        }
    },
    "/api/v1/campaigns/{name}/cases/{ref}": {
        "get": {
            "summary": "A case's status, attempts, answers and open escalations",
            "description": "Agents only within their scope. Never an identity fact; phone masked.",
            "parameters": [NAME, REF],
            "responses": {
                "200": json_body(ref("CaseProgress"), "the case"),
                "400": error("the ref is not valid text"),
                "401": UNAUTHORIZED,
                "403": error("outside the user's scope"),
                "404": error("no such campaign, or no case with this ref"),
            },
        }
    },
}
