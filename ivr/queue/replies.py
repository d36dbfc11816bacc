"""Replies to the unreachable text: "1" asks for a call back, an opt-out word unsubscribes, any
other text goes to a person. The webhook (ivr.webhooks.sms_routes) is the thin shell around
``handle_reply``, which runs in the caller's transaction.

A reply is matched to the case it answers by the sender's number: the most recent case of that
number whose attempts carry an unreachable text that was sent (``sms.sent``) within REPLY_WINDOW.
Each message is stored once (``inbound_message.message_sid`` is unique): a redelivery finds the
stored row, changes nothing, and gets the same kind of answer.

Neither the body nor the full number is ever logged.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.consent.dnc import add_number, normalise_phone
from ivr.models import Attempt, CallEvent, Case, CaseOutcome, Contact, DncSource, InboundMessage
from ivr.privacy import mask_phone
from ivr.queue.fallback import SENT, close_paused
from ivr.queue.service import raise_escalation
from ivr.services import Services

__all__ = [
    "OPT_OUT_WORDS",
    "REPLY_WINDOW",
    "Inbound",
    "ReplyAction",
    "ReplyOutcome",
    "classify",
    "handle_reply",
    "normalise_body",
]

log = logging.getLogger(__name__)

# A reply weeks after the text is still an answer to it (people read texts late, or after a
# trip), but a month on the number may have changed hands and the case has moved on: past this,
# the sender is treated as one we never texted.
REPLY_WINDOW = timedelta(days=30)

CALLBACK_WORDS = frozenset({"1"})
# Twilio's default opt-out keywords (it also blocks further texts to the sender itself), and
# the Chinese ones carriers and users expect: TD (退订), 退订, 取消.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "td"}
    | {"退订", "取消"}
)
# Trailing punctuation a phone adds or a person types ("1。", "TD!") is not part of the word.
_TRIM = " \t\r\n.,!?;:。，！？；：、"  # noqa: RUF001
_MAX_DETAIL = 500  # of a reply quoted in its escalation; the whole text is in inbound_message

_SEPARATOR = {"zh-CN": "：", "en-US": ": "}  # noqa: RUF001
# Chinese text takes full-width punctuation.
CALLBACK_CONFIRMATIONS = {
    "zh-CN": "已收到，我们会尽快给您回电。",  # noqa: RUF001
    "en-US": "Thank you, we will call you back soon.",
}
OPT_OUT_CONFIRMATIONS = {
    "zh-CN": "已为您退订，我们将不再致电或发送短信。",  # noqa: RUF001
    "en-US": "You are unsubscribed: we will not call or text you again.",
}


class ReplyAction(StrEnum):
    """What a reply did; stored in inbound_message.action."""

    CALLBACK_REQUESTED = "callback_requested"  #: "1": a callback_requested escalation
    OPTED_OUT = "opted_out"  #: an opt-out word: the number is on the do-not-call list
    SMS_REPLY = "sms_reply"  #: any other text from a texted contact: an sms_reply escalation
    UNMATCHED = "unmatched"  #: a sender we did not text (recently): kept, nothing else


@dataclass(frozen=True)
class Inbound:
    """One incoming message, as the provider's webhook gives it."""

    message_sid: str
    from_: str  # as the provider wrote it; E.164 for a phone
    body: str


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply came to, and what to answer the sender (None: nothing)."""

    action: ReplyAction
    case_id: int | None
    answer: str | None
    duplicate: bool = False


def normalise_body(body: str) -> str:
    """The reply as a keyword: NFKC (full-width digits and letters to ASCII), trimmed, folded."""
    return unicodedata.normalize("NFKC", body).strip(_TRIM).casefold()


def classify(body: str) -> ReplyAction:
    """What a matched reply asks for, from its text alone."""
    word = normalise_body(body)
    if word in CALLBACK_WORDS:
        return ReplyAction.CALLBACK_REQUESTED
    if word in OPT_OUT_WORDS:
        return ReplyAction.OPTED_OUT
    return ReplyAction.SMS_REPLY


@dataclass(frozen=True)
class _Match:
    case: Case
    attempt: Attempt  # the attempt whose timeline holds the sent text


def handle_reply(
    session: Session, services: Services, inbound: Inbound, now: datetime
) -> ReplyOutcome:
    """Store the reply once and act on it; a redelivered MessageSid changes nothing."""
    phone = _e164(inbound.from_)
    match = None if phone is None else _match(session, phone, now)
    action = classify(inbound.body)
    # An opt-out needs only a number to list; everything else needs the case it answers.
    if phone is None or (match is None and action is not ReplyAction.OPTED_OUT):
        action = ReplyAction.UNMATCHED
    row = InboundMessage(
        message_sid=inbound.message_sid,
        from_phone=phone or inbound.from_[:20],
        body=inbound.body,
        case_id=None if match is None else match.case.id,
        action=action.value,
        received_at=now,
    )
    try:
        # The unique MessageSid, not a look-up first, settles a redelivery racing the first copy.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _replayed(session, services, inbound.message_sid)
    _act(session, action, match, phone, inbound, now)
    log.info(
        "text reply received",
        extra={
            "action": f"sms.reply.{action.value}",
            "case_id": row.case_id,
            "from": mask_phone(phone or ""),
            "inbound_id": row.id,
        },
    )
    return ReplyOutcome(action, row.case_id, _answer(services, action, match, phone))


def _act(
    session: Session,
    action: ReplyAction,
    match: _Match | None,
    phone: str | None,
    inbound: Inbound,
    now: datetime,
) -> None:
    if action is ReplyAction.OPTED_OUT:
        assert phone is not None  # handle_reply made a reply from no phone UNMATCHED
        # Honoured from any sender, texted or not: the number asked, and consent is per number.
        add_number(
            session,
            phone,
            now=now,
            source=DncSource.SMS,
            reason="replied with an opt-out word to the unreachable text",
        )
        if match is not None:
            close_paused(match.case, CaseOutcome.OPTED_OUT, now)
        return
    if match is None:
        return
    if action is ReplyAction.CALLBACK_REQUESTED:
        detail = "the contact replied 1 to the unreachable text: call them back"
    else:
        text = " ".join(inbound.body.split())
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 1] + "…"
        detail = f"the contact replied to the unreachable text: {text}"
    raise_escalation(
        session,
        case_id=match.case.id,
        attempt_id=match.attempt.id,
        reason=action.value,
        now=now,
        detail=detail,
    )


def _answer(
    services: Services, action: ReplyAction, match: _Match | None, phone: str | None
) -> str | None:
    """The confirmation for a call-back or an opt-out, in the language the text was in."""
    texts = {
        ReplyAction.CALLBACK_REQUESTED: CALLBACK_CONFIRMATIONS,
        ReplyAction.OPTED_OUT: OPT_OUT_CONFIRMATIONS,
    }.get(action)
    if texts is None:
        return None
    if match is None:
        # Nobody we texted: no organisation to sign with, the language from the number.
        language = "zh-CN" if phone and phone.startswith("+86") else "en-US"
        return texts[language]
    language = match.attempt.language if match.attempt.language in texts else "zh-CN"
    organisation = services.config(match.case.campaign).organisation
    return f"{organisation}{_SEPARATOR[language]}{texts[language]}"


def _replayed(session: Session, services: Services, message_sid: str) -> ReplyOutcome:
    stored = session.scalars(
        select(InboundMessage).where(InboundMessage.message_sid == message_sid)
    ).one()
    action = ReplyAction(stored.action)
    match = None
    if stored.case_id is not None:
        case = session.get_one(Case, stored.case_id)
        attempt = _texted_attempt(session, case.id)
        match = None if attempt is None else _Match(case, attempt)
    log.info(
        "text reply redelivered",
        extra={"action": "sms.reply.duplicate", "inbound_id": stored.id},
    )
    return ReplyOutcome(
        action,
        stored.case_id,
        _answer(services, action, match, _e164(stored.from_phone)),
        duplicate=True,
    )


def _e164(raw: str) -> str | None:
    """The sender as E.164, or None for what is not a phone number (a short code, a name)."""
    if not raw.startswith("+"):
        return None
    try:
        return normalise_phone(raw)
    except ValueError:
        return None


def _match(session: Session, phone: str, now: datetime) -> _Match | None:
    found = session.execute(
        select(Case, Attempt)
        .join(Contact, Case.contact_id == Contact.id)
        .join(Attempt, Attempt.case_id == Case.id)
        .join(CallEvent, CallEvent.attempt_id == Attempt.id)
        .where(Contact.phone == phone, CallEvent.kind == SENT, CallEvent.at >= now - REPLY_WINDOW)
        .order_by(CallEvent.at.desc(), CallEvent.id.desc())
        .limit(1)
    ).first()
    return None if found is None else _Match(found[0], found[1])


def _texted_attempt(session: Session, case_id: int) -> Attempt | None:
    return session.scalars(
        select(Attempt)
        .join(CallEvent, CallEvent.attempt_id == Attempt.id)
        .where(Attempt.case_id == case_id, CallEvent.kind == SENT)
        .order_by(CallEvent.id.desc())
        .limit(1)
    ).first()
