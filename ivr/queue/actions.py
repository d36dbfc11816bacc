"""What staff do to an escalation: claim, touch, release, reassign, resolve, reopen.

Each function works in the caller's transaction (`with services.sessions.begin() as s:`), writes
one history event per step (ivr.queue.history) and, for reassign, resolve, reopen and evidence,
an audit entry, so that the change, its history and its audit entry commit together or not at all.
Claims are settled by one conditional UPDATE per try, not by a read then a write: of two agents
pressing claim at once exactly one changes the row, and the other is told who holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.audit.log import ensure_key, record
from ivr.db import rowcount
from ivr.models import (
    Escalation,
    EscalationStatus,
    EvidenceKind,
    StaffUser,
)
from ivr.queue.access import (
    MANAGERS,
    load_escalation,
    may_work,
    refuse_seller,
    require_scope,
    username_of,
)
from ivr.queue.errors import (
    EscalationStateError,
    EvidenceError,
    NotAllowedError,
    OutcomeError,
    ReopenConflictError,
    StaffUserError,
)
from ivr.queue.evidence import (
    Scan,
    attach_recording,
    attach_scan,
    case_recording,
    check_scan,
    evidence_of,
)
from ivr.queue.fallback import close_paused_if_settled
from ivr.queue.history import add_event, masked
from ivr.queue.outcomes import missing_evidence, rules_for
from ivr.services import Services

_CLAIM_TRIES = 3  # a release or a lapse between our read and our UPDATE: read again


@dataclass(frozen=True)
class ClaimResult:
    """What a claim came to: won, or who holds the escalation and since when."""

    escalation_id: int
    won: bool
    holder: str  #: the user name of whoever holds it now (the caller when won)
    since: datetime  #: when the holder claimed it
    lapsed_holder: str | None = None  #: whose idle claim this one replaced

    def message(self) -> str:
        """One line for the person who pressed claim."""
        when = self.since.strftime("%Y-%m-%d %H:%M UTC")
        if self.won:
            taken = f" (the claim of {self.lapsed_holder} had lapsed)" if self.lapsed_holder else ""
            return f"escalation {self.escalation_id} claimed by {self.holder}{taken}"
        return f"escalation {self.escalation_id} is held by {self.holder} since {when}"


def claim_idle(services: Services) -> timedelta:
    """How long a claim holds without its holder doing anything (IVR_CLAIM_IDLE_MINUTES)."""
    return timedelta(minutes=services.settings.claim_idle_minutes)


def claim(session: Session, services: Services, escalation_id: int, user: StaffUser) -> ClaimResult:
    """Take an open escalation, or one whose holder has been idle past the claim's idle time."""
    escalation = load_escalation(session, escalation_id)
    require_scope(session, user, escalation)
    refuse_seller(escalation, user)
    for _ in range(_CLAIM_TRIES):
        now = services.clock()
        if escalation.status == EscalationStatus.RESOLVED:
            raise EscalationStateError(f"escalation {escalation_id} is resolved")
        holder_id = escalation.claimed_by_id
        if escalation.status == EscalationStatus.CLAIMED and holder_id == user.id:
            touch(session, services, escalation_id, user)
            return ClaimResult(escalation_id, True, user.username, _since(escalation, now))
        cutoff = now - claim_idle(services)
        query = update(Escalation).where(Escalation.id == escalation_id)
        if escalation.status == EscalationStatus.OPEN:
            query = query.where(Escalation.status == EscalationStatus.OPEN)
        elif escalation.touched_at is not None and escalation.touched_at <= cutoff:
            # Only while the same holder is still idle: a touch since our read keeps the claim.
            query = query.where(
                Escalation.status == EscalationStatus.CLAIMED,
                Escalation.claimed_by_id == holder_id,
                Escalation.touched_at <= cutoff,
            )
        else:
            return ClaimResult(
                escalation_id, False, username_of(session, holder_id), _since(escalation, now)
            )
        taken = session.execute(
            query.values(
                status=EscalationStatus.CLAIMED,
                claimed_by_id=user.id,
                claimed_at=now,
                touched_at=now,
                updated_at=now,
            ).execution_options(synchronize_session=False)
        )
        won = rowcount(taken) == 1
        lapsed = None if escalation.status == EscalationStatus.OPEN else holder_id
        # Under READ COMMITTED the next read sees the winner's committed row.
        session.refresh(escalation)
        if not won:
            continue
        lapsed_name = None
        if lapsed is not None:
            lapsed_name = username_of(session, lapsed)
            add_event(
                session,
                escalation_id,
                at=now,
                actor="system:claims",
                action="lapsed",
                detail=_lapsed_detail(session, services, lapsed),
            )
        add_event(session, escalation_id, at=now, actor=user.username, action="claimed")
        return ClaimResult(escalation_id, True, user.username, now, lapsed_name)
    return ClaimResult(
        escalation_id,
        False,
        username_of(session, escalation.claimed_by_id),
        _since(escalation, services.clock()),
    )


def expire_claims(session: Session, services: Services) -> list[int]:
    """Give every claim idle past the idle time back to the queue; the ids, for a periodic job.

    claim() already takes a lapsed claim over; this makes the queue show such escalations open.
    """
    now = services.clock()
    cutoff = now - claim_idle(services)
    idle = session.execute(
        select(Escalation.id, Escalation.claimed_by_id)
        .where(Escalation.status == EscalationStatus.CLAIMED, Escalation.touched_at <= cutoff)
        .order_by(Escalation.id)
    ).all()
    expired: list[int] = []
    for escalation_id, holder_id in idle:
        # The same condition again: the holder may have acted, or another agent claimed it.
        lapsed = session.execute(
            update(Escalation)
            .where(
                Escalation.id == escalation_id,
                Escalation.status == EscalationStatus.CLAIMED,
                Escalation.claimed_by_id == holder_id,
                Escalation.touched_at <= cutoff,
            )
            .values(
                status=EscalationStatus.OPEN,
                claimed_by_id=None,
                claimed_at=None,
                touched_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(lapsed) == 1:
            add_event(
                session,
                escalation_id,
                at=now,
                actor="system:claims",
                action="lapsed",
                detail=_lapsed_detail(session, services, holder_id),
            )
            expired.append(escalation_id)
    session.expire_all()
    return expired


def _lapsed_detail(session: Session, services: Services, holder_id: int | None) -> str:
    name = username_of(session, holder_id)
    return f"claim of {name} lapsed after {services.settings.claim_idle_minutes} min idle"


def touch(session: Session, services: Services, escalation_id: int, user: StaffUser) -> None:
    """Record the holder's activity, which keeps the claim from lapsing (no history event)."""
    now = services.clock()
    kept = session.execute(
        update(Escalation)
        .where(
            Escalation.id == escalation_id,
            Escalation.status == EscalationStatus.CLAIMED,
            Escalation.claimed_by_id == user.id,
        )
        .values(touched_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(kept) != 1:
        load_escalation(session, escalation_id)
        raise NotAllowedError(f"{user.username} does not hold escalation {escalation_id}")
    session.expire_all()


def release(session: Session, services: Services, escalation_id: int, user: StaffUser) -> None:
    """Give a claimed escalation back to the queue: by its holder, or a supervisor or admin."""
    escalation = load_escalation(session, escalation_id, lock=True)
    if escalation.status != EscalationStatus.CLAIMED:
        raise EscalationStateError(f"escalation {escalation_id} is not claimed")
    if escalation.claimed_by_id != user.id and user.role not in MANAGERS:
        raise NotAllowedError(f"{user.username} does not hold escalation {escalation_id}")
    holder = username_of(session, escalation.claimed_by_id)
    now = services.clock()
    _unclaim(escalation, now)
    detail = None if holder == user.username else f"held by {holder}"
    add_event(session, escalation_id, at=now, actor=user.username, action="released", detail=detail)


def reassign(
    session: Session,
    services: Services,
    escalation_id: int,
    user: StaffUser,
    *,
    to: StaffUser,
    note: str | None = None,
) -> None:
    """Hand an escalation to a named user (supervisors and admins only); audited."""
    if user.role not in MANAGERS:
        raise NotAllowedError("only a supervisor or an admin reassigns escalations")
    ensure_key(services)
    escalation = load_escalation(session, escalation_id, lock=True)
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationStateError(f"escalation {escalation_id} is resolved; reopen it first")
    if not to.active:
        raise StaffUserError(f"user {to.username} is disabled")
    if escalation.claimed_by_id == to.id and escalation.status == EscalationStatus.CLAIMED:
        raise EscalationStateError(f"{to.username} already holds escalation {escalation_id}")
    if not may_work(session, to, escalation.case):
        raise NotAllowedError(f"escalation {escalation_id} is outside the scope of {to.username}")
    refuse_seller(escalation, to)
    previous = (
        username_of(session, escalation.claimed_by_id)
        if escalation.status == EscalationStatus.CLAIMED
        else None
    )
    now = services.clock()
    escalation.status = EscalationStatus.CLAIMED
    escalation.claimed_by_id = to.id
    escalation.claimed_at = escalation.touched_at = escalation.updated_at = now
    detail = f"from {previous or 'the queue'} to {to.username}"
    if note:
        detail += f": {masked(note)}"
    add_event(
        session, escalation_id, at=now, actor=user.username, action="reassigned", detail=detail
    )
    record(
        session,
        services,
        actor=user.username,
        action="escalation.reassign",
        object_kind="escalation",
        object_id=escalation_id,
        detail={"from": previous, "to": to.username},
    )


def resolve(
    session: Session,
    services: Services,
    escalation_id: int,
    user: StaffUser,
    *,
    outcome: str,
    note: str | None = None,
    recording_sid: str | None = None,
    scan: Scan | None = None,
) -> None:
    """Close an escalation with one of its campaign's outcomes, linking any evidence given.

    Only the holder, or a supervisor or admin, resolves. A reason that needs evidence is closed
    only once a recording of the case or a scan is linked; a missell_suspected escalation never by
    the policy's own seller.
    """
    ensure_key(services)
    escalation = load_escalation(session, escalation_id, lock=True)
    if escalation.status == EscalationStatus.RESOLVED:
        raise EscalationStateError(f"escalation {escalation_id} is already resolved")
    holds = escalation.status == EscalationStatus.CLAIMED and escalation.claimed_by_id == user.id
    if not holds and user.role not in MANAGERS:
        raise NotAllowedError(
            f"claim escalation {escalation_id} first: only its holder, a supervisor or an admin "
            "resolves it"
        )
    case = escalation.case
    require_scope(session, user, escalation)
    refuse_seller(escalation, user)
    rules = rules_for(case.campaign.template, case.campaign.options)
    outcome = outcome.strip().lower()
    if outcome not in rules.outcomes:
        raise OutcomeError(
            f"{outcome!r} is not an outcome of campaign {case.campaign.name}; outcomes: "
            f"{', '.join(rules.outcomes)}"
        )
    # Everything is checked before the scan reaches the store, so a refusal leaves no file.
    recording = case_recording(session, escalation, recording_sid) if recording_sid else None
    checked = check_scan(scan) if scan is not None else None
    linked = evidence_of(session, escalation_id)
    recordings = sum(e.kind == EvidenceKind.RECORDING for e in linked) + (recording is not None)
    scans = sum(e.kind == EvidenceKind.SCAN for e in linked) + (checked is not None)
    problem = missing_evidence(
        rules, reason=escalation.reason, outcome=outcome, recordings=recordings, scans=scans
    )
    if problem is not None:
        raise EvidenceError(problem)
    if recording is not None:
        attach_recording(session, services, escalation, recording, actor=user.username)
    if checked is not None:
        attach_scan(session, services, escalation, checked, actor=user.username)
    now = services.clock()
    escalation.status = EscalationStatus.RESOLVED
    escalation.resolved_by_id = user.id
    escalation.resolved_at = escalation.updated_at = now
    escalation.outcome = outcome
    escalation.resolution_note = note
    detail = outcome if not note else f"{outcome}: {masked(note)}"
    add_event(session, escalation_id, at=now, actor=user.username, action="resolved", detail=detail)
    # A paused case (after_unreachable=pause) waits for a person: the last resolution closes it.
    close_paused_if_settled(session, case, now)
    record(
        session,
        services,
        actor=user.username,
        action="escalation.resolve",
        object_kind="escalation",
        object_id=escalation_id,
        detail={
            "outcome": outcome,
            "reason": escalation.reason,
            "evidence": [e.id for e in evidence_of(session, escalation_id)],
        },
    )


def reopen(
    session: Session, services: Services, escalation_id: int, user: StaffUser, *, note: str
) -> None:
    """Set a resolved escalation back to open (a supervisor, an admin or its resolver); audited.

    The earlier resolution stays in the history. Refused while another escalation of the same case
    and reason is not resolved: the queue holds one per case and reason.
    """
    if not note.strip():
        raise EscalationStateError("say why the escalation is reopened (a note)")
    ensure_key(services)
    escalation = load_escalation(session, escalation_id, lock=True)
    if escalation.status != EscalationStatus.RESOLVED:
        raise EscalationStateError(f"escalation {escalation_id} is not resolved")
    if user.role not in MANAGERS and escalation.resolved_by_id != user.id:
        raise NotAllowedError("only a supervisor, an admin or whoever resolved it reopens it")
    resolved = f"{escalation.outcome} by {username_of(session, escalation.resolved_by_id)}"
    now = services.clock()
    try:
        # The partial unique index settles a reopen racing a new trigger of the same reason.
        with session.begin_nested():
            _unclaim(escalation, now)
            escalation.resolved_by_id = None
            escalation.resolved_at = None
            escalation.outcome = None
            escalation.resolution_note = None
            session.flush()
    except IntegrityError:
        session.refresh(escalation)
        other = session.scalar(
            select(Escalation.id).where(
                Escalation.case_id == escalation.case_id,
                Escalation.reason == escalation.reason,
                Escalation.status != EscalationStatus.RESOLVED,
            )
        )
        raise ReopenConflictError(
            f"escalation {other} of the same case and reason ({escalation.reason}) is still "
            f"open; work that one instead of reopening {escalation_id}"
        ) from None
    add_event(
        session,
        escalation_id,
        at=now,
        actor=user.username,
        action="reopened",
        detail=f"was {resolved}: {masked(note)}",
    )
    record(
        session,
        services,
        actor=user.username,
        action="escalation.reopen",
        object_kind="escalation",
        object_id=escalation_id,
        detail={"was": resolved},
    )


def _unclaim(escalation: Escalation, now: datetime) -> None:
    escalation.status = EscalationStatus.OPEN
    escalation.claimed_by_id = None
    escalation.claimed_at = None
    escalation.touched_at = None
    escalation.updated_at = now


def _since(escalation: Escalation, fallback: datetime) -> datetime:
    return escalation.claimed_at or fallback
