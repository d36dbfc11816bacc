"""Staff accounts: add, list, disable. Each change is written to the audit log with it.

A user is never deleted: the audit log names users, and a name must keep meaning one person.
Disabling stops sign-in at once and ends the sessions already open (see ivr.staff.auth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.audit.log import record
from ivr.models import StaffRole, StaffUser
from ivr.services import Services
from ivr.staff.passwords import check_new_password, hash_password

# Lower-case letters, digits and . _ - @: safe in logs, URLs and the audit log, and one spelling
# per person ("Wang.Li" and "wang.li" are the same user).
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,99}")


class AccountError(ValueError):
    """A user cannot be added or changed; the message says why."""


@dataclass(frozen=True)
class StaffSummary:
    """A user as `ivr users list` shows it; never the password hash."""

    username: str
    role: StaffRole
    active: bool
    locked_until: datetime | None
    created_at: datetime


def normalise_username(raw: str) -> str:
    """The stored form of a user name: trimmed, lower-case, from a small alphabet."""
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise AccountError(
            "a user name is 2-100 characters: lower-case letters, digits and . _ - @, "
            "starting with a letter or digit"
        )
    return name


def add_user(
    session: Session,
    services: Services,
    *,
    username: str,
    password: str,
    role: StaffRole,
    actor: str,
) -> StaffUser:
    """Create an active user; AccountError for a bad name or password or a name in use."""
    name = normalise_username(username)
    try:
        check_new_password(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user = StaffUser(
        username=name,
        password_hash=hash_password(password),
        role=role,
        active=True,
        failed_logins=0,
        created_at=services.clock(),
    )
    try:
        # The unique constraint settles two admins adding one name at once.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise AccountError(f"there is already a user named {name}") from None
    record(
        session,
        services,
        actor=actor,
        action="staff.user_added",
        object_kind="staff_user",
        object_id=user.id,
        detail={"username": name, "role": role.value},
    )
    return user


def disable_user(session: Session, services: Services, *, username: str, actor: str) -> bool:
    """Stop a user from signing in; False when it was already disabled."""
    name = normalise_username(username)
    user = session.scalar(select(StaffUser).where(StaffUser.username == name).with_for_update())
    if user is None:
        raise AccountError(f"there is no user named {name}")
    if not user.active:
        return False
    user.active = False
    record(
        session,
        services,
        actor=actor,
        action="staff.user_disabled",
        object_kind="staff_user",
        object_id=user.id,
        detail={"username": name},
    )
    return True


def list_users(session: Session) -> list[StaffSummary]:
    """Every user, by name."""
    return [
        StaffSummary(u.username, u.role, u.active, u.locked_until, u.created_at)
        for u in session.scalars(select(StaffUser).order_by(StaffUser.username))
    ]
