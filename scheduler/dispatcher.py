"""Claim due cases exactly once, write the attempt, then ask the provider to call.

A pass is: sweep attempts that never heard back, claim a batch of due cases (each claim in the same
transaction that writes its attempt row), then place the claimed calls one by one at the pace the
`Pacer` allows. The attempt row exists before the provider is asked, and its id is in every
callback URL, so a crash between the two leaves a row the sweep settles, never a call we do not
know about.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ivr.attempts import close_case, settle_attempt
from ivr.db import is_postgres, rowcount
from ivr.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Case,
    CaseOutcome,
    CaseStatus,
)
from ivr.privacy import mask_phone
from ivr.queue.fallback import send_due_sms
from ivr.queue.service import raise_escalation
from ivr.services import Services
from ivr.telephony.port import CallRequest, TelephonyError
from scheduler.planner import plan_next_call

log = logging.getLogger(__name__)

TIME_LIMIT_S = 600  # longest call we allow; the survey takes two or three minutes
# An attempt with no final status this long after it was written is settled by the sweep: the
# provider's last callback was lost, or the process died between the row and the create.
STALE_AFTER = timedelta(seconds=TIME_LIMIT_S + 120 + 15 * 60)


class Pacer(Protocol):
    """Spaces calls to the provider's calls-per-second limit."""

    def wait(self) -> None:
        """Return when the next call may be placed."""
        ...


class MonotonicPacer:
    """Real-time pacing: at most `cps` calls per second, no bursts after idle time."""

    def __init__(
        self,
        cps: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if cps <= 0:
            raise ValueError("cps must be positive")
        self._interval = 1.0 / cps
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self._monotonic()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


@dataclass
class PassReport:
    """What one dispatcher pass did."""

    claimed: int = 0
    placed: int = 0
    failed: int = 0  # the provider refused or could not be reached
    uncertain: int = 0  # the create's answer was lost; callbacks or the sweep will tell
    rescheduled: int = 0  # due, but outside a calling window now (e.g. the dialler was down)
    missed_deadline: int = 0
    swept: int = 0
    texts: int = 0  # unreachable contacts texted (programs that ask for it)
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"claimed {self.claimed}, placed {self.placed}, failed {self.failed}, "
            f"uncertain {self.uncertain}, rescheduled {self.rescheduled}, "
            f"missed deadline {self.missed_deadline}, swept {self.swept}, texts {self.texts}"
        )


@dataclass(frozen=True)
class _Claim:
    attempt_id: int
    request: CallRequest


def dispatch_once(services: Services, pacer: Pacer, *, batch_size: int = 50) -> PassReport:
    """One pass: sweep, claim up to `batch_size` due cases, place their calls."""
    if services.telephony is None:
        raise RuntimeError("dispatch_once needs services.telephony")
    report = PassReport()
    report.swept = sweep_stale(services)
    claims = _claim_due(services, batch_size, report)
    report.claimed = len(claims)
    for claim in claims:
        pacer.wait()
        _place(services, claim, report)
    report.texts = send_due_sms(services)
    return report


def _claim_due(services: Services, limit: int, report: PassReport) -> list[_Claim]:
    now = services.clock()
    claims: list[_Claim] = []
    with services.sessions.begin() as session:
        query = (
            select(Case)
            .join(Campaign)
            .where(
                Case.status == CaseStatus.PENDING,
                Case.next_call_at <= now,
                Campaign.status == CampaignStatus.ACTIVE,
            )
            .order_by(Case.next_call_at, Case.id)
            .limit(limit)
        )
        if is_postgres(session.get_bind()):  # type: ignore[arg-type]
            # Other dispatchers skip the rows this one holds instead of waiting for them or,
            # worse, reading them as still pending.
            query = query.with_for_update(skip_locked=True, of=Case)
        for case in session.scalars(query):
            claim = _claim(session, services, case, now, report)
            if claim is not None:
                claims.append(claim)
    return claims


def _claim(
    session: Session, services: Services, case: Case, now: datetime, report: PassReport
) -> _Claim | None:
    config = services.config(case.campaign)
    contact = case.contact
    last = case.attempts[-1] if case.attempts else None
    # Re-plan at claim time: a case due at 10:55 must not be called at 22:00 because the
    # dialler was stopped in between, nor after its deadline.
    planned = plan_next_call(
        anchor=case.anchor_date,
        attempts_made=case.attempts_made,
        last_attempt_at=None if last is None else (last.placed_at or last.created_at),
        policy=config.policy,
        tz=ZoneInfo(contact.timezone),
        now=now,
        deadline=case.deadline_at,
    )
    if planned is None:
        close_case(session, case, CaseOutcome.MISSED_DEADLINE, now)
        raise_escalation(
            session,
            case_id=case.id,
            reason="unreachable",
            now=now,
            detail="no calling window left before the deadline",
        )
        report.missed_deadline += 1
        return None
    if planned > now:
        case.next_call_at = planned
        report.rescheduled += 1
        return None
    number = case.attempts_made + 1
    moved = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == CaseStatus.PENDING)
        .values(status=CaseStatus.IN_CALL, attempts_made=number, next_call_at=None)
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        return None  # another dispatcher got it first (only possible without SKIP LOCKED)
    attempt = Attempt(
        case_id=case.id,
        number=number,
        status=AttemptStatus.CREATED,
        language=contact.language,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    query = f"?attempt={attempt.id}"
    request = CallRequest(
        attempt_id=attempt.id,
        to=contact.phone,
        from_=services.settings.twilio_from_number,
        voice_url=services.url(f"/twilio/voice{query}"),
        status_callback_url=services.url(f"/twilio/status{query}"),
        recording_callback_url=services.url(f"/twilio/recording{query}"),
        amd_callback_url=services.url(f"/twilio/amd{query}"),
        record=config.record,
        ring_timeout_s=config.ring_timeout_s,
        time_limit_s=TIME_LIMIT_S,
    )
    return _Claim(attempt.id, request)


def _place(services: Services, claim: _Claim, report: PassReport) -> None:
    assert services.telephony is not None
    try:
        placed = services.telephony.place_call(claim.request)
    except TelephonyError as exc:
        _record_refusal(services, claim, exc, report)
        return
    now = services.clock()
    with services.sessions.begin() as session:
        # A webhook may already have bound the call (the simulator, like Twilio, can call back
        # before the create's answer arrives), so only fill what is still empty.
        session.execute(
            update(Attempt)
            .where(
                Attempt.id == claim.attempt_id,
                or_(Attempt.call_sid.is_(None), Attempt.call_sid == placed.call_sid),
            )
            .values(call_sid=placed.call_sid, placed_at=now)
        )
        session.execute(
            update(Attempt)
            .where(Attempt.id == claim.attempt_id, Attempt.status == AttemptStatus.CREATED)
            .values(status=AttemptStatus.QUEUED)
        )
    report.placed += 1
    log.info(
        "call placed",
        extra={
            "action": "call.placed",
            "attempt_id": claim.attempt_id,
            "to": mask_phone(claim.request.to),
        },
    )


def _record_refusal(
    services: Services, claim: _Claim, exc: TelephonyError, report: PassReport
) -> None:
    now = services.clock()
    with services.sessions.begin() as session:
        # Locked like the webhooks lock it: a status callback for this attempt waits its turn.
        attempt = session.get_one(Attempt, claim.attempt_id, with_for_update=True)
        attempt.error_code = exc.code
        attempt.error_message = str(exc)
        if exc.maybe_placed:
            # The call may be ringing; its callbacks (or the sweep) will settle the attempt.
            report.uncertain += 1
            return
        attempt.error_permanent = exc.permanent
        if attempt.status.rank < AttemptStatus.ERROR.rank:
            attempt.status = AttemptStatus.ERROR
            attempt.ended_at = now
        settle_attempt(session, services, attempt, now)
    report.failed += 1
    report.errors.append(f"attempt {claim.attempt_id}: {exc}")
    log.warning(
        "call refused",
        extra={
            "action": "call.refused",
            "attempt_id": claim.attempt_id,
            "code": exc.code,
            "permanent": exc.permanent,
        },
    )


def sweep_stale(services: Services) -> int:
    """Settle attempts that never got a final status; returns how many."""
    now = services.clock()
    swept = 0
    with services.sessions.begin() as session:
        stale = session.scalars(
            select(Attempt)
            .where(
                Attempt.settled_at.is_(None),
                Attempt.created_at < now - STALE_AFTER,
                Attempt.status.not_in([s for s in AttemptStatus if s.terminal]),
            )
            # A late callback settling the same attempt holds its row; skip it, it is being done.
            .with_for_update(skip_locked=True)
        )
        for attempt in stale:
            attempt.status = AttemptStatus.ERROR
            attempt.error_message = attempt.error_message or "no final status from the provider"
            attempt.ended_at = now
            settle_attempt(session, services, attempt, now)
            swept += 1
    if swept:
        log.warning("stale attempts settled", extra={"action": "sweep", "count": swept})
    return swept
