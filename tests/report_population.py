"""A known population for the report tests: every figure of it is counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    EscalationStatus,
)
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 2, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
JAN = date(2030, 1, 10)  # inside the January period the tests report on


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A January 2030 moment in Shanghai, as UTC."""
    return datetime(2030, 1, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def add_case(
    session: Session,
    campaign: Campaign,
    ref: str,
    *,
    anchor: date = JAN,
    details: dict[str, Any] | None = None,
    status: CaseStatus = CaseStatus.PENDING,
    outcome: CaseOutcome | None = None,
    calls: tuple[tuple[datetime, bool], ...] = (),
    done_at: datetime | None = None,
    deadline_at: datetime | None = None,
) -> Case:
    """A case with its attempts: each call is (placed at, a person answered)."""
    case = factories.case(
        session,
        campaign,
        NOW,
        ref=ref,
        phone=factories.FICTIONAL_PHONES[len(ref) + int(ref[-2:])],
        anchor=anchor,
        details=details,
        status=status,
    )
    case.outcome, case.done_at, case.attempts_made = outcome, done_at, len(calls)
    case.deadline_at = deadline_at
    # What settling the attempts would have kept on the case (ivr.attempts.settle_attempt).
    reaching = [number for number, (_at, reached) in enumerate(calls, start=1) if reached]
    case.reached_on_attempt = reaching[0] if reaching else None
    for number, (placed_at, reached) in enumerate(calls, start=1):
        session.add(
            Attempt(
                case=case,
                number=number,
                status=AttemptStatus.COMPLETED if reached else AttemptStatus.NO_ANSWER,
                language="zh-CN",
                reached=reached,
                created_at=placed_at,
                placed_at=placed_at,
            )
        )
    session.flush()
    return case


def answer(session: Session, case: Case, question: str, value: str) -> None:
    session.add(
        Answer(
            attempt_id=case.attempts[-1].id,
            case_id=case.id,
            question=question,
            value=value,
            created_at=NOW,
        )
    )


def escalation(
    session: Session,
    case: Case,
    reason: str,
    *,
    due_at: datetime,
    resolved_at: datetime | None = None,
) -> None:
    session.add(
        Escalation(
            case_id=case.id,
            reason=reason,
            status=EscalationStatus.OPEN if resolved_at is None else EscalationStatus.RESOLVED,
            due_at=due_at,
            resolved_at=resolved_at,
            created_at=local(20, 9),
            updated_at=local(20, 9),
        )
    )


def build_ward(sessions: sessionmaker[Session], name: str = "ward-7") -> int:
    """Five January discharges of ward 7 (and one in December, outside the period)."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, NOW, name=name)
        add_case(
            session,
            campaign,
            "P-01",
            details={"doctor": "Dr A"},
            status=CaseStatus.EXCLUDED,
        ).excluded_reason = "ward ICU is excluded"
        reached_second = add_case(
            session,
            campaign,
            "P-02",
            details={"doctor": "Dr A"},
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(17, 9, 10), False), (local(17, 14, 20), True)),
            done_at=local(17, 14, 30),
        )
        reached_first = add_case(
            session,
            campaign,
            "P-03",
            details={"doctor": "Dr B"},
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(17, 9, 30), True),),
            done_at=local(17, 9, 40),
        )
        add_case(
            session,
            campaign,
            "P-04",
            details={"doctor": "Dr B"},
            status=CaseStatus.DONE,
            outcome=CaseOutcome.UNREACHABLE,
            calls=((local(17, 9, 5), False), (local(17, 10, 5), False), (local(18, 15), False)),
        )
        add_case(session, campaign, "P-05")  # not called yet, no doctor on the list
        add_case(
            session,
            campaign,
            "P-06",
            anchor=date(2029, 12, 20),
            status=CaseStatus.DONE,
            outcome=CaseOutcome.COMPLETED,
            calls=((local(2, 9), True),),
        )
        answer(session, reached_second, "satisfaction", "5")
        answer(session, reached_first, "satisfaction", "2")
        answer(session, reached_first, "medication", "yes")  # not a 1-5 rating
        escalation(
            session, reached_second, "complaint", due_at=local(23, 0), resolved_at=local(21, 9)
        )
        escalation(session, reached_first, "low_satisfaction", due_at=local(22, 0))
        return campaign.id
