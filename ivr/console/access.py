"""Who may open a console page: signed in (else the sign-in page), and the right role (else
403). The role is read from the user's row on every request (ivr.staff.auth), so a disabled
user or a changed role takes effect at once."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, redirect, request, url_for

from ivr.models import StaffRole
from ivr.staff.auth import current_staff
from ivr.staff.signin import Staff

F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = frozenset(StaffRole)
# Each role's first page after sign-in.
HOME = {
    StaffRole.AGENT: "console.my_queue",
    StaffRole.SUPERVISOR: "console.all_queue",
    StaffRole.COMPLIANCE: "console.calls",
    StaffRole.ADMIN: "console.admin_users",
}


def signed_in() -> Staff:
    """The signed-in user; abort(403) if there is none (views under console_page never get
    here without one)."""
    staff = current_staff()
    if staff is None:
        abort(403)
    return staff


def console_page(*roles: StaffRole) -> Callable[[F], F]:
    """A page for signed-in users of these roles (all roles when none are named)."""
    allowed = frozenset(roles) or ALL_ROLES

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                # Back to this page after signing in; only a path of this site, never a URL.
                return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
            if staff.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
