"""When the phone fails: a text message to the contact, sent once (care insurance, REQUIREMENTS 3).

Settling an unreachable case notes `sms.due` on its last attempt's timeline; the dispatcher's
pass sends what is due. A message is claimed (due -> sending) before the provider is asked, so a
crash can lose a text but never send it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.consent.dnc import listed_entry
from ivr.db import rowcount
from ivr.models import Attempt, CallEvent
from ivr.privacy import mask_phone, redact_phones
from ivr.services import Services
from ivr.telephony.port import SmsRequest, TelephonyError

log = logging.getLogger(__name__)

DUE, SENDING, SENT, FAILED = "sms.due", "sms.sending", "sms.sent", "sms.failed"
WITHHELD = "sms.withheld"  # the number went on the do-not-call list before the text left
# Chinese text takes full-width punctuation.
TEXTS = {
    "zh-CN": "{organisation}：您好，我们近日多次致电您进行服务回访，均未能接通。"  # noqa: RUF001
    "如需帮助请回电；电话回访将暂停。",  # noqa: RUF001
    "en-US": "{organisation}: we called you several times for your service follow-up and could "
    "not reach you. Please call us back if you need anything; our follow-up calls are paused.",
}


@dataclass(frozen=True)
class _Due:
    event_id: int
    attempt_id: int
    to: str
    body: str


def note_sms_due(session: Session, attempt: Attempt, now: datetime) -> None:
    """Mark that this (last) attempt's contact should get the unreachable text."""
    session.add(CallEvent(attempt_id=attempt.id, at=now, kind=DUE, detail=None))


def send_due_sms(services: Services, *, limit: int = 50) -> int:
    """Send the texts that are due; returns how many the provider accepted."""
    if services.telephony is None:
        raise RuntimeError("send_due_sms needs services.telephony")
    sent = 0
    for due in _claim(services, limit):
        request = SmsRequest(to=due.to, from_=services.settings.twilio_from_number, body=due.body)
        try:
            message = services.telephony.send_sms(request)
        except TelephonyError as exc:
            _record(services, due, FAILED, redact_phones(str(exc))[:200])
            log.warning(
                "sms failed", extra={"action": FAILED, "to": mask_phone(due.to), "code": exc.code}
            )
            continue
        _record(services, due, SENT, message.message_sid)
        sent += 1
    return sent


def _claim(services: Services, limit: int) -> list[_Due]:
    claimed: list[_Due] = []
    with services.sessions.begin() as session:
        events = session.scalars(
            select(CallEvent).where(CallEvent.kind == DUE).order_by(CallEvent.id).limit(limit)
        ).all()
        for event in events:
            moved = session.execute(
                update(CallEvent)
                .where(CallEvent.id == event.id, CallEvent.kind == DUE)
                .values(kind=SENDING)
                .execution_options(synchronize_session=False)
            )
            if rowcount(moved) != 1:
                continue  # another dispatcher took it
            attempt = session.get_one(Attempt, event.attempt_id)
            case = attempt.case
            # Consent covers texts as well as calls, and is effective at once.
            if listed_entry(session, case.contact.phone, services.clock()) is not None:
                event.kind, event.detail = WITHHELD, "number on the do-not-call list"
                continue
            organisation = services.config(case.campaign).organisation
            text = TEXTS.get(attempt.language, TEXTS["zh-CN"])
            body = text.format(organisation=organisation)
            claimed.append(_Due(event.id, attempt.id, case.contact.phone, body))
    return claimed


def _record(services: Services, due: _Due, kind: str, detail: str) -> None:
    with services.sessions.begin() as session:
        session.execute(
            update(CallEvent).where(CallEvent.id == due.event_id).values(kind=kind, detail=detail)
        )
