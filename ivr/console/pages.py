"""Sign-in, sign-out, each role's home page, and the console's error pages."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ivr.app import current_services
from ivr.console.access import HOME, console_page, signed_in
from ivr.console.blueprint import bp
from ivr.staff.auth import start_session
from ivr.staff.signin import authenticate


def _safe_next(target: str | None) -> str | None:
    """A path of this console to go back to; anything else (another site, //host) is dropped."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return None


@bp.get("/sign-in")
def sign_in() -> str:
    """The sign-in form."""
    return render_template("sign_in.html", failed=False, next=_safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_post() -> Response | tuple[str, int]:
    """Check the name and password; on success a new session (never the one before sign-in)."""
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    target = _safe_next(request.form.get("next"))
    staff = authenticate(current_services(), username, password) if username else None
    if staff is None:
        return render_template("sign_in.html", failed=True, next=target), 401
    language = session.get("lang")
    start_session(staff)
    if language:
        session["lang"] = language
    return redirect(target or url_for(HOME[staff.role]))


@bp.post("/sign-out")
def sign_out() -> Response:
    """Forget the session; back to the sign-in page."""
    session.clear()
    return redirect(url_for("console.sign_in"))


@bp.get("/")
@console_page()
def home() -> str:
    """The signed-in user's start page: what their role can open."""
    return render_template("home.html", me=signed_in())


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> Any:
    # Errors raised by the console's own views (403, 400 from the CSRF check) as a page in the
    # console; the webhooks and the API keep their own answers.
    key = {403: "forbidden", 404: "not_found"}.get(exc.code or 500, "bad_request")
    return render_template("error.html", key=key, detail=exc.description), exc.code
