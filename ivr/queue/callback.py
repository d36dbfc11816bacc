"""An agent's callback from an escalation: ring the agent's phone first, then bridge the customer.

request_callback checks who may call, the agent's phone, the do-not-call list and the campaign's
calling windows in the customer's time zone; writes the AgentCallback row, its history event and
any override's audit entry and commits them; and only then asks the provider to ring the agent, so
no transaction is held across the HTTP request and a crash in between leaves a row, never a call
we do not know about. The provider's webhooks (ivr.webhooks.agent_routes) take it from there: the
agent presses 1, a <Dial> rings the customer, recorded from the answer in two channels, and the
recording goes through the same fetch pipeline as automated calls, linked as evidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case as sql_case
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ivr.audit.log import ensure_key, record
from ivr.consent.dnc import listed_entry
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    CaseStatus,
    Escalation,
    EscalationStatus,
    StaffUser,
)
from ivr.privacy import mask_phone, redact_phones
from ivr.queue.access import MANAGERS, load_escalation, refuse_seller, require_scope
from ivr.queue.actions import touch
from ivr.queue.callback_state import (
    ACTIVE,
    AGENT_RING_TIMEOUT_S,
    AGENT_TIME_LIMIT_S,
    CallbackResult,
)
from ivr.queue.errors import (
    CallbackError,
    DoNotCallError,
    EscalationStateError,
    NoPhoneError,
    NotAllowedError,
    OutsideWindowError,
    StaffUserError,
)
from ivr.queue.history import add_event, masked
from ivr.services import Services
from ivr.telephony.port import CallRequest, TelephonyError
from scheduler.planner import format_windows, next_call_at

__all__ = ["CallbackResult", "request_callback"]

log = logging.getLogger(__name__)

S = AgentCallbackStatus
# An active callback blocks a second one for the escalation; one whose webhooks never came (the
# provider's answer lost, the process killed) stops blocking after this long.
STALE_AFTER = timedelta(seconds=AGENT_TIME_LIMIT_S + 600)


@dataclass(frozen=True)
class _Prepared:
    callback_id: int
    escalation_id: int
    window_override: bool
    request: CallRequest


def request_callback(
    services: Services,
    escalation_id: int,
    agent: StaffUser,
    *,
    override_window: bool = False,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> CallbackResult:
    """Ring the agent's phone for an escalation's callback; the row is committed before the call.

    Raises a QueueError subclass when the callback may not be placed (nothing is written then);
    a provider refusal is not raised but stored on the row (FAILED) and returned.
    """
    if services.telephony is None:
        raise RuntimeError("request_callback needs services.telephony")
    reason = (override_reason or "").strip()
    if override_window and not reason:
        raise CallbackError("an override of the calling windows needs a reason, kept in the log")
    if override_window:
        ensure_key(services)  # an override must be audited: refuse before anything is written
    now = now or services.clock()
    with services.sessions.begin() as session:
        prepared = _prepare(
            session,
            services,
            escalation_id,
            agent,
            override=override_window,
            reason=reason,
            now=now,
        )
    return _place(services, prepared)


def _prepare(
    session: Session,
    services: Services,
    escalation_id: int,
    agent: StaffUser,
    *,
    override: bool,
    reason: str,
    now: datetime,
) -> _Prepared:
    # Locked: two presses of "call back" at once must not ring the agent (and the customer) twice.
    escalation = load_escalation(session, escalation_id, lock=True)
    user = session.get(StaffUser, agent.id, populate_existing=True)
    if user is None or not user.active:
        raise StaffUserError(f"user {agent.username} is unknown or disabled")
    holds = escalation.status == EscalationStatus.CLAIMED and escalation.claimed_by_id == user.id
    _check_access(session, escalation, user, holds=holds)
    if not user.phone:
        raise NoPhoneError(
            f"{user.username} has no phone to ring first: set it with "
            f"`ivr users phone {user.username} +E164`"
        )
    case = escalation.case
    if case.status == CaseStatus.IN_CALL:
        raise CallbackError(
            f"an automated call of escalation {escalation_id}'s case is in progress; "
            "call back when it has ended"
        )
    if listed_entry(session, case.contact.phone, now) is not None:
        raise DoNotCallError(
            f"the customer of escalation {escalation_id} is on the do-not-call list: "
            "no callback is placed"
        )
    busy = _active_callback(session, escalation_id, now)
    if busy is not None:
        raise CallbackError(f"callback {busy} of escalation {escalation_id} is still under way")
    config = services.config(case.campaign)
    zone = case.contact.timezone
    opens = next_call_at(now, config.policy.schedule, ZoneInfo(zone))
    outside = opens != now
    if outside and not override:
        where = f"{case.campaign.name} ({format_windows(config.policy.windows)}, {zone})"
        raise OutsideWindowError(
            f"escalation {escalation_id} is outside the calling windows of campaign {where}: "
            f"{_next_window(opens, zone)}. To call now, confirm an override with a reason "
            "(--override-window --reason TEXT)",
            opens_at=opens,
        )
    callback = AgentCallback(
        escalation_id=escalation_id,
        case_id=case.id,
        agent_id=user.id,
        status=S.REQUESTED,
        window_override=outside,
        override_reason=masked(reason) if outside else None,
        requested_at=now,
    )
    session.add(callback)
    session.flush()
    callback_id, username, phone = callback.id, user.username, user.phone
    add_event(
        session,
        escalation_id,
        at=now,
        actor=username,
        action="callback_requested",
        detail=f"callback {callback_id}",
    )
    if outside:
        _log_override(
            session, services, escalation_id, callback_id, username, reason, opens, zone, now
        )
    if holds:
        touch(session, services, escalation_id, user)
    query = f"?callback={callback_id}"
    request = CallRequest(
        attempt_id=None,
        callback_id=callback_id,
        to=phone,
        from_=services.settings.twilio_from_number,
        voice_url=services.url(f"/twilio/agent/answer{query}"),
        status_callback_url=services.url(f"/twilio/agent/status{query}"),
        recording_callback_url=None,
        amd_callback_url=None,
        record=False,
        ring_timeout_s=AGENT_RING_TIMEOUT_S,
        time_limit_s=AGENT_TIME_LIMIT_S,
    )
    return _Prepared(callback_id, escalation_id, outside, request)


def _check_access(
    session: Session, escalation: Escalation, user: StaffUser, *, holds: bool
) -> None:
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationStateError(
            f"escalation {escalation.id} is resolved; reopen it before calling back"
        )
    if not holds and user.role not in MANAGERS:
        raise NotAllowedError(
            f"claim escalation {escalation.id} first: only its holder, a supervisor or an admin "
            "calls back"
        )
    require_scope(session, user, escalation)
    refuse_seller(escalation, user)


def _active_callback(session: Session, escalation_id: int, now: datetime) -> int | None:
    return session.scalar(
        select(AgentCallback.id)
        .where(
            AgentCallback.escalation_id == escalation_id,
            AgentCallback.status.in_(ACTIVE),
            AgentCallback.requested_at > now - STALE_AFTER,
        )
        .limit(1)
    )


def _next_window(opens: datetime | None, zone: str) -> str:
    if opens is None:
        return "no calling window opens within a year"
    local = opens.astimezone(ZoneInfo(zone))
    return (
        f"the next window opens {local:%Y-%m-%d %H:%M} {zone} "
        f"({opens.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    )


def _log_override(
    session: Session,
    services: Services,
    escalation_id: int,
    callback_id: int,
    username: str,
    reason: str,
    opens: datetime | None,
    zone: str,
    now: datetime,
) -> None:
    """The override in the escalation's history and the audit log, in the row's transaction."""
    add_event(
        session,
        escalation_id,
        at=now,
        actor=username,
        action="window_override",
        detail=f"callback {callback_id} outside the calling windows: {masked(reason)}",
    )
    record(
        session,
        services,
        actor=username,
        action="callback.window_override",
        object_kind="escalation",
        object_id=escalation_id,
        detail={
            "callback_id": callback_id,
            "reason": masked(reason),
            "timezone": zone,
            "next_window_at": None if opens is None else opens.isoformat(),
        },
    )


def _place(services: Services, prepared: _Prepared) -> CallbackResult:
    """Ask the provider to ring the agent (no transaction open), then note its answer."""
    assert services.telephony is not None
    try:
        placed = services.telephony.place_call(prepared.request)
    except TelephonyError as exc:
        return _refused(services, prepared, exc)
    with services.sessions.begin() as session:
        # The agent's phone may already have rung and its webhooks bound the call and moved the
        # row on: fill only what is empty, move only forward.
        session.execute(
            update(AgentCallback)
            .where(
                AgentCallback.id == prepared.callback_id,
                or_(
                    AgentCallback.call_sid.is_(None),
                    AgentCallback.call_sid == placed.call_sid,
                ),
            )
            .values(
                call_sid=placed.call_sid,
                placed_at=services.clock(),
                status=sql_case(
                    (AgentCallback.status == S.REQUESTED, S.CALLING_AGENT),
                    else_=AgentCallback.status,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        status = session.scalar(
            select(AgentCallback.status).where(AgentCallback.id == prepared.callback_id)
        )
    log.info(
        "callback placed",
        extra={
            "action": "callback.placed",
            "callback_id": prepared.callback_id,
            "escalation_id": prepared.escalation_id,
            "to": mask_phone(prepared.request.to),
        },
    )
    return CallbackResult(
        prepared.callback_id,
        prepared.escalation_id,
        status or S.CALLING_AGENT,
        placed.call_sid,
        prepared.window_override,
    )


def _refused(services: Services, prepared: _Prepared, exc: TelephonyError) -> CallbackResult:
    """Store the provider's refusal; a create whose answer was lost stays REQUESTED."""
    message = redact_phones(str(exc), [prepared.request.to])[:500]
    now = services.clock()
    with services.sessions.begin() as session:
        callback = session.get(AgentCallback, prepared.callback_id, with_for_update=True)
        assert callback is not None
        callback.error_code = exc.code
        callback.error_message = message
        # maybe_placed: the agent's phone may ring anyway, and its webhooks then bind the call.
        failed = not exc.maybe_placed and callback.status == S.REQUESTED
        if failed:
            callback.status = S.FAILED
            callback.ended_at = now
        add_event(
            session,
            prepared.escalation_id,
            at=now,
            actor="system:callback",
            action="callback_failed" if failed else "callback_in_doubt",
            detail=f"callback {prepared.callback_id}: {message[:200]}",
        )
        status = callback.status
    log.warning(
        "callback refused by the provider: %s",
        message,
        extra={
            "action": "callback.failed" if failed else "callback.in_doubt",
            "callback_id": prepared.callback_id,
            "escalation_id": prepared.escalation_id,
            "code": exc.code,
            "to": mask_phone(prepared.request.to),
        },
    )
    return CallbackResult(
        prepared.callback_id,
        prepared.escalation_id,
        status,
        None,
        prepared.window_override,
        message,
    )
