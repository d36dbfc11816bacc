"""Evidence uploaded over the API: the scan of a receipt the policyholder signed.

POST /api/v1/escalations/<id>/evidence    multipart/form-data: `file` (the scan), `note` (optional)

The scan is typed by its content (a part's file name or type only has to agree with it), stored
through ivr.queue.evidence as `ivr queue resolve --scan` stores it, linked to the escalation and
audited (`escalation.evidence_added`). Resolve then counts it: letter_sent and home_visit close
only with such a scan, and the JSON resolve body needs no reference to it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ivr.api.blueprint import bp
from ivr.api.errors import ApiError
from ivr.api.params import checked_id, checked_text, invalid
from ivr.api.queue_routes import acting
from ivr.models import Evidence
from ivr.queue.errors import EvidenceError
from ivr.queue.evidence import MAX_SCAN_BYTES, add_scan, check_upload

FIELD = "file"
NOTE_LENGTH = 2000
# The scan plus the multipart envelope (boundaries, part headers, the note).
MAX_UPLOAD_BYTES = MAX_SCAN_BYTES + 64 * 1024
MULTIPART = "multipart/form-data"


def _too_large() -> ApiError:
    return ApiError(
        413, "payload_too_large", f"a scan may be at most {MAX_SCAN_BYTES // (1024 * 1024)} MB"
    )


def _evidence_json(evidence: Evidence) -> dict[str, Any]:
    return {
        "id": evidence.id,
        "escalation_id": evidence.escalation_id,
        "kind": str(evidence.kind),
        "path": evidence.path,
        "sha256": evidence.sha256,
        "size_bytes": evidence.size_bytes,
        "media_type": evidence.media_type,
        "note": evidence.note,
        "added_by": evidence.added_by,
        "added_at": evidence.added_at.isoformat().replace("+00:00", "Z"),
    }


def _upload() -> tuple[bytes, str | None, str | None, str | None]:
    """The scan's bytes, file name, declared type, and the note, from the multipart body."""
    # The app's limit (IVR_MAX_BODY_BYTES, 64 KiB by default) is for JSON; this view alone takes
    # a scan. Set before anything reads the body: Werkzeug applies it while parsing.
    request.max_content_length = MAX_UPLOAD_BYTES
    if request.mimetype != MULTIPART:
        raise ApiError(
            415, "unsupported_media_type", f"send the scan as {MULTIPART} with a part {FIELD!r}"
        )
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise _too_large()
    try:
        files, form = request.files, request.form
    except RequestEntityTooLarge:
        raise _too_large() from None
    unknown = sorted({*files.keys(), *form.keys()} - {FIELD, "note"})
    if unknown:
        raise invalid(f"unknown fields: {', '.join(unknown)}; expected: {FIELD}, note")
    if len(files.getlist(FIELD)) != 1 or FIELD in form:
        raise invalid(f"send exactly one file in the part {FIELD!r}")
    upload = files[FIELD]
    data = upload.stream.read(MAX_SCAN_BYTES + 1)
    if len(data) > MAX_SCAN_BYTES:
        raise _too_large()
    note = form.get("note")
    if note is not None:
        note = checked_text(note, "note", NOTE_LENGTH).strip() or None
    return data, upload.filename, upload.mimetype, note


@bp.post("/escalations/<int:escalation_id>/evidence")
def upload_evidence_route(escalation_id: int) -> tuple[Response, int]:
    """Store a scan and link it to the escalation: 201 with the link, 200 if already linked."""
    escalation_id = checked_id(escalation_id)
    data, filename, media_type, note = _upload()
    try:
        scan = check_upload(data, filename, media_type)
    except EvidenceError as exc:
        # Not the queue's evidence_required: the file itself is unusable.
        raise ApiError(422, "invalid_scan", str(exc)) from None
    with acting() as (session, services, user):
        evidence, created = add_scan(session, services, escalation_id, user, scan, note=note)
        body = _evidence_json(evidence)
    return jsonify(body), 201 if created else 200
