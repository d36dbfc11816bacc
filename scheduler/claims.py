"""Claim due cases: a batch per transaction, each claim writing its attempt row.

One transaction reads a batch of due cases (SKIP LOCKED on PostgreSQL, so dispatchers never
wait for, nor read as pending, the rows another one holds), reads what the consent check needs
for the whole batch (do-not-call entries, claim locks and earlier calls of the numbers), counts
the lines in use once per campaign, re-plans each case, and writes the claims (case rows moved to
in_call, attempt rows inserted) in one flush. The batch is small (what the shared pace places in
about CLAIM_SPAN_S), so a claimed case waits well under a second for its call while its
calling window could close, and a dispatcher killed mid-batch leaves few attempts for the
reconciler.

Concurrent-call caps (a campaign's `max_concurrent`, IVR_MAX_CONCURRENT_CALLS per caller id) count
the cases with a call in flight under a lock on the campaign's row (or the caller id's pace row)
that is held until the batch commits, so two dispatchers cannot both take the last free line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ivr.cases.planning import close_without_window, plan_case
from ivr.consent.refusal import ConsentView, consent_view, hold_back
from ivr.db import is_postgres
from ivr.models import Attempt, AttemptStatus, Campaign, CampaignStatus, Case, CaseStatus, DialPace
from ivr.services import Services
from ivr.telephony.port import CallRequest
from scheduler.pacing import ensure_pace_row
from scheduler.pass_report import PassReport
from scheduler.reconcile import TIME_LIMIT_S

# A claimed batch is what the shared pace places in about this long.
CLAIM_SPAN_S = 0.5


@dataclass(frozen=True)
class Claim:
    """A claimed case: its attempt row is written; the call is still to be placed."""

    attempt_id: int
    request: CallRequest


@dataclass
class Search:
    """What one pass learnt while claiming, so that its next batch does not look again."""

    full: set[int] = field(default_factory=set)  # campaigns at their concurrent-call cap
    busy: set[int] = field(default_factory=set)  # cases whose number another claim holds
    caller_full: bool = False  # the caller id's cap is reached: nothing more can go


def claim_size(services: Services, wanted: int) -> int:
    """How many cases to claim in one transaction, out of `wanted` still to place this pass."""
    return max(1, min(wanted, math.ceil(services.settings.cps * CLAIM_SPAN_S)))


def claim_batch(services: Services, report: PassReport, search: Search, size: int) -> list[Claim]:
    """Claim up to `size` due cases that may be called now; [] when none is left (or capped).

    Cases stepped over (rescheduled, closed) are no longer due when the transaction commits, so
    a batch that claimed fewer than it looked at is followed by another look.
    """
    while not search.caller_full:
        now = services.clock()
        with services.sessions.begin() as session:
            candidates = _due(session, now, size, search)
            if not candidates:
                return []
            claims = _claim_all(session, services, candidates, now, report, search)
        if claims or len(candidates) < size:
            return claims
    return []


def _due(session: Session, now: datetime, size: int, search: Search) -> list[Case]:
    query = (
        select(Case)
        .join(Campaign)
        .where(
            Case.status == CaseStatus.PENDING,
            Case.next_call_at <= now,
            Campaign.status == CampaignStatus.ACTIVE,
            Case.campaign_id.not_in(search.full),
            Case.id.not_in(search.busy),
        )
        .order_by(Case.next_call_at, Case.id)
        .limit(size)
        # What a claim reads, loaded with the candidates rather than one query per row.
        .options(
            joinedload(Case.campaign),
            joinedload(Case.contact),
            selectinload(Case.attempts),
        )
    )
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        query = query.with_for_update(skip_locked=True, of=Case)
    return list(session.scalars(query))


def _claim_all(
    session: Session,
    services: Services,
    candidates: list[Case],
    now: datetime,
    report: PassReport,
    search: Search,
) -> list[Claim]:
    capped = [c.contact.phone for c in candidates if not _uncapped(services, c)]
    view = consent_view(session, [c.contact.phone for c in candidates], now, capped=capped)
    lines = _Lines(session, services)
    attempts: list[tuple[Case, Attempt]] = []
    for case in candidates:
        if case.campaign_id in search.full:
            continue
        if not lines.caller_free():
            search.caller_full = True
            report.capped += 1
            break
        if not lines.campaign_free(case):
            search.full.add(case.campaign_id)
            report.capped += 1
            continue
        attempt = _claim(session, services, case, now, view, report, search)
        if attempt is not None:
            lines.take(case)
            attempts.append((case, attempt))
    session.flush()  # the case updates and the attempt rows, batched; the ids come back
    return [_claim_of(services, case, attempt) for case, attempt in attempts]


def _uncapped(services: Services, case: Case) -> bool:
    config = services.config(case.campaign)
    return config.daily_cap is None and config.weekly_cap is None


class _Lines:
    """Calls in flight against the caps, counted once per batch under the caps' row locks."""

    def __init__(self, session: Session, services: Services) -> None:
        self._session = session
        self._services = services
        self._campaign_free: dict[int, float] = {}
        self._caller_free: float | None = None

    def caller_free(self) -> bool:
        if self._caller_free is None:
            cap = self._services.settings.max_concurrent_calls
            if not cap:
                self._caller_free = math.inf
            else:
                key = f"caller:{self._services.settings.twilio_from_number}"
                ensure_pace_row(self._session.connection(), key)
                self._session.execute(
                    select(DialPace.key).where(DialPace.key == key).with_for_update()
                )
                # Every campaign of a deployment dials from its one caller id.
                self._caller_free = cap - _in_flight(self._session)
        return self._caller_free > 0

    def campaign_free(self, case: Case) -> bool:
        if case.campaign_id not in self._campaign_free:
            cap = self._services.config(case.campaign).max_concurrent
            if not cap:
                self._campaign_free[case.campaign_id] = math.inf
            else:
                # The campaign row's lock makes count-then-claim atomic across dispatchers; it is
                # held until this batch commits, so the next dispatcher counts our calls too.
                self._session.execute(
                    select(Campaign.id).where(Campaign.id == case.campaign_id).with_for_update()
                )
                in_flight = _in_flight(self._session, Case.campaign_id == case.campaign_id)
                self._campaign_free[case.campaign_id] = cap - in_flight
        return self._campaign_free[case.campaign_id] > 0

    def take(self, case: Case) -> None:
        self._campaign_free[case.campaign_id] -= 1
        if self._caller_free is not None:
            self._caller_free -= 1


def _in_flight(session: Session, *where: ColumnElement[bool]) -> int:
    """Cases with a call in flight, of one campaign or (no filter) of the whole deployment."""
    query = select(func.count()).select_from(Case).where(Case.status == CaseStatus.IN_CALL, *where)
    return session.scalar(query) or 0


def _claim(
    session: Session,
    services: Services,
    case: Case,
    now: datetime,
    view: ConsentView,
    report: PassReport,
    search: Search,
) -> Attempt | None:
    config = services.config(case.campaign)
    # Re-plan at claim time: a case due at 10:55 must not be called at 22:00 because the
    # dialler was stopped in between, nor after its deadline.
    planned = plan_case(case, config.policy, now)
    # Consent and frequency, across all campaigns: a listed number closes the case (even past
    # its deadline: no escalation may lead a person to call it), a capped number waits.
    held = hold_back(session, case, config, planned=planned, now=now, view=view)
    if held == "rescheduled":
        report.rescheduled += 1
    elif held == "missed_deadline":
        report.missed_deadline += 1
    elif held == "number_busy":
        search.busy.add(case.id)
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
    # The row is ours: SKIP LOCKED on PostgreSQL, the one writing transaction on SQLite.
    case.status = CaseStatus.IN_CALL
    case.attempts_made += 1
    case.next_call_at = None
    view.dialled(case.contact.phone, now)
    attempt = Attempt(
        case_id=case.id,
        number=case.attempts_made,
        status=AttemptStatus.CREATED,
        language=case.contact.language,
        created_at=now,
    )
    session.add(attempt)
    return attempt


def _claim_of(services: Services, case: Case, attempt: Attempt) -> Claim:
    config = services.config(case.campaign)
    query = f"?attempt={attempt.id}"
    request = CallRequest(
        attempt_id=attempt.id,
        to=case.contact.phone,
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
    return Claim(attempt.id, request)
