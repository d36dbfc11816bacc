"""Sign-in over HTTP: /auth/login, /auth/logout, /auth/me, the session, and `require_role`.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https) holding the
user's id and a stamp of their password hash; the password is checked once, at sign-in, never
per request. Each request loads the user's row again (a primary-key read), so disabling a user
or changing their role or password takes effect at once, not when the cookie expires.

The console (a later issue) adds its pages and CSRF tokens on its forms on top of this.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, g, jsonify, request, session
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ivr.app import current_services
from ivr.models import StaffRole, StaffUser
from ivr.services import Services
from ivr.staff.signin import Staff, authenticate, session_stamp

bp = Blueprint("auth", __name__, url_prefix="/auth")

SESSION_KEY = "staff"
SESSION_LIFETIME = timedelta(hours=8)  # a working shift; then sign in again
REFUSED = "wrong user name or password"  # the one answer to every failed sign-in

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    """Set the session cookie's flags and register the sign-in routes."""
    settings = cast(Services, app.extensions["ivr"]).settings
    app.config.update(
        SESSION_COOKIE_NAME="ivr_session",
        SESSION_COOKIE_HTTPONLY=True,  # page scripts cannot read it
        SESSION_COOKIE_SAMESITE="Lax",  # not sent on cross-site POSTs
        # Behind https the cookie must never travel in clear; plain http is local development.
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The lifetime runs from sign-in, not from the last request, and responses do not
        # re-send the cookie each time.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.register_blueprint(bp)


ErrorReply = tuple[Response, int]


def error(status: int, message: str) -> ErrorReply:
    """A JSON error body: {"error": message}."""
    return jsonify(error=message), status


@bp.post("/login")
def login() -> tuple[Response, int]:
    """Sign in with username and password (form fields or JSON); sets the session cookie."""
    data: Any = request.form
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "send username and password as form fields or a JSON object")
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return error(400, "username and password are required")
    staff = authenticate(current_services(), username, password)
    if staff is None:
        return error(401, REFUSED)
    start_session(staff)
    return jsonify(username=staff.username, role=staff.role.value), 200


def start_session(staff: Staff) -> None:
    """Begin the signed-in session: a new one, so that nothing from before sign-in (a session
    an attacker planted, a CSRF token) carries over."""
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = {"id": staff.id, "stamp": staff.stamp}
    g._ivr_staff = staff


@bp.post("/logout")
def logout() -> tuple[str, int]:
    """Forget the session (the cookie is cleared)."""
    session.clear()
    return "", 204


@bp.get("/me")
def me() -> tuple[Response, int]:
    """Who is signed in: {"username", "role"}, or 401."""
    staff = current_staff()
    if staff is None:
        return error(401, "not signed in")
    return jsonify(username=staff.username, role=staff.role.value), 200


def current_staff(db: Session | None = None) -> Staff | None:
    """The signed-in user of this request, checked against their row; None if nobody is.

    Pass `db` to read the row in a session the caller already has open.
    """
    if "_ivr_staff" in g:
        return cast(Staff | None, g._ivr_staff)
    staff = None
    data = session.get(SESSION_KEY)
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        if db is None:
            with current_services().sessions() as own:
                staff = _load(own, data["id"], data.get("stamp"))
        else:
            staff = _load(db, data["id"], data.get("stamp"))
    g._ivr_staff = staff
    return staff


# Built once: every request runs it (a plain row read, no ORM identity map to fill).
_USER = select(StaffUser.username, StaffUser.role, StaffUser.active, StaffUser.password_hash).where(
    StaffUser.id == bindparam("user_id")
)


def _load(db: Session, user_id: int, stamp: object) -> Staff | None:
    row = db.connection().execute(_USER, {"user_id": user_id}).one_or_none()
    if row is None or not row.active or not isinstance(stamp, str):
        return None
    expected = session_stamp(current_services().settings.secret_key, row.password_hash)
    if not hmac.compare_digest(stamp, expected):
        return None  # the password changed since this session began
    return Staff(user_id, row.username, StaffRole(row.role), expected)


def check_role(roles: Collection[StaffRole], db: Session | None = None) -> Staff | ErrorReply:
    """The signed-in user if their role is one of `roles`; else the 401 or 403 to answer.

    For views that read the user in a session they open anyway; others use `require_role`.
    """
    staff = current_staff(db)
    if staff is None:
        return error(401, "sign in first (POST /auth/login)")
    if staff.role not in roles:
        return error(403, f"the {staff.role.value} role may not do this")
    return staff


def require_role(*roles: StaffRole) -> Callable[[F], F]:
    """Run the view for signed-in users holding one of the roles; else 401 (nobody) or 403."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            checked = check_role(allowed)
            if not isinstance(checked, Staff):
                return checked
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
