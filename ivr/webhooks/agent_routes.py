"""The provider's webhooks of an agent's callback (ivr.queue.callback), under /twilio/agent.

    answer     the agent picked up: the prompt, press 1 to call the customer
    connect    the key: 1 dials the customer in (recorded), anything else ends the call
    dialed     the <Dial>'s action: how the customer's leg ended
    status     the agent's leg's progress
    recording  the bridged call's recording: fetched like any other, linked as evidence

Like ivr.webhooks.routes: signed (checked before anything else), short, idempotent; a callback
only moves forward (repeated and late requests change nothing), and a signed request for an
unknown callback gets 200 so the provider stops retrying.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, request
from sqlalchemy.orm import Session

from ivr.app import current_services
from ivr.consent.dnc import listed_entry
from ivr.flows.twiml import hangup
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Case,
    Escalation,
    Recording,
)
from ivr.privacy import mask_phone
from ivr.queue.callback_state import BRIDGE_TIME_LIMIT_S, FINAL, move_forward
from ivr.queue.evidence import attach_recording
from ivr.queue.history import add_event
from ivr.services import Services
from ivr.telephony.port import FINAL_CALL_STATUSES
from ivr.webhooks.agent_twiml import AGENT_LANGUAGE, agent_prompt, bridge, not_called
from ivr.webhooks.form import optional_int, required, twiml
from ivr.webhooks.recording_note import note_recording
from ivr.webhooks.signature import require_provider_signature

log = logging.getLogger(__name__)

bp = Blueprint("twilio_agent", __name__, url_prefix="/twilio/agent")

S = AgentCallbackStatus
SYSTEM_ACTOR = "system:callback"
# DialCallStatus values meaning the customer picked up and was bridged to the agent.
ANSWERED = frozenset({"completed", "answered"})

# Every route here faces the provider: signed or refused, before anything else.
bp.before_request(require_provider_signature)


def _load(session: Session, call_sid: str) -> AgentCallback | None:
    """The callback named in the URL, bound to this call; None if unknown or another call's."""
    raw = request.args.get("callback", "")
    if not raw.isdigit():
        abort(400, description="query parameter callback must be a number")
    callback_id = int(raw)
    # Locked: the agent leg's status callbacks, the Dial's action and the recording callback
    # arrive concurrently; each decides from the row it read and must not write over a newer one.
    callback = session.get(AgentCallback, callback_id, with_for_update=True)
    if callback is None:
        log.info(
            "unknown callback", extra={"action": "webhook.unknown", "callback_id": callback_id}
        )
        return None
    if callback.call_sid is None:
        # The create's answer may have been lost or not stored yet: the first webhook binds it.
        callback.call_sid = call_sid
    elif callback.call_sid != call_sid:
        log.warning(
            "call id does not match callback",
            extra={"action": "webhook.mismatch", "callback_id": callback_id},
        )
        return None
    return callback


def _ended(session: Session, callback: AgentCallback, now: datetime, detail: str) -> None:
    """Note in the escalation's history how the callback ended (once: it is final now)."""
    add_event(
        session,
        callback.escalation_id,
        at=now,
        actor=SYSTEM_ACTOR,
        action="callback_ended",
        detail=f"callback {callback.id}: {detail}",
    )
    log.info(
        "callback ended: %s",
        callback.status.value,
        extra={
            "action": "callback.ended",
            "callback_id": callback.id,
            "escalation_id": callback.escalation_id,
            "status": callback.status.value,
        },
    )


@bp.post("/answer")
def answer() -> Response:
    """The agent picked up: say which escalation, and wait for 1 before ringing the customer."""
    svc = current_services()
    call_sid = required("CallSid")
    now = svc.clock()
    with svc.sessions.begin() as session:
        callback = _load(session, call_sid)
        if callback is None or callback.status in FINAL or callback.status == S.BRIDGING:
            return twiml(hangup())
        if move_forward(callback, S.AGENT_ANSWERED):
            callback.answered_at = now
        escalation = session.get(Escalation, callback.escalation_id)
        assert escalation is not None  # a foreign key
        connect = svc.url(f"/twilio/agent/connect?callback={callback.id}")
        body = agent_prompt(
            escalation.id, escalation.reason, language=AGENT_LANGUAGE, connect_url=connect
        )
    return twiml(body)


@bp.post("/connect")
def connect() -> Response:
    """The agent's key: 1 rings the customer into the call (recorded); anything else hangs up."""
    svc = current_services()
    call_sid = required("CallSid")
    digits = request.form.get("Digits", "")
    now = svc.clock()
    with svc.sessions.begin() as session:
        callback = _load(session, call_sid)
        if callback is None:
            return twiml(hangup())
        if callback.status == S.BRIDGING:  # a repeated request dials as the first one did
            return twiml(_bridge(svc, session, callback))
        if callback.status != S.AGENT_ANSWERED:
            return twiml(hangup())
        if digits != "1":
            move_forward(callback, S.AGENT_UNREACHED)
            _ended(session, callback, now, "the agent did not press 1")
            return twiml(hangup())
        customer = _case(session, callback).contact.phone
        if listed_entry(session, customer, now) is not None:
            # Listed in the seconds since the request: the customer is not rung after all.
            move_forward(callback, S.FAILED)
            callback.error_message = "the customer's number is on the do-not-call list"
            _ended(session, callback, now, "not called: on the do-not-call list")
            return twiml(not_called(AGENT_LANGUAGE))
        move_forward(callback, S.BRIDGING)
        log.info(
            "callback bridging",
            extra={
                "action": "callback.bridging",
                "callback_id": callback.id,
                "to": mask_phone(customer),
            },
        )
        body = _bridge(svc, session, callback)
    return twiml(body)


def _case(session: Session, callback: AgentCallback) -> Case:
    case = session.get(Case, callback.case_id)
    assert case is not None  # a foreign key
    return case


def _bridge(svc: Services, session: Session, callback: AgentCallback) -> str:
    case = _case(session, callback)
    query = f"?callback={callback.id}"
    return bridge(
        case.contact.phone,
        caller_id=svc.settings.twilio_from_number,
        ring_timeout_s=svc.config(case.campaign).ring_timeout_s,
        time_limit_s=BRIDGE_TIME_LIMIT_S,
        recording_url=svc.url(f"/twilio/agent/recording{query}"),
        action_url=svc.url(f"/twilio/agent/dialed{query}"),
    )


@bp.post("/dialed")
def dialed() -> Response:
    """The <Dial> ended: completed when the customer answered, else customer_unreached."""
    svc = current_services()
    call_sid = required("CallSid")
    dial_status = required("DialCallStatus")[:32]
    duration = optional_int("DialCallDuration")
    now = svc.clock()
    with svc.sessions.begin() as session:
        callback = _load(session, call_sid)
        # Only a callback still under way takes the outcome: a repeated action changes nothing.
        if callback is not None and callback.status not in FINAL:
            callback.dial_status = dial_status
            callback.dial_call_sid = request.form.get("DialCallSid") or None
            callback.dial_duration_s = duration
            if dial_status in ANSWERED:
                move_forward(callback, S.COMPLETED)
                # The action comes when the bridged call ends: it began `duration` seconds ago.
                callback.bridged_at = now - timedelta(seconds=duration or 0)
                detail = f"the customer answered ({duration or 0} s)"
            else:
                move_forward(callback, S.CUSTOMER_UNREACHED)
                detail = f"the customer's phone: {dial_status}"
            _ended(session, callback, now, detail)
    return twiml(hangup())


@bp.post("/status")
def status() -> tuple[str, int]:
    """The agent's leg moved on; over before the customer was dialled: agent_unreached."""
    svc = current_services()
    call_sid = required("CallSid")
    call_status = required("CallStatus")
    now = svc.clock()
    with svc.sessions.begin() as session:
        callback = _load(session, call_sid)
        if callback is None:
            return "", 204
        if call_status not in FINAL_CALL_STATUSES:
            # The create's answer may come after the first progress events.
            move_forward(callback, S.CALLING_AGENT)
            return "", 204
        if callback.ended_at is None:
            callback.ended_at = now
        # BRIDGING waits for the Dial's action, which says how the customer's leg went.
        if callback.status in (S.REQUESTED, S.CALLING_AGENT, S.AGENT_ANSWERED):
            answered = callback.status == S.AGENT_ANSWERED
            move_forward(callback, S.AGENT_UNREACHED)
            why = "hung up before pressing 1" if answered else f"the agent's phone: {call_status}"
            _ended(session, callback, now, why)
    return "", 204


@bp.post("/recording")
def recording() -> tuple[str, int]:
    """The bridged call's recording: noted for the fetch job, and linked to the escalation."""
    svc = current_services()
    # A <Dial>'s recording names the parent call: the agent's leg, which the callback holds.
    call_sid = required("CallSid")
    ok = request.form.get("RecordingStatus", "completed") == "completed"
    now = svc.clock()
    with svc.sessions.begin() as session:
        callback = _load(session, call_sid)
        # Kept even for an unknown callback: a recording is never dropped before it is stored.
        noted = note_recording(session, now, callback_id=None if callback is None else callback.id)
        row = session.get_one(Recording, noted)
        # A repeated callback finds its row again; the link is made once (see _link).
        if ok and callback is not None and row.callback_id == callback.id:
            _link(svc, session, callback, row)
    return "", 204


def _link(svc: Services, session: Session, callback: AgentCallback, row: Recording) -> None:
    escalation = session.get(Escalation, callback.escalation_id)
    assert escalation is not None  # a foreign key
    # attach_recording puts the recording on legal hold as it does any evidence, and writes the
    # history event and the audit entry; it links a recording once.
    evidence = attach_recording(
        session, svc, escalation, row, actor=SYSTEM_ACTOR, note=f"callback {callback.id}"
    )
    log.info(
        "callback recording linked",
        extra={
            "action": "callback.recording",
            "callback_id": callback.id,
            "escalation_id": escalation.id,
            "recording_id": row.id,
            "evidence_id": evidence.id,
        },
    )
