"""The console's blueprint: templates, the CSRF check, the language and the page context."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ivr.console.csrf import check_csrf, csrf_token
from ivr.console.i18n import current_language, remember_language, t
from ivr.staff.auth import current_staff

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
# Once, at import: the app factory runs for every app a process builds (the tests build many).
bp.before_request(remember_language)
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
