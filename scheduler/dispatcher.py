"""Claim due cases exactly once, write the attempt, then ask the provider to call.

A pass is: reconcile attempts that never heard back, then, a small batch at a time, claim due
cases (the claims and their attempt rows in one transaction, see scheduler.claims), place each
call at a moment of the shared calls-per-second pace, and store the provider's call ids. The
attempt row exists before the provider is asked, and its id is in every callback URL, so a crash
between the two leaves a row the reconciler settles, never a call we do not know about.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

from sqlalchemy import Connection, Engine, Integer, String, column, or_, text, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import sessionmaker

from ivr.attempts import settle_attempt
from ivr.db import engine_of, is_postgres, rows_of
from ivr.models import Attempt, AttemptStatus, CaseStatus
from ivr.privacy import mask_phone
from ivr.queue.fallback import send_due_emails, send_due_sms
from ivr.services import Services
from ivr.telephony.port import PlacedCall, TelephonyError
from scheduler.claims import Claim, Search, claim_batch, claim_size
from scheduler.pacing import pause_provider, provider_paused_for
from scheduler.pass_report import PassReport
from scheduler.reconcile import reconcile_stale

__all__ = ["PROVIDER_PAUSE_S", "Pacer", "PassReport", "dispatch_once"]

log = logging.getLogger(__name__)

# How long every dispatcher stops after the provider could not be reached; the first pass after it
# tries again (one call), so an outage costs one failed connect per pause, not one per case.
PROVIDER_PAUSE_S = 30.0


class Pacer(Protocol):
    """Spaces calls to the provider's calls-per-second limit."""

    def wait(self) -> None:
        """Return when the next call may be placed."""
        ...


def dispatch_once(services: Services, pacer: Pacer, *, batch_size: int = 50) -> PassReport:
    """One pass: reconcile, then claim and place up to `batch_size` calls, in small batches."""
    if services.telephony is None:
        raise RuntimeError("dispatch_once needs services.telephony")
    engine = engine_of(services.sessions)
    if not is_postgres(engine):
        # SQLite: a process has one pooled connection (ivr.db), and the pacer takes it per call.
        return _pass(services, engine, pacer, batch_size)
    # One connection for the pass's dozen transactions: each would otherwise take one from the
    # pool and pay its liveness ping, a round trip as dear as the statement it comes with.
    with engine.connect() as connection:
        on_line = replace(services, sessions=sessionmaker(connection, expire_on_commit=False))
        return _pass(on_line, connection, pacer, batch_size)


def _pass(
    services: Services, bind: Engine | Connection, pacer: Pacer, batch_size: int
) -> PassReport:
    report = PassReport()
    report.swept = reconcile_stale(services)
    paused_s = provider_paused_for(bind)
    if paused_s > 0:
        report.paused = True
        log.info(
            "dialling paused: the provider could not be reached",
            extra={"action": "dial.paused", "seconds_left": round(paused_s, 1)},
        )
    else:
        search = Search()
        while report.claimed < batch_size:
            size = claim_size(services, batch_size - report.claimed)
            claims = claim_batch(services, report, search, size)
            if not claims:
                break
            report.claimed += len(claims)
            if not _place_all(services, bind, pacer, claims, report):
                break
    report.texts = send_due_sms(services)
    report.emails = send_due_emails(services)
    return report


def _place_all(
    services: Services,
    bind: Engine | Connection,
    pacer: Pacer,
    claims: list[Claim],
    report: PassReport,
) -> bool:
    """Place the claimed calls at the shared pace, then bind their call ids in one transaction.

    False when the provider could not be reached: the claims not placed are given back.
    """
    placed: list[tuple[Claim, PlacedCall]] = []
    try:
        for n, claim in enumerate(claims):
            pacer.wait()
            try:
                placed.append((claim, _create(services, claim)))
            except TelephonyError as exc:
                if exc.unavailable:
                    _unclaim(services, bind, claims[n:], exc)
                    report.paused = True
                    return False
                _record_refusal(services, claim, exc, report)
    finally:
        # Bound even when something unexpected stops the batch: what was placed is known.
        _bind(services, placed, report)
    return True


def _create(services: Services, claim: Claim) -> PlacedCall:
    assert services.telephony is not None
    return services.telephony.place_call(claim.request)


def _bind(services: Services, placed: list[tuple[Claim, PlacedCall]], report: PassReport) -> None:
    """Store the provider's call ids of a batch, in one statement."""
    if not placed:
        return
    now = services.clock()
    with services.sessions.begin() as session:
        connection = session.connection()
        if is_postgres(connection.engine):
            # The attempt rows were committed durably before the calls; these ids need not wait
            # for their own WAL flush. Lost in a database crash (the next commit or the WAL writer
            # flushes them within a fraction of a second), an attempt is left as a dispatcher
            # killed before binding leaves it: its callbacks bind it by attempt id, or the
            # reconciler finds the call by number and time (scheduler.reconcile).
            connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
        sids = rows_of(
            "placed",
            [column("attempt_id", Integer), column("call_sid", String)],
            [(claim.attempt_id, call.call_sid) for claim, call in placed],
            connection.engine,
        )
        # A webhook may already have bound the call (the simulator, like Twilio, can call back
        # before the create's answer arrives), so only fill what is still empty.
        connection.execute(
            update(Attempt)
            .where(
                Attempt.id == sids.c.attempt_id,
                or_(Attempt.call_sid.is_(None), Attempt.call_sid == sids.c.call_sid),
            )
            .values(
                call_sid=sids.c.call_sid,
                placed_at=now,
                # Only forward: a callback may already have moved it past queued.
                status=sql_case(
                    (Attempt.status == AttemptStatus.CREATED, AttemptStatus.QUEUED),
                    else_=Attempt.status,
                ),
            )
        )
    report.placed += len(placed)
    for claim, _call in placed:
        log.info(
            "call placed",
            extra={
                "action": "call.placed",
                "attempt_id": claim.attempt_id,
                "to": mask_phone(claim.request.to),
            },
        )


def _unclaim(
    services: Services, bind: Engine | Connection, claims: list[Claim], exc: TelephonyError
) -> None:
    """Undo claims whose calls never left (provider unreachable), then pause every dispatcher."""
    with services.sessions.begin() as session:
        for claim in claims:
            attempt = session.get_one(Attempt, claim.attempt_id, with_for_update=True)
            # Only an attempt nothing has touched: a callback for it would prove the call exists.
            if attempt.status is AttemptStatus.CREATED and attempt.call_sid is None:
                case = attempt.case
                session.delete(attempt)
                case.status = CaseStatus.PENDING
                case.attempts_made -= 1
                case.next_call_at = services.clock()
    pause_provider(bind, PROVIDER_PAUSE_S)
    log.warning(
        "provider unreachable: dialling paused",
        extra={
            "action": "dial.provider_unreachable",
            "attempt_id": claims[0].attempt_id,
            "given_back": len(claims),
            "pause_s": PROVIDER_PAUSE_S,
            "error": str(exc),
        },
    )


def _record_refusal(
    services: Services, claim: Claim, exc: TelephonyError, report: PassReport
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
