"""Claim due cases: a batch per transaction, each claim writing its attempt row.

One transaction reads a batch of due cases (SKIP LOCKED on PostgreSQL, so dispatchers never
wait for, nor read as pending, the rows another one holds) as plain rows, with what a claim needs
of them (contact, do-not-call entry), reads what the call caps need for the whole batch (claim
locks and earlier calls of the numbers) and the last call of the cases called before, counts the
lines in use once per campaign (scheduler.lines), re-plans each case, and writes the claims in one
statement (scheduler.attempt_rows). The batch is small (what the shared pace places in about
CLAIM_SPAN_S), so a claimed case waits well under a second for its call while its calling window
could close, and a dispatcher killed mid-batch leaves few attempts for the reconciler.

A due case that is not simply dialled (listed, outside its windows, past its deadline, at its
call cap) is rare, and goes through the ORM: `hold_back` and the planner's closing rules act on
the loaded case, as they do for every caller of theirs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ivr.campaigns.options import CampaignConfig
from ivr.cases.planning import close_without_window, plan_case
from ivr.consent.caps import CallCaps, cap_reached
from ivr.consent.refusal import ConsentView, consent_view, hold_back
from ivr.db import any_of, is_postgres
from ivr.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Case,
    CaseStatus,
    Contact,
    DoNotCall,
)
from ivr.services import Services
from ivr.telephony.port import CallRequest
from scheduler.attempt_rows import ClaimedRow, write_claims
from scheduler.call_request import call_request
from scheduler.lines import Lines
from scheduler.pass_report import PassReport
from scheduler.planner import plan_next_call

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


@dataclass(frozen=True)
class _Due:
    """A locked due case as the claim reads it: plain columns, not the ORM object."""

    case_id: int
    campaign_id: int
    anchor_date: date
    attempts_made: int
    deadline_at: datetime | None
    phone: str
    timezone: str
    language: str
    listed: bool  # a do-not-call entry for the number is in force


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


def _due(session: Session, now: datetime, size: int, search: Search) -> list[_Due]:
    # The do-not-call entry comes with the row (the number is unique there): one read fewer.
    listed = and_(
        DoNotCall.phone == Contact.phone, or_(DoNotCall.until.is_(None), DoNotCall.until > now)
    )
    query = (
        select(
            Case.id,
            Case.campaign_id,
            Case.anchor_date,
            Case.attempts_made,
            Case.deadline_at,
            Contact.phone,
            Contact.timezone,
            Contact.language,
            DoNotCall.id.is_not(None),
        )
        .join(Campaign, Campaign.id == Case.campaign_id)
        .join(Contact, Contact.id == Case.contact_id)
        .outerjoin(DoNotCall, listed)
        .where(
            Case.status == CaseStatus.PENDING,
            Case.next_call_at <= now,
            Campaign.status == CampaignStatus.ACTIVE,
        )
        .order_by(Case.next_call_at, Case.id)
        .limit(size)
    )
    # Only when there is something to leave out: the statement's text then stays the same from
    # batch to batch, and psycopg reuses its prepared plan.
    if search.full:
        query = query.where(Case.campaign_id.not_in(search.full))
    if search.busy:
        query = query.where(Case.id.not_in(search.busy))
    connection = session.connection()
    if is_postgres(connection.engine):
        query = query.with_for_update(skip_locked=True, of=Case)
    return [_Due(*row) for row in connection.execute(query)]


def _claim_all(
    session: Session,
    services: Services,
    candidates: list[_Due],
    now: datetime,
    report: PassReport,
    search: Search,
) -> list[Claim]:
    configs = {c: services.config_of(session, c) for c in {d.campaign_id for d in candidates}}
    capped = [d.phone for d in candidates if not _uncapped(configs[d.campaign_id])]
    listed = {d.phone for d in candidates if d.listed}
    phones = [d.phone for d in candidates]
    view = consent_view(session, phones, now, capped=capped, listed=listed)
    # A case never called has no attempt row: its attempts are numbered 1..attempts_made (unique
    # per case), so only the others need their last call read.
    last_calls = _last_calls(session, [d.case_id for d in candidates if d.attempts_made > 0])
    lines = Lines(session, services)
    plain: list[_Due] = []  # claimed on the hot path, written below in one statement
    loaded: list[tuple[Case, Attempt]] = []  # claimed through the ORM (not expected, but kept)
    for due in candidates:
        if due.campaign_id in search.full:
            continue
        config = configs[due.campaign_id]
        if not lines.caller_free():
            search.caller_full = True
            report.capped += 1
            break
        if not lines.campaign_free(due.campaign_id, config):
            search.full.add(due.campaign_id)
            report.capped += 1
            continue
        verdict = _verdict(due, config, last_calls.get(due.case_id), now, view)
        if verdict == "busy":
            search.busy.add(due.case_id)
            continue
        if verdict == "dial":
            view.dialled(due.phone, now)
            plain.append(due)
            lines.take(due.campaign_id)
            continue
        case = session.get_one(Case, due.case_id)
        attempt = _claim(session, services, case, now, view, report, search)
        if attempt is not None:
            lines.take(due.campaign_id)
            loaded.append((case, attempt))
    attempt_ids = write_claims(
        session.connection(),
        [ClaimedRow(due.case_id, due.attempts_made, due.language) for due in plain],
        now,
    )
    claims = [
        Claim(
            attempt_ids[due.case_id],
            call_request(services, attempt_ids[due.case_id], due.phone, configs[due.campaign_id]),
        )
        for due in plain
    ]
    if loaded:
        session.flush()  # the ORM's attempt rows; their ids come back
        claims += [_claim_of(services, case, attempt) for case, attempt in loaded]
    return claims


def _uncapped(config: CampaignConfig) -> bool:
    return config.daily_cap is None and config.weekly_cap is None


def _verdict(
    due: _Due,
    config: CampaignConfig,
    last_call_at: datetime | None,
    now: datetime,
    view: ConsentView,
) -> Literal["dial", "busy", "other"]:
    """Dial it, leave it (another claim holds its number: "busy"), or let the ORM path decide.

    The same order of rules as `_claim` and `hold_back`, which decide every case answered "other".
    """
    if due.listed:
        return "other"
    planned = plan_next_call(
        anchor=due.anchor_date,
        attempts_made=due.attempts_made,
        last_attempt_at=last_call_at,
        policy=config.policy,
        tz=ZoneInfo(due.timezone),
        now=now,
        deadline=due.deadline_at,  # the case's own, as in plan_case
    )
    if planned is None or planned > now:
        return "other"
    caps = CallCaps(config.daily_cap, config.weekly_cap)
    if caps.none:
        return "dial"
    if due.phone not in view.locked:
        return "busy"
    tz = ZoneInfo(due.timezone)
    if cap_reached(view.earlier.get(due.phone, ()), caps, tz=tz, now=now) is not None:
        return "other"
    return "dial"


def _last_calls(session: Session, case_ids: Sequence[int]) -> dict[int, datetime]:
    """When each case's last attempt was placed (or written), as plan_case reads it."""
    if not case_ids:
        return {}
    latest = (
        select(Attempt.case_id, func.max(Attempt.number).label("number"))
        .where(any_of(Attempt.case_id, case_ids, session.connection().engine))
        .group_by(Attempt.case_id)
        .subquery()
    )
    rows = session.connection().execute(
        select(Attempt.case_id, func.coalesce(Attempt.placed_at, Attempt.created_at)).join(
            latest, and_(Attempt.case_id == latest.c.case_id, Attempt.number == latest.c.number)
        )
    )
    return {case_id: at for case_id, at in rows}


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
    return Claim(attempt.id, call_request(services, attempt.id, case.contact.phone, config))
