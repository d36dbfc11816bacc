"""What a member of staff works with besides a password: a callback phone and, for agents, scopes.

The phone (E.164) is the one an agent's callback rings first. A scope row limits an agent to a
campaign, a department, or one department of one campaign; an agent with no row works every
campaign (ivr.queue.access.may_work). Each change is written to the audit log, phones masked.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.audit.log import record
from ivr.campaigns.service import campaign_named
from ivr.models import Campaign, StaffScope, StaffUser
from ivr.privacy import mask_phone
from ivr.services import Services
from ivr.staff.accounts import AccountError, normalise_username


@dataclass(frozen=True)
class Scope:
    """One scope row as people read it: a campaign's name, a department, or both."""

    campaign: str | None
    department: str | None

    def label(self) -> str:
        """`ward-7`, `dept Cardiology` or `ward-7/Cardiology`."""
        if self.campaign and self.department:
            return f"{self.campaign}/{self.department}"
        return self.campaign or f"dept {self.department}"


def normalise_phone(raw: str) -> str:
    """The E.164 form of an international number; AccountError (number masked) if not valid."""
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise AccountError(
            f"{mask_phone(raw.strip())} is not a valid phone number in international form "
            "(+ country code, e.g. +12025550123)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def set_phone(
    session: Session, services: Services, *, username: str, phone: str | None, actor: str
) -> str | None:
    """Set (or with None clear) a user's callback phone; the stored E.164 form."""
    user = _user(session, username)
    stored = None if phone is None else normalise_phone(phone)
    user.phone = stored
    record(
        session,
        services,
        actor=actor,
        action="staff.phone_set" if stored else "staff.phone_cleared",
        object_kind="staff_user",
        object_id=user.id,
        detail={"username": user.username, "phone": mask_phone(stored) or None},
    )
    return stored


def add_scope(
    session: Session,
    services: Services,
    *,
    username: str,
    campaign: str | None,
    department: str | None,
    actor: str,
) -> Scope:
    """Limit a user to a campaign and/or department; AccountError if it has that scope already."""
    user, campaign_row, department = _scope_args(session, username, campaign, department)
    campaign_id = campaign_row.id if campaign_row else None
    # No unique key covers (user, campaign, department) with its NULLs; an administrator's
    # command is not raced, and a duplicate row would change nothing that may_work decides.
    if _matching(session, user.id, campaign_id, department):
        raise AccountError(f"{user.username} already has this scope")
    session.add(StaffScope(user_id=user.id, campaign_id=campaign_id, department=department))
    scope = Scope(campaign_row.name if campaign_row else None, department)
    _audit(session, services, "staff.scope_added", user, scope, actor)
    return scope


def remove_scope(
    session: Session,
    services: Services,
    *,
    username: str,
    campaign: str | None,
    department: str | None,
    actor: str,
) -> Scope:
    """Remove a scope row from a user; AccountError when the user has no such scope."""
    user, campaign_row, department = _scope_args(session, username, campaign, department)
    rows = _matching(session, user.id, campaign_row.id if campaign_row else None, department)
    if not rows:
        raise AccountError(f"{user.username} has no such scope")
    for row in rows:
        session.delete(row)
    scope = Scope(campaign_row.name if campaign_row else None, department)
    _audit(session, services, "staff.scope_removed", user, scope, actor)
    return scope


def scopes_by_user(session: Session) -> dict[int, list[Scope]]:
    """Every user's scopes, by user id (one query)."""
    rows = session.execute(
        select(StaffScope.user_id, Campaign.name, StaffScope.department)
        .outerjoin(Campaign, Campaign.id == StaffScope.campaign_id)
        .order_by(StaffScope.user_id, StaffScope.id)
    )
    scopes: dict[int, list[Scope]] = defaultdict(list)
    for user_id, campaign, department in rows:
        scopes[user_id].append(Scope(campaign, department))
    return scopes


def _user(session: Session, username: str) -> StaffUser:
    name = normalise_username(username)
    user = session.scalar(select(StaffUser).where(StaffUser.username == name))
    if user is None:
        raise AccountError(f"there is no user named {name}")
    return user


def _scope_args(
    session: Session, username: str, campaign: str | None, department: str | None
) -> tuple[StaffUser, Campaign | None, str | None]:
    user = _user(session, username)
    department = department.strip() if department else None
    if campaign is None and not department:
        raise AccountError("name a campaign, a department, or both")
    if department is not None and len(department) > 100:
        raise AccountError("a department name is at most 100 characters")
    return user, campaign_named(session, campaign) if campaign else None, department


def _matching(
    session: Session, user_id: int, campaign_id: int | None, department: str | None
) -> list[StaffScope]:
    query = select(StaffScope).where(StaffScope.user_id == user_id)
    query = query.where(
        StaffScope.campaign_id.is_(None)
        if campaign_id is None
        else StaffScope.campaign_id == campaign_id
    )
    rows = session.scalars(query)
    # Departments compare as may_work compares them: trimmed, case-insensitive.
    wanted = (department or "").casefold()
    return [row for row in rows if (row.department or "").strip().casefold() == wanted]


def _audit(
    session: Session, services: Services, action: str, user: StaffUser, scope: Scope, actor: str
) -> None:
    record(
        session,
        services,
        actor=actor,
        action=action,
        object_kind="staff_user",
        object_id=user.id,
        detail={
            "username": user.username,
            "campaign": scope.campaign,
            "department": scope.department,
        },
    )
