"""Cases whose calls went unanswered, texted or not, for the fallback tests (fictional people)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.attempts import record_status
from ivr.campaigns.service import create_campaign
from ivr.models import (
    Attempt,
    AttemptStatus,
    CallEvent,
    Campaign,
    CaseStatus,
    Escalation,
    InboundMessage,
)
from ivr.services import Services
from ivr.telephony.port import CallRequest, PlacedCall, SentMessage, SmsRequest
from tests import factories
from tests.conftest import FakeClock

PHONE = factories.FICTIONAL_PHONES[0]
OTHER_PHONE = factories.FICTIONAL_PHONES[1]


@dataclass
class TextsOnly:
    """The telephony port, in memory: texts are accepted and kept; a dial is a test failure."""

    texts: list[SmsRequest] = field(default_factory=list)

    def send_sms(self, request: SmsRequest) -> SentMessage:
        self.texts.append(request)
        return SentMessage(f"SM{len(self.texts):032x}", "queued")

    def place_call(self, request: CallRequest) -> PlacedCall:
        raise AssertionError("a paused or closed case was dialled")


class NoWait:
    """A pacer that never waits."""

    def wait(self) -> None:
        pass


def unreachable_case(
    services: Services,
    clock: FakeClock,
    *,
    ref: str = "CARE-1",
    phone: str = PHONE,
    language: str = "zh-CN",
    email: str | None = None,
    campaign: str = "care",
    template: str = "care-insurance",
    **options: str,
) -> int:
    """A case whose third and last call just went unanswered (settled); returns its id.

    The campaign named `campaign` is made from `template` with `options` the first time.
    """
    with services.sessions.begin() as session:
        found = session.scalar(select(Campaign).where(Campaign.name == campaign))
        row = found or create_campaign(
            session, name=campaign, template_name=template, overrides=options, now=clock.now
        )
        case = factories.case(
            session,
            row,
            clock.now,
            ref=ref,
            phone=phone,
            language=language,
            anchor=date(2030, 1, 6),
        )
        case.contact.email = email
        case.details = {"frequency": "monthly", "service": "home nursing"}
        case.status, case.attempts_made = CaseStatus.IN_CALL, 3
        attempt = Attempt(
            case_id=case.id,
            number=3,
            status=AttemptStatus.RINGING,
            call_sid="CA" + hashlib.md5(f"{campaign}/{ref}".encode()).hexdigest(),
            language=language,
            created_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        record_status(
            session, services, attempt, AttemptStatus.NO_ANSWER, sequence=3, duration_s=0,
            now=clock.now,
        )  # fmt: skip
        return case.id


def kinds(sessions: sessionmaker[Session], prefix: str) -> list[tuple[str, str | None]]:
    """The fallback events (sms. or email.) on the timelines, in order."""
    with sessions() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.kind.like(f"{prefix}.%")).order_by(CallEvent.id)
        )
        return [(e.kind, e.detail) for e in rows]


def escalations(sessions: sessionmaker[Session], case_id: int) -> dict[str, tuple[str, int]]:
    """The case's escalations: reason -> (status, triggers)."""
    with sessions() as session:
        rows = session.scalars(select(Escalation).where(Escalation.case_id == case_id))
        return {e.reason: (e.status.value, e.triggers) for e in rows}


def inbound_count(sessions: sessionmaker[Session]) -> int:
    """How many incoming messages are stored."""
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0
