"""What the case page shows, read in one session as plain values.

Never the case's details (identity fact hashes, diagnosis, seller): the page shows the survey's
answers, which are the task, and the case's place (campaign, department, ward, anchor date). The
contact's phone is masked unless the viewer has started a callback of the case: then the agent
may dial by hand if the bridge fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ivr.models import (
    AgentCallback,
    Answer,
    Attempt,
    Case,
    Escalation,
    EscalationStatus,
    Recording,
    RecordingStatus,
    StaffUser,
)
from ivr.privacy import mask_phone
from ivr.queue.access import usernames_of
from ivr.queue.callback_state import callbacks_of
from ivr.queue.history import history_of
from ivr.queue.outcomes import rules_for
from recordings.timeline import TimelineEvent, attempt_timeline


@dataclass(frozen=True)
class AnswerRow:
    """One answer of one attempt."""

    attempt: int
    question: str
    value: str | None
    at: datetime


@dataclass(frozen=True)
class AttemptTimeline:
    """One attempt's call moments, placed on its recording when there is one."""

    attempt: int
    status: str
    events: tuple[TimelineEvent, ...]


@dataclass(frozen=True)
class RecordingRow:
    """A stored recording of the case, playable through /recordings/<id>/audio."""

    id: int
    sid: str
    started_at: datetime | None
    duration_s: int | None
    of_callback: bool


@dataclass(frozen=True)
class HistoryRow:
    """One step of an escalation's history."""

    at: datetime
    actor: str
    action: str
    detail: str | None


@dataclass(frozen=True)
class CallbackRow:
    """One agent's callback of an escalation."""

    id: int
    status: str
    agent: str | None
    requested_at: datetime
    window_override: bool


@dataclass(frozen=True)
class EscalationPanel:
    """An escalation of the case with what the viewer may do to it."""

    id: int
    reason: str
    priority: int
    status: str
    due_at: datetime
    overdue: bool
    detail: str | None
    holder: str | None
    outcome: str | None
    resolution_note: str | None
    mine: bool
    history: tuple[HistoryRow, ...]
    callbacks: tuple[CallbackRow, ...]


@dataclass(frozen=True)
class CaseView:
    """Everything on the case page."""

    id: int
    ref: str
    campaign: str
    department: str | None
    ward: str | None
    anchor_date: date
    status: str
    outcome: str | None
    contact_name: str
    phone: str
    phone_shown: bool
    outcomes: tuple[str, ...]
    answers: tuple[AnswerRow, ...]
    timelines: tuple[AttemptTimeline, ...]
    recordings: tuple[RecordingRow, ...]
    escalations: tuple[EscalationPanel, ...]


def started_callback(session: Session, user: StaffUser, case_id: int) -> bool:
    """True when this user has asked for a callback of the case (whatever became of it)."""
    found = session.scalar(
        select(AgentCallback.id)
        .where(AgentCallback.case_id == case_id, AgentCallback.agent_id == user.id)
        .limit(1)
    )
    return found is not None


def case_recordings(session: Session, case_id: int) -> list[Recording]:
    """The case's stored, unpurged recordings: of its attempts and of agents' callbacks."""
    attempts = select(Attempt.id).where(Attempt.case_id == case_id)
    callbacks = select(AgentCallback.id).where(AgentCallback.case_id == case_id)
    query = (
        select(Recording)
        .where(
            or_(Recording.attempt_id.in_(attempts), Recording.callback_id.in_(callbacks)),
            Recording.status == RecordingStatus.STORED,
            Recording.purged_at.is_(None),
        )
        .order_by(Recording.id)
    )
    return list(session.scalars(query))


def _escalations(
    session: Session, case_id: int, user: StaffUser, now: datetime
) -> tuple[EscalationPanel, ...]:
    rows = list(
        session.scalars(
            select(Escalation).where(Escalation.case_id == case_id).order_by(Escalation.id)
        )
    )
    callbacks = {e.id: callbacks_of(session, e.id) for e in rows}
    names = usernames_of(
        session,
        [e.claimed_by_id for e in rows] + [c.agent_id for cs in callbacks.values() for c in cs],
    )
    panels = []
    for e in rows:
        claimed = e.status == EscalationStatus.CLAIMED
        panels.append(
            EscalationPanel(
                id=e.id,
                reason=e.reason,
                priority=e.priority,
                status=str(e.status),
                due_at=e.due_at,
                overdue=e.status != EscalationStatus.RESOLVED and e.due_at <= now,
                detail=e.detail,
                holder=names.get(e.claimed_by_id or 0) if claimed else None,
                outcome=e.outcome,
                resolution_note=e.resolution_note,
                mine=claimed and e.claimed_by_id == user.id,
                history=tuple(
                    HistoryRow(ev.at, ev.actor, ev.action, ev.detail)
                    for ev in history_of(session, e.id)
                ),
                callbacks=tuple(
                    CallbackRow(
                        c.id,
                        str(c.status),
                        names.get(c.agent_id),
                        c.requested_at,
                        c.window_override,
                    )
                    for c in callbacks[e.id]
                ),
            )
        )
    return tuple(panels)


def case_view(session: Session, case: Case, user: StaffUser, now: datetime) -> CaseView:
    """The case page's content for this viewer."""
    attempts = {a.id: a for a in case.attempts}
    answers = session.scalars(
        select(Answer).where(Answer.case_id == case.id).order_by(Answer.created_at, Answer.id)
    )
    timelines = []
    for attempt in case.attempts:
        found = attempt_timeline(session, attempt.id)
        if found is not None and found.events:
            timelines.append(AttemptTimeline(attempt.number, str(attempt.status), found.events))
    shown = started_callback(session, user, case.id)
    phone = case.contact.phone
    return CaseView(
        id=case.id,
        ref=case.external_ref,
        campaign=case.campaign.name,
        department=case.department,
        ward=case.ward,
        anchor_date=case.anchor_date,
        status=str(case.status),
        outcome=None if case.outcome is None else str(case.outcome),
        contact_name=case.contact.name,
        phone=phone if shown else mask_phone(phone),
        phone_shown=shown,
        outcomes=rules_for(case.campaign.template, case.campaign.options).outcomes,
        answers=tuple(
            AnswerRow(attempts[a.attempt_id].number, a.question, a.value, a.created_at)
            for a in answers
            if a.attempt_id in attempts
        ),
        timelines=tuple(timelines),
        recordings=tuple(
            RecordingRow(r.id, r.recording_sid, r.started_at, r.duration_s, r.attempt_id is None)
            for r in case_recordings(session, case.id)
        ),
        escalations=_escalations(session, case.id, user, now),
    )
