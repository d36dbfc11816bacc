"""The OpenAPI paths and schemas of the evidence upload (ivr.api.evidence_routes), merged by
openapi.py.
"""

from __future__ import annotations

from typing import Any

from ivr.api.evidence_routes import FIELD, MULTIPART, NOTE_LENGTH
from ivr.api.params import MAX_ID
from ivr.api.schema_parts import JSON, error, nullable, ref
from ivr.queue.evidence import MAX_SCAN_BYTES

SCHEMAS: dict[str, Any] = {
    "EvidenceUpload": {
        "type": "object",
        "additionalProperties": False,
        "required": [FIELD],
        "properties": {
            FIELD: {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": f"the scan: PDF, PNG, JPEG or TIFF, at most "
                f"{MAX_SCAN_BYTES // (1024 * 1024)} MB, typed by its content",
            },
            "note": {"type": "string", "maxLength": NOTE_LENGTH, "pattern": "^[^\\u0000]*$"},
        },
    },
    "UploadedEvidence": {
        "type": "object",
        "required": [
            "id",
            "escalation_id",
            "kind",
            "sha256",
            "size_bytes",
            "media_type",
            "added_by",
            "added_at",
        ],
        "properties": {
            "id": {"type": "integer", "description": "the evidence id (in the escalation's list)"},
            "escalation_id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["scan"]},
            "path": nullable("string", description="where the store keeps it (no personal data)"),
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size_bytes": {"type": "integer", "minimum": 1},
            "media_type": {
                "type": "string",
                "enum": ["application/pdf", "image/png", "image/jpeg", "image/tiff"],
            },
            "note": nullable("string"),
            "added_by": {"type": "string"},
            "added_at": {"type": "string", "format": "date-time"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/escalations/{escalation_id}/evidence": {
        "post": {
            "summary": "Upload a scan (a receipt the policyholder signed) as evidence",
            "description": "Linked to the escalation at once and audited; resolve counts it "
            "(letter_sent and home_visit need one). The same file twice is linked once. Who may: "
            "the holder, a supervisor or an admin, as for resolve.",
            "parameters": [
                {
                    "name": "escalation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    MULTIPART: {
                        "schema": ref("EvidenceUpload"),
                        "encoding": {FIELD: {"contentType": "application/pdf, image/*"}},
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "stored and linked",
                    "content": {JSON: {"schema": ref("UploadedEvidence")}},
                },
                "200": {
                    "description": "this file was already linked to the escalation",
                    "content": {JSON: {"schema": ref("UploadedEvidence")}},
                },
                "400": error("no file part, several, or unknown fields"),
                "401": {
                    "description": "no token, or an unknown or revoked one",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    "content": {JSON: {"schema": ref("Error")}},
                },
                "403": error("not the holder, outside the scope, or the policy's seller"),
                "404": error("no such escalation"),
                "409": error("the escalation is resolved"),
                "413": error("the scan is too large"),
                "415": error("the body is not multipart/form-data"),
                "422": error(
                    "invalid_scan: empty, not a PDF, PNG, JPEG or TIFF, or named or typed as "
                    "something else than its content"
                ),
            },
        }
    }
}
