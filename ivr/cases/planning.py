"""A case re-planned from its stored facts, and a case closed for want of a window.

The dispatcher and the consent check both re-plan a due case at the moment they look at it (the
dialler may have been stopped, the caps may move it), and both close it the same way when no
calling window is left before its deadline.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr.attempts import close_case
from ivr.models import Case, CaseOutcome
from ivr.queue.service import raise_escalation
from scheduler.planner import CallPolicy, plan_next_call


def plan_case(case: Case, policy: CallPolicy, now: datetime) -> datetime | None:
    """When the case may be called next, from `now` on; None when it may not be called again."""
    last = case.attempts[-1] if case.attempts else None
    return plan_next_call(
        anchor=case.anchor_date,
        attempts_made=case.attempts_made,
        last_attempt_at=None if last is None else (last.placed_at or last.created_at),
        policy=policy,
        tz=ZoneInfo(case.contact.timezone),
        now=now,
        deadline=case.deadline_at,  # the case's own: a 10-day cooling-off in a 15-day campaign
    )


def close_without_window(session: Session, case: Case, now: datetime, why: str) -> None:
    """Close a case no window is left for before its deadline, and hand it to a person."""
    close_case(session, case, CaseOutcome.MISSED_DEADLINE, now)
    raise_escalation(session, case_id=case.id, reason="unreachable", now=now, detail=why)
