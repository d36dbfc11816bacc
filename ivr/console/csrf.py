"""CSRF protection for the console's forms: a random token per session, in a hidden field.

The session cookie is SameSite=Lax, which already keeps it off cross-site POSTs in current
browsers; the token is the defence that does not depend on the browser. Every state-changing
request to the console (POST, PUT, PATCH, DELETE) must carry the session's token in the form
field `csrf_token` (or the X-CSRF-Token header, for the few requests the page's script makes).
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import abort, request, session

log = logging.getLogger(__name__)

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This session's token, made on first use (templates call it for each form)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """A before_request: refuse (400) a state-changing request without the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning("csrf refused", extra={"action": "console.csrf_refused", "path": request.path})
        abort(400, description="the form has expired or did not come from this site; reload it")
