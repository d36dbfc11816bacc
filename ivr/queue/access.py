"""Who may work an escalation: the acting user, roles, agents' scopes, the policy's seller."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from ivr.models import Case, Escalation, StaffRole, StaffScope, StaffUser
from ivr.queue.errors import EscalationNotFoundError, NotAllowedError, StaffUserError
from ivr.queue.outcomes import is_seller

# Roles that manage the queue: reassign, resolve or reopen any escalation, whatever its scope.
MANAGERS = frozenset({StaffRole.SUPERVISOR, StaffRole.ADMIN})


def acting_user(session: Session, username: str) -> StaffUser:
    """The active user with this name; StaffUserError when there is none."""
    name = username.strip().lower()
    user = session.scalar(select(StaffUser).where(StaffUser.username == name))
    if user is None:
        raise StaffUserError(f"there is no user named {name}")
    if not user.active:
        raise StaffUserError(f"user {name} is disabled")
    return user


def may_work(session: Session, user: StaffUser, case: Case) -> bool:
    """True when the user's scope covers the case (agents with scope rows; others always)."""
    if user.role != StaffRole.AGENT:
        return True
    scopes = list(session.scalars(select(StaffScope).where(StaffScope.user_id == user.id)))
    if not scopes:
        return True
    department = (case.department or "").strip().casefold()
    return any(
        (scope.campaign_id is None or scope.campaign_id == case.campaign_id)
        and (scope.department is None or scope.department.strip().casefold() == department)
        for scope in scopes
    )


def scope_clause(session: Session, user: StaffUser) -> ColumnElement[bool] | None:
    """may_work() as a condition on Case, for listing; None when the user is not limited."""
    if user.role != StaffRole.AGENT:
        return None
    scopes = list(session.scalars(select(StaffScope).where(StaffScope.user_id == user.id)))
    # SQL lower() folds ASCII only on SQLite; departments are ASCII or caseless (Chinese) names.
    department = func.lower(func.trim(func.coalesce(Case.department, "")))
    terms: list[ColumnElement[bool]] = []
    for scope in scopes:
        parts: list[ColumnElement[bool]] = []
        if scope.campaign_id is not None:
            parts.append(Case.campaign_id == scope.campaign_id)
        if scope.department is not None:
            parts.append(department == scope.department.strip().lower())
        if not parts:
            return None  # a scope row naming neither limits nothing, as in may_work
        terms.append(and_(*parts))
    return or_(*terms) if terms else None


def load_escalation(session: Session, escalation_id: int, *, lock: bool = False) -> Escalation:
    """The escalation, read afresh (and locked when asked); EscalationNotFoundError if none."""
    # populate_existing: a row read earlier in this session must not hide a newer commit.
    escalation = session.get(
        Escalation, escalation_id, with_for_update=lock or None, populate_existing=True
    )
    if escalation is None:
        raise EscalationNotFoundError(f"there is no escalation {escalation_id}")
    return escalation


def require_scope(session: Session, user: StaffUser, escalation: Escalation) -> None:
    """NotAllowedError unless the user's scope covers the escalation's case."""
    if not may_work(session, user, escalation.case):
        raise NotAllowedError(
            f"escalation {escalation.id} is outside the scope of {user.username} "
            "(campaign or department)"
        )


def refuse_seller(escalation: Escalation, user: StaffUser) -> None:
    """NotAllowedError when the user sold the policy of a suspected mis-sale."""
    # Whoever sold the policy may not judge whether it was mis-sold, not even as a supervisor.
    if escalation.reason == "missell_suspected" and is_seller(
        escalation.case.details.get("seller"), user.username
    ):
        raise NotAllowedError(
            f"{user.username} sold this policy: a suspected mis-sale is worked by someone else"
        )


def username_of(session: Session, user_id: int | None) -> str:
    """A user's name by id; "nobody" for none."""
    if user_id is None:
        return "nobody"
    return session.scalar(select(StaffUser.username).where(StaffUser.id == user_id)) or "nobody"


def usernames_of(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Users' names by id, in one query (for lists that name each row's holder)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}
