"""Raising and listing escalations."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.calendar import CalendarDataMissingError, WorkCalendar
from ivr.campaigns.options import campaign_terms
from ivr.models import Case, Escalation, EscalationStatus, StaffUser
from ivr.queue.access import scope_clause
from ivr.queue.history import add_event
from ivr.queue.rules import GLOBAL_TERMS, TermTable, due_at

log = logging.getLogger(__name__)


@cache
def default_calendar() -> WorkCalendar:
    """China's working days in Asia/Shanghai, with no deployment overrides."""
    return WorkCalendar("CN")


def escalation_due_at(
    reason: str,
    now: datetime,
    calendar: WorkCalendar,
    *,
    case_id: int | None = None,
    same_day: bool = False,
    table: TermTable = GLOBAL_TERMS,
) -> datetime:
    """An escalation's deadline; estimated, and logged so, where the calendar has no data."""
    try:
        return due_at(reason, now, calendar, same_day=same_day, table=table)
    except CalendarDataMissingError as missing:
        # Refusing the escalation would lose it; an estimate (statutory holidays only, which errs
        # early) that says so in the log lets an operator correct the calendar and the deadline.
        log.warning(
            "escalation deadline estimated: %s",
            missing,
            extra={
                "action": "escalation.due_estimated",
                "case_id": case_id,
                "reason": reason,
                "region": missing.region,
                "year": missing.year,
            },
        )
        return due_at(reason, now, calendar.estimating(), same_day=same_day, table=table)


def raise_escalation(
    session: Session,
    *,
    case_id: int,
    reason: str,
    now: datetime,
    attempt_id: int | None = None,
    priority: int | None = None,
    detail: str | None = None,
    calendar: WorkCalendar | None = None,
    same_day: bool = False,
    due_by: datetime | None = None,
) -> None:
    """Open an escalation, or add to the open one for the same case and reason.

    Working-day terms count in `calendar` (default: China, Asia/Shanghai, no overrides).
    ``same_day`` makes it due at the end of the working day it is raised on (the next working
    day's end when raised on a day off): pass ``reason in config.same_day_reasons`` with the
    case's CampaignConfig. Adding to an open escalation keeps that one's due time. ``due_by``
    brings the due time forward to it (deadline_at_risk: before the case's own deadline). The
    priority and term are the campaign's own (options sla and priority) where it sets them.
    """
    table = _campaign_table(session, case_id)
    terms = table.terms_for(reason)
    if not table.has_sla(reason):
        # A flow's new reason the campaign gave no term: the 72 h fallback, said once per raise
        # so that an operator adds the term (`ivr campaigns update NAME --set sla.REASON=...`).
        log.warning(
            "escalation reason without an SLA term: due in the default time",
            extra={"action": "escalation.default_terms", "case_id": case_id, "reason": reason},
        )
    due = escalation_due_at(
        reason,
        now,
        calendar or default_calendar(),
        case_id=case_id,
        same_day=same_day,
        table=table,
    )
    if due_by is not None:
        due = min(due, due_by)
    row = Escalation(
        case_id=case_id,
        attempt_id=attempt_id,
        reason=reason,
        priority=priority if priority is not None else terms.priority,
        detail=detail,
        due_at=due,
        created_at=now,
        updated_at=now,
    )
    try:
        # The partial unique index, not a pre-check, settles two triggers racing.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        open_id = session.scalar(
            update(Escalation)
            .where(
                Escalation.case_id == case_id,
                Escalation.reason == reason,
                Escalation.status != EscalationStatus.RESOLVED,
            )
            .values(triggers=Escalation.triggers + 1, updated_at=now)
            .returning(Escalation.id)
        )
        if open_id is not None:
            add_event(session, open_id, at=now, actor="system:calls", action="triggered")
    else:
        add_event(session, row.id, at=now, actor="system:calls", action="raised", detail=reason)


def _campaign_table(session: Session, case_id: int) -> TermTable:
    # Read from the row each time (no cache): `ivr campaigns update` changes the terms while the
    # diallers run. The case is usually in the session already, so this costs no query.
    case = session.get(Case, case_id)
    return GLOBAL_TERMS if case is None else campaign_terms(case.campaign.options)


def list_escalations(
    session: Session,
    *,
    campaign_id: int | None = None,
    status: EscalationStatus | None = None,
    claimed_by_id: int | None = None,
    visible_to: StaffUser | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Escalation]:
    """Escalations, most urgent first (priority, then due time); `visible_to` applies a scope."""
    query = select(Escalation).join(Case)
    if campaign_id is not None:
        query = query.where(Case.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Escalation.status == status)
    if claimed_by_id is not None:
        query = query.where(
            Escalation.status == EscalationStatus.CLAIMED,
            Escalation.claimed_by_id == claimed_by_id,
        )
    if visible_to is not None and (scope := scope_clause(session, visible_to)) is not None:
        query = query.where(scope)
    # The id last makes the order total, so that pages neither repeat nor skip a row.
    query = query.order_by(Escalation.priority, Escalation.due_at, Escalation.id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(session.scalars(query))
