"""Raising and listing escalations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.models import Case, Escalation, EscalationStatus
from ivr.queue.rules import due_at, terms_for


def raise_escalation(
    session: Session,
    *,
    case_id: int,
    reason: str,
    now: datetime,
    attempt_id: int | None = None,
    priority: int | None = None,
    detail: str | None = None,
) -> None:
    """Open an escalation, or add to the open one for the same case and reason."""
    terms = terms_for(reason)
    row = Escalation(
        case_id=case_id,
        attempt_id=attempt_id,
        reason=reason,
        priority=priority if priority is not None else terms.priority,
        detail=detail,
        due_at=due_at(reason, now),
        created_at=now,
        updated_at=now,
    )
    try:
        # The partial unique index, not a pre-check, settles two triggers racing.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        session.execute(
            update(Escalation)
            .where(
                Escalation.case_id == case_id,
                Escalation.reason == reason,
                Escalation.status != EscalationStatus.RESOLVED,
            )
            .values(triggers=Escalation.triggers + 1, updated_at=now)
        )


def list_escalations(
    session: Session, *, campaign_id: int | None = None, status: EscalationStatus | None = None
) -> list[Escalation]:
    """Escalations, most urgent first (priority, then due time)."""
    query = select(Escalation).join(Case)
    if campaign_id is not None:
        query = query.where(Case.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Escalation.status == status)
    query = query.order_by(Escalation.priority, Escalation.due_at, Escalation.id)
    return list(session.scalars(query))
