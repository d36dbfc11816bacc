"""The console's blueprint: templates, the CSRF check, the language and the page context."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ivr.console.csrf import check_csrf, csrf_token
from ivr.console.i18n import current_language, remember_language, t
from ivr.queue.evidence import MAX_SCAN_BYTES
from ivr.staff.auth import current_staff

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
# The forms that take a scan of a signed receipt, and how much their body may carry beyond it.
SCAN_FORMS = frozenset({"console.resolve_escalation"})
SCAN_FORM_BYTES = MAX_SCAN_BYTES + 64 * 1024


def allow_scan_uploads() -> None:
    """A before_request: the resolve form may carry a scan, over the app's small body limit."""
    # Before check_csrf, which reads the form: Werkzeug applies the limit while it parses.
    if request.endpoint in SCAN_FORMS:
        request.max_content_length = SCAN_FORM_BYTES


# Once, at import: the app factory runs for every app a process builds (the tests build many).
bp.before_request(remember_language)
bp.before_request(allow_scan_uploads)
bp.before_request(check_csrf)


@bp.context_processor
def _page_context() -> dict[str, Any]:
    return {
        "t": t,
        "lang": current_language(),
        "csrf_token": csrf_token,
        "staff": current_staff(),
    }


@bp.after_request
def _no_store(response: Any) -> Any:
    # Pages carry personal and health data: never kept in a shared cache or the back button.
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "media-src 'self'; frame-ancestors 'none'; form-action 'self'",
    )
    return response
