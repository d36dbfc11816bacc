"""When the phone fails: a text and/or an e-mail to the contact, each sent once (care insurance,
REQUIREMENTS 3), then the case closed or paused as the campaign says.

Settling an unreachable case notes `sms.due` and/or `email.due` on its last attempt's timeline;
the dispatcher's pass sends what is due. A message is claimed (due -> sending) before the
provider or the mail server is asked, so a crash can lose a message but never send it twice.

Each message ends in one of these timeline kinds (the `sms.` ones alike):

    email.sent      the mail server accepted it; detail: its Message-ID
    email.failed    the mail server refused it or could not be reached; not retried
    email.withheld  the number went on the do-not-call list before the message left
    email.skipped   nothing to send it with: the contact has no address, or no SMTP is
                    configured (IVR_SMTP_*). Final, not left due: a message mailed days later,
                    once someone configures SMTP, would say "we called you recently" of old calls.

With after_unreachable=pause the case becomes PAUSED instead of DONE: never claimed again (the
dispatcher claims only PENDING cases), no outcome yet. It closes as UNREACHABLE when a person
resolves its last open escalation (ivr.queue.actions.resolve), or as OPTED_OUT when the contact
replies with an opt-out word (ivr.queue.replies).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr.consent.dnc import listed_entry
from ivr.db import rowcount
from ivr.models import (
    Attempt,
    CallEvent,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    EscalationStatus,
)
from ivr.notify.mailer import MailError, mailer_for
from ivr.notify.messages import contact_message
from ivr.privacy import mask_phone, redact_phones
from ivr.services import Services
from ivr.telephony.port import SmsRequest, TelephonyError

log = logging.getLogger(__name__)

DUE, SENDING, SENT, FAILED = "sms.due", "sms.sending", "sms.sent", "sms.failed"
WITHHELD = "sms.withheld"  # the number went on the do-not-call list before the text left
EMAIL_DUE, EMAIL_SENDING, EMAIL_SENT = "email.due", "email.sending", "email.sent"
EMAIL_FAILED, EMAIL_WITHHELD, EMAIL_SKIPPED = "email.failed", "email.withheld", "email.skipped"
_LISTED = "number on the do-not-call list"

# Chinese text takes full-width punctuation. The reply words are those ivr.queue.replies knows.
TEXTS = {
    "zh-CN": "{organisation}：您好，我们近日多次致电您进行服务回访，均未能接通。"  # noqa: RUF001
    "回复1，我们将给您回电；回复TD退订。电话回访将暂停。",  # noqa: RUF001
    "en-US": "{organisation}: we called you several times for your service follow-up and could "
    "not reach you. Reply 1 and we will call you back, or STOP to opt out. Our follow-up calls "
    "are paused.",
}
# The e-mail says the same; replies to it reach nobody who acts on them, so it asks for a call.
EMAIL_SUBJECTS = {
    "zh-CN": "{organisation}：服务回访未能联系到您",  # noqa: RUF001
    "en-US": "{organisation}: we could not reach you for your follow-up",
}
EMAIL_TEXTS = {
    "zh-CN": "您好：\n\n我们近日多次致电您进行服务回访，均未能接通。"  # noqa: RUF001
    "如需帮助，请致电我们；电话回访将暂停。\n\n{organisation}\n",  # noqa: RUF001
    "en-US": "Hello,\n\nWe called you several times for your service follow-up and could not "
    "reach you. If you need anything, please call us back; our follow-up calls are paused.\n\n"
    "{organisation}\n",
}


@dataclass(frozen=True)
class _Due:
    event_id: int
    attempt_id: int
    to: str  # E.164 for a text, the address for an e-mail
    body: str
    subject: str = ""


# What a claimed event becomes: a message to send, or a final (kind, detail) written at once.
_Prepare = Callable[[Session, CallEvent, Attempt, Case], "_Due | tuple[str, str]"]


def note_sms_due(session: Session, attempt: Attempt, now: datetime) -> None:
    """Mark that this (last) attempt's contact should get the unreachable text."""
    session.add(CallEvent(attempt_id=attempt.id, at=now, kind=DUE, detail=None))


def note_email_due(session: Session, attempt: Attempt, now: datetime) -> None:
    """Mark that this (last) attempt's contact should get the unreachable e-mail."""
    session.add(CallEvent(attempt_id=attempt.id, at=now, kind=EMAIL_DUE, detail=None))


def send_due_sms(services: Services, *, limit: int = 50) -> int:
    """Send the texts that are due; returns how many the provider accepted."""
    telephony = services.telephony
    if telephony is None:
        raise RuntimeError("send_due_sms needs services.telephony")

    def prepare(
        session: Session, event: CallEvent, attempt: Attempt, case: Case
    ) -> _Due | tuple[str, str]:
        # Consent covers texts as well as calls, and is effective at once.
        if listed_entry(session, case.contact.phone, services.clock()) is not None:
            return WITHHELD, _LISTED
        organisation = services.config(case.campaign).organisation
        body = TEXTS.get(attempt.language, TEXTS["zh-CN"]).format(organisation=organisation)
        return _Due(event.id, attempt.id, case.contact.phone, body)

    sent = 0
    for due in _claim(services, DUE, SENDING, prepare, limit):
        request = SmsRequest(to=due.to, from_=services.settings.twilio_from_number, body=due.body)
        try:
            message = telephony.send_sms(request)
        except TelephonyError as exc:
            _record(services, due, FAILED, redact_phones(str(exc))[:200])
            log.warning(
                "sms failed", extra={"action": FAILED, "to": mask_phone(due.to), "code": exc.code}
            )
            continue
        _record(services, due, SENT, message.message_sid)
        sent += 1
    return sent


def send_due_emails(services: Services, *, limit: int = 50) -> int:
    """Send the unreachable e-mails that are due; returns how many the mail server accepted."""
    settings = services.settings
    mailer = mailer_for(settings)

    def prepare(
        session: Session, event: CallEvent, attempt: Attempt, case: Case
    ) -> _Due | tuple[str, str]:
        if listed_entry(session, case.contact.phone, services.clock()) is not None:
            return EMAIL_WITHHELD, _LISTED
        if not case.contact.email:
            return EMAIL_SKIPPED, "the contact has no e-mail address"
        if mailer is None:
            return EMAIL_SKIPPED, "no mail server configured (IVR_SMTP_HOST)"
        organisation = services.config(case.campaign).organisation
        language = attempt.language if attempt.language in EMAIL_TEXTS else "zh-CN"
        return _Due(
            event.id,
            attempt.id,
            case.contact.email,
            EMAIL_TEXTS[language].format(organisation=organisation),
            EMAIL_SUBJECTS[language].format(organisation=organisation),
        )

    sent = 0
    for due in _claim(services, EMAIL_DUE, EMAIL_SENDING, prepare, limit):
        assert mailer is not None  # prepare() skipped every message otherwise
        message = contact_message(
            due.subject, due.body, sender=settings.smtp_from, to=due.to, now=services.clock()
        )
        try:
            mailer.send(message)
        except MailError as exc:
            _record(services, due, EMAIL_FAILED, str(exc)[:200])
            log.warning(
                "e-mail failed",
                extra={"action": EMAIL_FAILED, "attempt_id": due.attempt_id, "code": exc.code},
            )
            continue
        _record(services, due, EMAIL_SENT, str(message["Message-ID"]))
        sent += 1
    return sent


def _claim(
    services: Services, due_kind: str, sending_kind: str, prepare: _Prepare, limit: int
) -> list[_Due]:
    claimed: list[_Due] = []
    with services.sessions.begin() as session:
        events = session.scalars(
            select(CallEvent).where(CallEvent.kind == due_kind).order_by(CallEvent.id).limit(limit)
        ).all()
        for event in events:
            moved = session.execute(
                update(CallEvent)
                .where(CallEvent.id == event.id, CallEvent.kind == due_kind)
                .values(kind=sending_kind)
                .execution_options(synchronize_session=False)
            )
            if rowcount(moved) != 1:
                continue  # another dispatcher took it
            attempt = session.get_one(Attempt, event.attempt_id)
            prepared = prepare(session, event, attempt, attempt.case)
            if isinstance(prepared, _Due):
                claimed.append(prepared)
            else:
                event.kind, event.detail = prepared
                event.at = services.clock()
    return claimed


def _record(services: Services, due: _Due, kind: str, detail: str) -> None:
    # The event's time becomes the sending time: replies are matched to texts sent recently.
    with services.sessions.begin() as session:
        session.execute(
            update(CallEvent)
            .where(CallEvent.id == due.event_id)
            .values(kind=kind, detail=detail, at=services.clock())
        )


def pause_case(case: Case) -> None:
    """Stop calling a case whose calls are used up, without closing it (after_unreachable=pause)."""
    case.status = CaseStatus.PAUSED
    case.next_call_at = None


def close_paused(case: Case, outcome: CaseOutcome, now: datetime) -> bool:
    """Close a paused case with this outcome (as ivr.attempts.close_case); False if not paused."""
    if case.status is not CaseStatus.PAUSED:
        return False
    case.status = CaseStatus.DONE
    case.outcome = outcome
    case.next_call_at = None
    case.done_at = now
    log.info(
        "paused case closed",
        extra={"action": "case.unpaused", "case_id": case.id, "outcome": outcome.value},
    )
    return True


def close_paused_if_settled(session: Session, case: Case, now: datetime) -> bool:
    """Close a paused case as unreachable once none of its escalations is left open."""
    if case.status is not CaseStatus.PAUSED:
        return False
    session.flush()  # the escalation just resolved counts as resolved below
    still_open = session.scalar(
        select(func.count())
        .select_from(Escalation)
        .where(Escalation.case_id == case.id, Escalation.status != EscalationStatus.RESOLVED)
    )
    return not still_open and close_paused(case, CaseOutcome.UNREACHABLE, now)
