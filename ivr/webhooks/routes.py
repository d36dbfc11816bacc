"""The provider-facing blueprint: voice, gather, status, recording and AMD callbacks.

Every request is signed (checked before anything else), short, and idempotent: the provider may
send it twice, late, or out of order. A signed request for an unknown or finished call gets 200
so the provider stops retrying.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

from flask import Blueprint, Response, abort, request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from ivr.app import current_services
from ivr.attempts import (
    MOVE_STEP,
    FlowReply,
    apply_flow_event,
    change_recording,
    record_status,
)
from ivr.flows.model import Input, Start
from ivr.flows.twiml import hangup, machine_message, opening, render
from ivr.models import Attempt, AttemptStatus, CallEvent, Campaign, CampaignStatus, Case
from ivr.services import Services
from ivr.telephony.port import is_machine
from ivr.webhooks.context import prompt_context
from ivr.webhooks.form import optional_int, query_int, required, twiml
from ivr.webhooks.recording_note import note_recording
from ivr.webhooks.signature import require_provider_signature

log = logging.getLogger(__name__)

bp = Blueprint("twilio", __name__, url_prefix="/twilio")


# Every route here faces the provider: signed or refused, before anything else.
bp.before_request(require_provider_signature)


# Callbacks for one call arrive concurrently and out of order. Each reads the attempt, decides
# and writes back; without the row lock a slower request would write back what it decided from a
# stale read (ringing over completed). SQLite needs none: BEGIN IMMEDIATE serialises writers.
# OF attempt: rows joined in are read, not locked, as when they were loaded lazily; locking the
# campaign's row would queue every call of the campaign behind one another.
_ATTEMPT = select(Attempt).where(Attempt.id == bindparam("attempt_id")).with_for_update(of=Attempt)
# What the flow, the prompts and settling read: the case, its campaign (flow, options) and its
# contact (name, time zone), loaded with the attempt in one statement so that no lazy load (and
# the autoflush before it) runs in the middle of the write. Inner joins: every attempt has them.
# Both statements are built once: their SQL and cache key are the same for every request.
_ATTEMPT_WITH_CASE = _ATTEMPT.options(
    joinedload(Attempt.case, innerjoin=True).joinedload(Case.campaign, innerjoin=True),
    joinedload(Attempt.case, innerjoin=True).joinedload(Case.contact, innerjoin=True),
)


def warm_up(svc: Services) -> None:
    """Ready a web worker for its first call: the active campaigns' flows parsed, the statements
    of every call compiled.

    A worker does both on its first request otherwise: 25-60 ms, most of it parsing the flow, which
    with gunicorn's five workers was the benchmark's whole latency tail (p99 48 ms over the first
    thousand requests, 7 ms without the first hundred). Run once when the WSGI module loads; a
    database that cannot be reached leaves the work to the first request, as before.
    """
    try:
        with svc.sessions() as session:  # only reads; closed without a commit
            session.scalars(_ATTEMPT_WITH_CASE, {"attempt_id": 0}).one_or_none()
            nothing = {"attempt_id": 0, "expected_step": 0, "flow_step": 0, "reached": False}
            session.execute(MOVE_STEP, nothing | {"flow_state": None})
            active = select(Campaign).where(Campaign.status == CampaignStatus.ACTIVE)
            for campaign in session.scalars(active):
                svc.flow(campaign)
                svc.config(campaign)
    except SQLAlchemyError as exc:
        log.warning(
            "warm-up skipped: %s", type(exc).__name__, extra={"action": "webhook.warm_up_skipped"}
        )


def _load_attempt(session: Session, call_sid: str, *, with_case: bool = True) -> Attempt | None:
    """The attempt named in the URL, bound to this call; None if unknown or another call's."""
    attempt_id = query_int("attempt")
    query = _ATTEMPT_WITH_CASE if with_case else _ATTEMPT
    attempt = session.scalars(query, {"attempt_id": attempt_id}).one_or_none()
    if attempt is None:
        log.info("unknown attempt", extra={"action": "webhook.unknown", "attempt_id": attempt_id})
        return None
    if attempt.call_sid is None:
        # The create response may have been lost; the first webhook binds the call to the row.
        attempt.call_sid = call_sid
    elif attempt.call_sid != call_sid:
        log.warning(
            "call id does not match attempt",
            extra={"action": "webhook.mismatch", "attempt_id": attempt_id},
        )
        return None
    return attempt


def _render(svc: Services, attempt: Attempt, reply: FlowReply) -> str:
    context = prompt_context(svc, attempt)
    flow_id = attempt.case.campaign.flow
    action = svc.url(f"/twilio/gather?attempt={attempt.id}&step={reply.step_no}")
    return render(
        reply.step,
        language=attempt.language,
        context=context,
        action_url=action,
        audio_url=lambda name: svc.url(f"/prompts/{flow_id}/{name}"),
    )


def _answer(
    svc: Services, attempt_id: int, call_sid: str, body: str, change: str | None
) -> Response:
    """Pause or resume the recording (outside the transaction), then return the TwiML."""
    if change is not None:
        change_recording(svc, attempt_id, call_sid, change)
    return twiml(body)


def _now(svc: Services) -> datetime:
    return svc.clock()


MACHINE_EVENTS = ("amd.hung_up", "amd.message_left")


def _machine_reply(svc: Services, session: Session, attempt: Attempt, now: datetime) -> str:
    """End a call an answering machine took: hang up, or leave the campaign's short message.

    With async AMD the flow starts before the machine is told apart, and the AMD callback's answer
    is not TwiML, so the call is ended by the answer to its next TwiML request (the first
    Gather's action, which a machine reaches by timing out). The other way, a REST update of the
    live call, would be a provider request from inside a webhook or a job polling for machines.
    The neutral opening (see `choose_opening`) holds the flow until AMD has usually answered, so
    that a machine is mostly ended before it hears the first prompt, which may name the contact.
    """
    config = svc.config(attempt.case.campaign)
    leave = config.machine == "message"
    seen = session.scalar(
        select(CallEvent.id)
        .where(CallEvent.attempt_id == attempt.id, CallEvent.kind.in_(MACHINE_EVENTS))
        .limit(1)
    )
    if seen is None:  # a repeated request ends the call again but notes it once
        kind = MACHINE_EVENTS[1] if leave else MACHINE_EVENTS[0]
        session.add(CallEvent(attempt_id=attempt.id, at=now, kind=kind, detail=attempt.answered_by))
        log.info("answering machine", extra={"action": kind, "attempt_id": attempt.id})
    if leave:
        return machine_message(config.organisation, attempt.language)
    return hangup()


class Opening(StrEnum):
    """What a voice request is answered with."""

    HOLD = "hold"  #: the neutral greeting, then the same URL again with held=1
    MACHINE = "machine"  #: end the call as one a machine took (hang up, or the short message)
    FLOW = "flow"  #: start the flow (a replay gets the step the flow is at)


def choose_opening(answered_by: str | None, *, held: bool, started: bool) -> Opening:
    """Decide what an answered call hears first, from what AMD has said so far."""
    if is_machine(answered_by):
        return Opening.MACHINE
    if answered_by is None and not held and not started:
        return Opening.HOLD
    # A person, "unknown", or still no answer after the one hold: a person must not be kept
    # waiting on a silent line, so the flow starts.
    return Opening.FLOW


def _hold(svc: Services, attempt: Attempt) -> str:
    """The neutral greeting, then a redirect back to /voice marked held=1.

    Async AMD runs from the answer while the voice URL is served; Twilio's defaults tell a person
    after ~1.2 s of silence following their "hello?" and a machine after ~2.4 s of unbroken
    speech, so usually within 3-4 s of the answer. One hold of the greeting and a 1 s pause
    covers that without keeping a person waiting long, and it is bounded: the held request starts
    the flow whatever AMD has (not) said. DetectMessageEnd reports a machine only at the beep, so
    there the hold rarely catches one. Twilio signs the redirect with its query string, so the
    URL is the absolute public one, built as every other callback URL is.
    """
    organisation = svc.config(attempt.case.campaign).organisation
    redirect = svc.url(f"/twilio/voice?attempt={attempt.id}&held=1")
    return opening(organisation, attempt.language, redirect)


@bp.post("/voice")
def voice() -> Response:
    """The call was answered: a neutral greeting until AMD has answered, then the flow."""
    svc = current_services()
    call_sid = required("CallSid")
    held = request.args.get("held") == "1"
    now = _now(svc)
    with svc.sessions.begin() as session:
        attempt = _load_attempt(session, call_sid)
        if attempt is None:
            return twiml(hangup())
        if attempt.status.rank < AttemptStatus.IN_PROGRESS.rank:
            attempt.status = AttemptStatus.IN_PROGRESS
            session.add(
                CallEvent(attempt_id=attempt.id, at=now, kind="status", detail="in-progress")
            )
        started = attempt.flow_state is not None
        chosen = choose_opening(attempt.answered_by, held=held, started=started)
        if chosen is Opening.MACHINE:
            return twiml(_machine_reply(svc, session, attempt, now))
        if chosen is Opening.HOLD:  # writes nothing more: a repeated request holds again
            return twiml(_hold(svc, attempt))
        reply = apply_flow_event(session, svc, attempt, Start(), 0, now)
    # Rendered after the commit (the rows it reads were loaded with the attempt), so that the
    # SQLite write lock is not held while the TwiML is built.
    return _answer(svc, attempt.id, call_sid, _render(svc, attempt, reply), reply.recording)


@bp.post("/gather")
def gather() -> Response:
    """Keys pressed (or silence): apply them once, say what comes next."""
    svc = current_services()
    call_sid = required("CallSid")
    step = query_int("step")
    digits = request.form.get("Digits", "")
    now = _now(svc)
    with svc.sessions.begin() as session:
        attempt = _load_attempt(session, call_sid)
        if attempt is None:
            return twiml(hangup())
        if not digits and is_machine(attempt.answered_by):
            # Keys pressed mean a person, whatever AMD guessed: only silence ends the call. The
            # flow takes no event, so settling counts the attempt as not reached.
            return twiml(_machine_reply(svc, session, attempt, now))
        reply = apply_flow_event(session, svc, attempt, Input(digits), step, now)
        if not reply.applied:
            log.info("replayed gather", extra={"action": "gather.replay", "attempt_id": attempt.id})
    return _answer(svc, attempt.id, call_sid, _render(svc, attempt, reply), reply.recording)


@bp.post("/status")
def status() -> tuple[str, int]:
    """A call progress event: move the attempt on; settle it when the call is over."""
    svc = current_services()
    call_sid = required("CallSid")
    try:
        new_status = AttemptStatus(required("CallStatus"))
    except ValueError:
        abort(400, description="unknown CallStatus")
    sequence = optional_int("SequenceNumber")
    duration = optional_int("CallDuration")
    now = _now(svc)
    with svc.sessions.begin() as session:
        # Only a call's end settles its case, which reads the case, campaign and contact; the
        # progress events before it need the attempt alone (a rare settle of an attempt ended
        # some other way loads them when it reads them).
        attempt = _load_attempt(session, call_sid, with_case=new_status.terminal)
        if attempt is not None:
            record_status(
                session, svc, attempt, new_status, sequence=sequence, duration_s=duration, now=now
            )
    return "", 204


@bp.post("/recording")
def recording() -> tuple[str, int]:
    """A recording is ready (or absent): note it; the fetch job downloads it, never this request."""
    svc = current_services()
    call_sid = required("CallSid")
    now = _now(svc)
    with svc.sessions.begin() as session:
        attempt = _load_attempt(session, call_sid, with_case=False)
        # A repeated callback finds the row it added before and changes nothing.
        note_recording(session, now, attempt_id=None if attempt is None else attempt.id)
    return "", 204


@bp.post("/amd")
def amd() -> tuple[str, int]:
    """Answering-machine detection result: kept on the attempt for the reports and the queue."""
    svc = current_services()
    call_sid = required("CallSid")
    answered_by = request.form.get("AnsweredBy", "unknown")[:32]
    with svc.sessions.begin() as session:
        attempt = _load_attempt(session, call_sid, with_case=False)
        if attempt is not None:
            attempt.answered_by = answered_by
    return "", 204
