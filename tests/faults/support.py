"""Helpers of the fault and abuse suite: one dialled call, Twilio's forms, what a call left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    CallEvent,
    Campaign,
    Case,
    CaseStatus,
    Escalation,
    Recording,
)
from tests import factories
from tests.conftest import ACCOUNT_SID, FROM_NUMBER


@dataclass(frozen=True)
class Call:
    """One dialled attempt, as the dispatcher leaves it."""

    attempt_id: int
    case_id: int
    call_sid: str


def new_call(
    session: Session, campaign_id: int, now: datetime, *, serial: int = 1, number: int = 1
) -> Call:
    """A case in call and its attempt (call id bound) in an existing campaign."""
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    case = factories.case(session, campaign, now, ref=f"F-{serial:06d}")
    case.status = CaseStatus.IN_CALL
    case.attempts_made = number
    case.next_call_at = None
    call_sid = f"CA{serial:032x}"
    attempt = Attempt(
        case_id=case.id,
        number=number,
        status=AttemptStatus.QUEUED,
        call_sid=call_sid,
        language="zh-CN",
        created_at=now,
        placed_at=now,
    )
    session.add(attempt)
    session.flush()
    return Call(attempt.id, case.id, call_sid)


def make_call(sessions: sessionmaker[Session], now: datetime, *, number: int = 1) -> Call:
    """A campaign named ward-7 with one case in call."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, now)
        return new_call(session, campaign.id, now, number=number)


def call_form(call: Call, **fields: str) -> dict[str, str]:
    """The parameters Twilio sends with every call webhook, plus fields."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.call_sid,
        "From": FROM_NUMBER,
        "To": factories.FICTIONAL_PHONES[0],
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        **fields,
    }


def table_counts(session: Session) -> dict[str, int]:
    """Rows per table the webhooks write to: a request that changed nothing leaves them equal."""
    models: tuple[type[Any], ...] = (Attempt, Answer, CallEvent, Case, Escalation, Recording)
    return {
        model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in models
    }


def call_state(session: Session, call: Call) -> dict[str, Any]:
    """Everything one call's callbacks can change, as plain values to compare."""
    attempt = session.get_one(Attempt, call.attempt_id)
    case = session.get_one(Case, call.case_id)
    escalations = session.scalars(select(Escalation).where(Escalation.case_id == call.case_id))
    recordings = session.scalars(
        select(Recording).where(Recording.attempt_id == call.attempt_id).order_by(Recording.id)
    )
    answers = session.scalars(select(Answer).where(Answer.attempt_id == call.attempt_id))
    return {
        "attempt": (
            attempt.status,
            attempt.last_sequence,
            attempt.duration_s,
            attempt.answered_by,
            attempt.ended_at,
            attempt.settled_at,
            attempt.flow_step,
            attempt.reached,
        ),
        "case": (case.status, case.outcome, case.next_call_at, case.done_at),
        "escalations": sorted((e.reason, e.priority, e.triggers) for e in escalations),
        "recordings": [(r.status, r.duration_s, r.next_fetch_at) for r in recordings],
        "answers": sorted((a.question, a.value) for a in answers),
    }


class Statements:
    """Every SQL statement run on an engine while installed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)
