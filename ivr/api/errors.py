"""Every API error as JSON: `{"error": {"code": "...", "message": "..."}}`, never an HTML page.

    ApiError                  raised by the API's own code with its status and code
    QueueError (ivr.queue)    mapped by class: 404, 403, 409 or 422
    HTTPException (werkzeug)  its status (404, 405, 413, 415, ...), its name as the code
    anything else             500 internal_error, logged with its traceback

Status and code:
    400 invalid_request        malformed JSON, wrong types, unknown fields, bad query values
    401 unauthorized           no token, or an unknown or revoked one (with WWW-Authenticate)
    403 forbidden              the role, the scope, not the holder, the policy's own seller
    404 not_found              no such escalation or route
    409 claimed / conflict     held by someone else (naming them), or the state forbids it
    413 payload_too_large      the body is over IVR_MAX_BODY_BYTES
    415 unsupported_media_type a body that is not application/json
    422 evidence_required, invalid_outcome, user_unavailable: the queue's rules
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ivr.queue.errors import (
    EscalationNotFoundError,
    EscalationStateError,
    EvidenceError,
    NotAllowedError,
    OutcomeError,
    QueueError,
    ReopenConflictError,
    StaffUserError,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

# Most specific first: the first class an error is an instance of gives its answer.
_QUEUE_ERRORS: tuple[tuple[type[QueueError], int, str], ...] = (
    (EscalationNotFoundError, 404, "not_found"),
    (NotAllowedError, 403, "forbidden"),
    (ReopenConflictError, 409, "conflict"),
    (EscalationStateError, 409, "conflict"),
    (EvidenceError, 422, "evidence_required"),
    (OutcomeError, 422, "invalid_outcome"),
    (StaffUserError, 422, "user_unavailable"),
)


class ApiError(Exception):
    """An error the API answers as it is: status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """The JSON error body with its status (and any headers, e.g. WWW-Authenticate)."""
    response = jsonify(error={"code": code, "message": message, **extra})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(exc: ApiError) -> Response:
    headers = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": exc.extra.pop("challenge", 'Bearer realm="ivr"')}
    return error_response(exc.status, exc.code, exc.message, headers, **exc.extra)


def _queue_error(exc: QueueError) -> Response:
    for kind, status, code in _QUEUE_ERRORS:
        if isinstance(exc, kind):
            return error_response(status, code, str(exc))
    return error_response(409, "conflict", str(exc))


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    message = exc.description or exc.name or "error"
    if status == 404:
        message = "there is nothing at this address (see /api/v1/openapi.json)"
    if status == 413:
        # Werkzeug's own name ("request_entity_too_large") and wording would make this the one
        # 413 whose code differs from the API's others (payload_too_large, too_many_cases).
        code = "payload_too_large"
        limit = request.max_content_length
        message = f"the body is larger than {limit} bytes" if limit else "the body is too large"
    response = error_response(status, code, message)
    if status == 405:
        response.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
    return response


def _unexpected(exc: Exception) -> Response:
    # Logged with the traceback for the operator; the caller learns nothing of the internals.
    log.exception(
        "API request failed", extra={"action": "api.error", "path": request.path}, exc_info=exc
    )
    return error_response(500, "internal_error", "the request failed; the operator is told")


def _routing_error(exc: HTTPException) -> Response | HTTPException:
    # Unknown addresses and methods never reach the blueprint, so the app answers them; only
    # under /api/v1 in JSON: the webhooks and the console keep their own pages.
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return _http_error(exc)
    return exc


def register_blueprint_errors(bp: Blueprint) -> None:
    """Answer every error raised in the API's views and before_request as JSON."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(QueueError, _queue_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)


def register_routing_errors(app: Flask) -> None:
    """Answer unknown addresses and methods under /api/v1 as JSON (others keep their pages)."""
    app.register_error_handler(404, _routing_error)
    app.register_error_handler(405, _routing_error)
