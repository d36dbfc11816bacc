"""Which cases, and so which recordings, a member of staff may open in the console.

Supervisors, compliance officers and administrators open any case. An agent opens a case only
when their scope covers it (ivr.queue.access.may_work) and no escalation of it is held by another
member of staff: an agent works what they hold or may claim, never a colleague's claimed case.
A case with no escalation is nobody's task, so no agent's. The replay endpoint
(recordings.replay) applies the same rule to an agent's recordings.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.models import (
    AgentCallback,
    Attempt,
    Case,
    Escalation,
    EscalationStatus,
    Recording,
    StaffRole,
    StaffUser,
)
from ivr.queue.access import may_work


def claimed_by_other(session: Session, user: StaffUser, case_id: int) -> str | None:
    """The name of another member of staff holding an escalation of the case; None if nobody."""
    return session.scalar(
        select(StaffUser.username)
        .join(Escalation, Escalation.claimed_by_id == StaffUser.id)
        .where(
            Escalation.case_id == case_id,
            Escalation.status == EscalationStatus.CLAIMED,
            Escalation.claimed_by_id != user.id,
        )
        .order_by(Escalation.id)
        .limit(1)
    )


def may_open_case(session: Session, user: StaffUser, case: Case) -> bool:
    """True when the user may open the case's page (and replay its recordings)."""
    if user.role != StaffRole.AGENT:
        return True
    if not may_work(session, user, case):
        return False
    has_escalation = session.scalar(
        select(Escalation.id).where(Escalation.case_id == case.id).limit(1)
    )
    return has_escalation is not None and claimed_by_other(session, user, case.id) is None


def recording_case_id(session: Session, recording_id: int) -> int | None:
    """The case a recording belongs to (through its attempt or its agent's callback)."""
    row = session.execute(
        select(Recording.attempt_id, Recording.callback_id).where(Recording.id == recording_id)
    ).one_or_none()
    if row is None:
        return None
    if row.attempt_id is not None:
        return session.scalar(select(Attempt.case_id).where(Attempt.id == row.attempt_id))
    if row.callback_id is not None:
        return session.scalar(
            select(AgentCallback.case_id).where(AgentCallback.id == row.callback_id)
        )
    return None


def agent_may_replay(session: Session, user_id: int, recording_id: int) -> bool:
    """True when the agent may open the case this recording belongs to."""
    user = session.get(StaffUser, user_id)
    case_id = recording_case_id(session, recording_id)
    case = None if case_id is None else session.get(Case, case_id)
    return user is not None and case is not None and may_open_case(session, user, case)
