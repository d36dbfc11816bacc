"""The administrator's user pages: list, add, disable (as `ivr users add` / `ivr users disable`).

GET  /console/admin/users                       name, role, active, scopes, masked phone
POST /console/admin/users                       add (name, role, initial password)
POST /console/admin/users/<username>/disable    disable; audited by ivr.staff.accounts
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

import ivr.console.admin_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.models import StaffRole, StaffUser
from ivr.privacy import mask_phone
from ivr.staff.accounts import AccountError, add_user, disable_user
from ivr.staff.profile import scopes_by_user


def _users_page(status: int = 200, form: dict[str, str] | None = None) -> Any:
    with current_services().sessions() as session:
        scopes = scopes_by_user(session)
        users = [
            {
                "username": u.username,
                "role": u.role.value,
                "active": u.active,
                "phone": mask_phone(u.phone),
                "scopes": [scope.label() for scope in scopes.get(u.id, [])],
            }
            for u in session.scalars(select(StaffUser).order_by(StaffUser.username))
        ]
    page = render_template(
        "admin/users.html", users=users, roles=[r.value for r in StaffRole], form=form or {}
    )
    return page, status


@bp.get("/admin/users")
@console_page(StaffRole.ADMIN)
def admin_users() -> Any:
    """Every user, and the form to add one."""
    return _users_page()


@bp.post("/admin/users")
@console_page(StaffRole.ADMIN)
def admin_add_user() -> Any:
    """Add an active user; a bad name, role or password is shown with the form kept."""
    services = current_services()
    username = request.form.get("username", "")
    role_name = request.form.get("role", "")
    password = request.form.get("password", "")
    # The password is never sent back into the page.
    kept = {"username": username, "role": role_name}
    try:
        role = StaffRole(role_name)
    except ValueError:
        flash(f"{t('ad_refused')} {role_name!r} is not a role", "error")
        return _users_page(400, kept)
    try:
        with services.sessions.begin() as session:
            user = add_user(
                session,
                services,
                username=username,
                password=password,
                role=role,
                actor=signed_in().username,
            )
            name = user.username
    except AccountError as exc:
        flash(f"{t('ad_refused')} {exc}", "error")
        return _users_page(400, kept)
    flash(f"{t('ad_added')} {name}", "ok")
    return redirect(url_for("console.admin_users"))


@bp.post("/admin/users/<username>/disable")
@console_page(StaffRole.ADMIN)
def admin_disable_user(username: str) -> Response:
    """Stop a user from signing in (their session ends at their next request)."""
    services = current_services()
    try:
        with services.sessions.begin() as session:
            changed = disable_user(session, services, username=username, actor=signed_in().username)
    except AccountError as exc:
        flash(f"{t('ad_refused')} {exc}", "error")
    else:
        flash(f"{t('ad_disabled_ok' if changed else 'ad_already_disabled')} {username}", "ok")
    return redirect(url_for("console.admin_users"))
