"""Raise `deadline_at_risk` for cases whose deadline the dialler can no longer be sure to meet.

A periodic job of `ivr dial` (and of the demo's loop). It looks at every case that still has
calls to make before a deadline, in deadline order, and asks scheduler.capacity whether the
attempts left fit into the calling slots left, and into the dialling capacity the case can count
on: IVR_CPS x the callable seconds before its deadline, shared with every case whose deadline is
no later (those are dialled first, since due cases are claimed oldest first). The escalation is
due before the case's own deadline, so a person calls while the person can still be reached; the
case keeps its automatic attempts meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload

from ivr.models import Case, CaseStatus, Escalation, EscalationStatus
from ivr.queue.service import raise_escalation
from ivr.services import Services
from scheduler.capacity import callable_seconds, capacity_share, deadline_at_risk

log = logging.getLogger(__name__)

REASON = "deadline_at_risk"
_LOOK_AT = 20_000  # cases per run, nearest deadline first; the rest wait for the next run


def flag_deadlines_at_risk(services: Services) -> int:
    """Escalate the cases now at risk of missing their deadline; returns how many were raised."""
    now = services.clock()
    raised = 0
    with services.sessions.begin() as session:
        competing = 0
        for case, already in _open_deadline_cases(session, now):
            competing += 1
            if already:
                continue  # one open escalation per case and reason: nothing to add each run
            config = services.config(case.campaign)
            policy = config.policy
            assert case.deadline_at is not None
            tz = ZoneInfo(case.contact.timezone)
            seconds = callable_seconds(now, case.deadline_at, policy, tz)
            risk = deadline_at_risk(
                now=now,
                deadline=case.deadline_at,
                attempts_left=policy.max_attempts - case.attempts_made,
                policy=policy,
                tz=tz,
                earliest=case.next_call_at,
                capacity_share=capacity_share(
                    calls_per_second=services.settings.cps, seconds=seconds, competing=competing
                ),
            )
            if risk is None:
                continue
            raise_escalation(
                session,
                case_id=case.id,
                reason=REASON,
                now=now,
                detail=str(risk),
                due_by=case.deadline_at,
            )
            raised += 1
    if raised:
        log.warning(
            "cases at risk of missing their deadline escalated",
            extra={"action": "deadline.at_risk", "count": raised},
        )
    return raised


def _open_deadline_cases(session: Session, now: datetime) -> list[tuple[Case, bool]]:
    flagged = exists().where(
        Escalation.case_id == Case.id,
        Escalation.reason == REASON,
        Escalation.status != EscalationStatus.RESOLVED,
    )
    rows = session.execute(
        select(Case, flagged)
        .where(
            Case.status == CaseStatus.PENDING,
            Case.deadline_at.is_not(None),
            Case.deadline_at > now,
        )
        .order_by(Case.deadline_at, Case.id)
        .limit(_LOOK_AT)
        .options(joinedload(Case.campaign), joinedload(Case.contact))
    ).all()
    return [(case, bool(already)) for case, already in rows]
