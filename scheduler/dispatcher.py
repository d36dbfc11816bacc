"""Claim due cases exactly once, write the attempt, then ask the provider to call.

A pass is: reconcile attempts that never heard back, then, one call at a time, claim a due case (the
claim and its attempt row in one transaction), wait for a moment of the shared calls-per-second
pace, and place the call. The attempt row exists before the provider is asked, and its id is in
every callback URL, so a crash between the two leaves a row the reconciler settles, never a call we
do not know about. Claiming one case at a time keeps a claimed case from waiting behind a batch
while its calling window closes: it waits at most for the other dispatchers' next calls.

Concurrent-call caps (a campaign's `max_concurrent`, IVR_MAX_CONCURRENT_CALLS per caller id) count
the cases with a call in flight. The count and the claim happen under a lock on the campaign's row
(or the caller id's pace row) so that two dispatchers cannot both take the last free line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, joinedload, selectinload

from ivr.attempts import settle_attempt
from ivr.cases.planning import close_without_window, plan_case
from ivr.consent.refusal import hold_back
from ivr.db import engine_of, is_postgres, rowcount
from ivr.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Case,
    CaseStatus,
    DialPace,
)
from ivr.privacy import mask_phone
from ivr.queue.fallback import send_due_sms
from ivr.services import Services
from ivr.telephony.port import CallRequest, TelephonyError
from scheduler.pacing import (
    ensure_pace_row,
    pause_provider,
    provider_paused_for,
)
from scheduler.reconcile import TIME_LIMIT_S, reconcile_stale

log = logging.getLogger(__name__)

# How long every dispatcher stops after the provider could not be reached; the first pass after it
# tries again (one call), so an outage costs one failed connect per pause, not one per case.
PROVIDER_PAUSE_S = 30.0


class Pacer(Protocol):
    """Spaces calls to the provider's calls-per-second limit."""

    def wait(self) -> None:
        """Return when the next call may be placed."""
        ...


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
    capped: int = 0  # due, but its campaign or the caller id had every line busy
    paused: bool = False  # the provider could not be reached: nothing dialled this pass
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"claimed {self.claimed}, placed {self.placed}, failed {self.failed}, "
            f"uncertain {self.uncertain}, rescheduled {self.rescheduled}, "
            f"missed deadline {self.missed_deadline}, capped {self.capped}, "
            f"swept {self.swept}, texts {self.texts}"
        )
        return f"{text} (paused: provider unreachable)" if self.paused else text


@dataclass(frozen=True)
class _Claim:
    attempt_id: int
    request: CallRequest


def dispatch_once(services: Services, pacer: Pacer, *, batch_size: int = 50) -> PassReport:
    """One pass: reconcile, then claim and place up to `batch_size` calls, one at a time."""
    if services.telephony is None:
        raise RuntimeError("dispatch_once needs services.telephony")
    report = PassReport()
    report.swept = reconcile_stale(services)
    engine = engine_of(services.sessions)
    paused_s = provider_paused_for(engine)
    if paused_s > 0:
        report.paused = True
        log.info(
            "dialling paused: the provider could not be reached",
            extra={"action": "dial.paused", "seconds_left": round(paused_s, 1)},
        )
    else:
        for _ in range(batch_size):
            claim = _claim_next(services, report)
            if claim is None:
                break
            report.claimed += 1
            pacer.wait()
            if not _place(services, claim, report):
                break
    report.texts = send_due_sms(services)
    return report


# Due cases looked at per claim transaction: enough to step over the ones that are rescheduled,
# closed or capped in one transaction, few enough not to hold rows other dispatchers could take.
_CANDIDATES = 10


class _Full(Exception):
    """The caller id's concurrent-call cap is reached: nothing more can be dialled now."""


def _claim_next(services: Services, report: PassReport) -> _Claim | None:
    """Claim one due case that may be called now, writing its attempt; None when none is left."""
    full: set[int] = set()  # campaigns at their concurrent-call cap during this search
    # Most due cases are claimable: look at one first, and at _CANDIDATES at a time only once
    # one was stepped over (rescheduled, closed or capped), so rows are not locked and loaded
    # for nothing.
    limit = 1
    while True:
        now = services.clock()
        with services.sessions.begin() as session:
            query = (
                select(Case)
                .join(Campaign)
                .where(
                    Case.status == CaseStatus.PENDING,
                    Case.next_call_at <= now,
                    Campaign.status == CampaignStatus.ACTIVE,
                    Case.campaign_id.not_in(full),
                )
                .order_by(Case.next_call_at, Case.id)
                .limit(limit)
                # What a claim reads, loaded with the candidates rather than one query per row.
                .options(
                    joinedload(Case.campaign),
                    joinedload(Case.contact),
                    selectinload(Case.attempts),
                )
            )
            if is_postgres(session.get_bind()):  # type: ignore[arg-type]
                # Other dispatchers skip the rows this one holds instead of waiting for them or,
                # worse, reading them as still pending.
                query = query.with_for_update(skip_locked=True, of=Case)
            candidates = list(session.scalars(query))
            try:
                for case in candidates:
                    if case.campaign_id in full:
                        continue
                    if not _campaign_line_free(session, services, case):
                        full.add(case.campaign_id)
                        report.capped += 1
                        continue
                    claim = _claim(session, services, case, now, report)
                    if claim is not None:
                        return claim
            except _Full:
                report.capped += 1
                return None
        # Every candidate was rescheduled, closed or capped: look again only if there may be more.
        if len(candidates) < limit:
            return None
        limit = _CANDIDATES


def _campaign_line_free(session: Session, services: Services, case: Case) -> bool:
    """Whether the campaign's cap leaves a line for `case`; raises _Full at the caller id's cap."""
    cap = services.config(case.campaign).max_concurrent
    if cap:
        # The campaign row's lock makes count-then-claim atomic across dispatchers; it is held
        # until this claim commits, so the next dispatcher counts our call too.
        session.execute(
            select(Campaign.id).where(Campaign.id == case.campaign_id).with_for_update()
        )
        if _in_flight(session, Case.campaign_id == case.campaign_id) >= cap:
            return False
    caller_cap = services.settings.max_concurrent_calls
    if caller_cap:
        lock_key = f"caller:{services.settings.twilio_from_number}"
        ensure_pace_row(session.connection(), lock_key)
        session.execute(select(DialPace.key).where(DialPace.key == lock_key).with_for_update())
        # Every campaign of a deployment dials from its one caller id.
        if _in_flight(session) >= caller_cap:
            raise _Full
    return True


def _in_flight(session: Session, *where: ColumnElement[bool]) -> int:
    """Cases with a call in flight, of one campaign or (no filter) of the whole deployment."""
    query = select(func.count()).select_from(Case).where(Case.status == CaseStatus.IN_CALL, *where)
    return session.scalar(query) or 0


def _claim(
    session: Session, services: Services, case: Case, now: datetime, report: PassReport
) -> _Claim | None:
    config = services.config(case.campaign)
    contact = case.contact
    # Re-plan at claim time: a case due at 10:55 must not be called at 22:00 because the
    # dialler was stopped in between, nor after its deadline.
    planned = plan_case(case, config.policy, now)
    # Consent and frequency, across all campaigns: a listed number closes the case (even past
    # its deadline: no escalation may lead a person to call it), a capped number waits.
    held = hold_back(session, case, config, planned=planned, now=now)
    if held == "rescheduled":
        report.rescheduled += 1
    elif held == "missed_deadline":
        report.missed_deadline += 1
    if held is not None:
        return None
    if planned is None:
        close_without_window(session, case, now, "no calling window left before the deadline")
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
        # A message for a machine must wait for the beep, which only DetectMessageEnd waits for.
        detect_message_end=config.machine == "message",
    )
    return _Claim(attempt.id, request)


def _place(services: Services, claim: _Claim, report: PassReport) -> bool:
    """Place a claimed call; False when the provider cannot be reached (dialling pauses)."""
    assert services.telephony is not None
    try:
        placed = services.telephony.place_call(claim.request)
    except TelephonyError as exc:
        if exc.unavailable:
            _unclaim(services, claim, exc)
            report.paused = True
            return False
        _record_refusal(services, claim, exc, report)
        return True
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
            .values(
                call_sid=placed.call_sid,
                placed_at=now,
                # Only forward: a callback may already have moved it past queued.
                status=sql_case(
                    (Attempt.status == AttemptStatus.CREATED, AttemptStatus.QUEUED),
                    else_=Attempt.status,
                ),
            )
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
    return True


def _unclaim(services: Services, claim: _Claim, exc: TelephonyError) -> None:
    """Undo a claim whose call never left (provider unreachable), then pause every dispatcher."""
    with services.sessions.begin() as session:
        attempt = session.get_one(Attempt, claim.attempt_id, with_for_update=True)
        # Only an attempt nothing has touched: a callback for it would prove the call exists.
        if attempt.status is AttemptStatus.CREATED and attempt.call_sid is None:
            case = attempt.case
            session.delete(attempt)
            case.status = CaseStatus.PENDING
            case.attempts_made -= 1
            case.next_call_at = services.clock()
    pause_provider(engine_of(services.sessions), PROVIDER_PAUSE_S)
    log.warning(
        "provider unreachable: dialling paused",
        extra={
            "action": "dial.provider_unreachable",
            "attempt_id": claim.attempt_id,
            "pause_s": PROVIDER_PAUSE_S,
            "error": str(exc),
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
