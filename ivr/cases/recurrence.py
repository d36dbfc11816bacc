"""Periodic follow-ups (care insurance): after a reached call, the same contact's next case.

REQUIREMENTS.md section 3: the first call within a week of leaving hospital, then monthly,
quarterly or yearly per insured; when the insured cannot be reached, an SMS, then the follow-ups
pause. Each follow-up is a case of its own (its own attempts, deadline and answers), numbered
after the first one's ref: CARE-1, CARE-1#2, CARE-1#3, ...

``next_anchor`` is pure; ``schedule_next_case`` adds the next case in the caller's transaction and
lets the unique (campaign_id, external_ref) constraint make it happen once.
"""

from __future__ import annotations

import calendar
import dataclasses
import logging
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.cases.columns import FREQUENCIES
from ivr.models import Case, CaseOutcome, CaseStatus
from scheduler.planner import CallPolicy, deadline_at, first_call_earliest, next_call_at

__all__ = [
    "APPOINTMENT_KEY",
    "FOLLOW_UPS_KEY",
    "FREQUENCY_KEY",
    "REACHED",
    "next_anchor",
    "schedule_next_case",
    "split_ref",
]

log = logging.getLogger(__name__)

FREQUENCY_KEY = "frequency"  #: Case.details key of the per-case frequency; none: no follow-ups
APPOINTMENT_KEY = "appointment_date"  #: the next appointment (YYYY-MM-DD) prompts read out
FOLLOW_UPS_KEY = "follow_ups"  #: "paused" once a case of the series ended without reaching anyone

REACHED = frozenset({CaseOutcome.COMPLETED, CaseOutcome.PARTIAL, CaseOutcome.REQUESTED_AGENT})
"""Outcomes after which the series goes on: someone was reached and the right person answered."""

_MONTHS = dict(zip(FREQUENCIES, (1, 3, 12), strict=True))
_NUMBERED = re.compile(r"(?P<base>.*)#(?P<n>[0-9]+)")
_REF_LENGTH: int = getattr(Case.__table__.c.external_ref.type, "length", None) or 100
# A follow-up whose deadline has already passed is skipped for the next period; a policy no day
# of which can be called (a deadline shorter than the wait for the first window) would loop.
_MAX_SKIPS = 100


def next_anchor(anchor: date, frequency: str) -> date:
    """The anchor of the follow-up after one anchored on `anchor`.

    monthly: the same day next month, clamped to the month's end (31 Jan -> 28 or 29 Feb, and a
    clamped day stays clamped: 28 Feb -> 28 Mar); quarterly: three months on, clamped the same
    way; yearly: the same day next year (29 Feb -> 28 Feb).
    """
    try:
        months = _MONTHS[frequency]
    except KeyError:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}") from None
    year, month_index = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def split_ref(external_ref: str) -> tuple[str, int]:
    """A series ref into its base and number: "CARE-1" -> ("CARE-1", 1), "CARE-1#3" -> 3."""
    match = _NUMBERED.fullmatch(external_ref)
    if match is None:
        return external_ref, 1
    return match["base"], int(match["n"])


def schedule_next_case(
    session: Session, case: Case, *, now: datetime, policy: CallPolicy, tz: ZoneInfo
) -> Case | None:
    """After a recurring case is done, add the same contact's next case; return it or None.

    Call it when a case has just been closed (status DONE, outcome set), in the same transaction;
    ``policy`` is the case's campaign CallPolicy and ``tz`` the contact's zone. Only cases whose
    details hold a frequency (care-insurance) recur; for any other case it does nothing.

    - Reached (completed, partial, requested_agent): adds the case "<base>#<n+1>" anchored on
      next_anchor(case.anchor_date, frequency), first called from the anchor day's first window
      (no offset: the template's 1-day offset is for the first call after hospital exit), deadline
      the anchor day + the policy's deadline (7d). Details are copied; the appointment date only
      when it is after the new anchor (else the flow would read out a past date). When that
      deadline has passed already (a case settled very late), the next period is used instead.
    - Not reached (unreachable, wrong number, wrong person, ...): adds nothing and sets
      details["follow_ups"] = "paused"; a person resumes the series (SMS, home visit).

    Idempotent: calling it again for the same case hits the unique (campaign_id, external_ref)
    constraint inside a savepoint and returns None, so a replayed settlement adds nothing.
    """
    frequency = case.details.get(FREQUENCY_KEY)
    if case.status is not CaseStatus.DONE or not frequency:
        return None
    if case.outcome not in REACHED:
        if case.details.get(FOLLOW_UPS_KEY) != "paused":
            # Reassigned, not mutated: the JSON column does not track changes inside the dict.
            case.details = {**case.details, FOLLOW_UPS_KEY: "paused"}
            log.info(
                "follow-ups paused",
                extra={"action": "case.follow_ups_paused", "case_id": case.id},
            )
        return None
    base, number = split_ref(case.external_ref)
    ref = f"{base}#{number + 1}"
    if len(ref) > _REF_LENGTH:
        log.warning(
            "follow-up not scheduled: its ref would be too long",
            extra={"action": "case.follow_up_ref_too_long", "case_id": case.id},
        )
        return None
    follow_up = dataclasses.replace(policy, offset=timedelta(0))
    anchor = case.anchor_date
    for _ in range(_MAX_SKIPS):
        anchor = next_anchor(anchor, frequency)
        deadline = deadline_at(anchor, follow_up, tz)
        earliest = max(now, first_call_earliest(anchor, follow_up, tz))
        call_at = next_call_at(earliest, follow_up.schedule, tz, deadline)
        if call_at is not None:
            break
    else:
        raise ValueError(f"case {case.id}: no follow-up period has a calling window")
    details = {key: value for key, value in case.details.items() if key != FOLLOW_UPS_KEY}
    if details.get(APPOINTMENT_KEY, "") <= anchor.isoformat():
        details.pop(APPOINTMENT_KEY, None)
    new = Case(
        campaign_id=case.campaign_id,
        contact_id=case.contact_id,
        external_ref=ref,
        anchor_date=anchor,
        department=case.department,
        ward=case.ward,
        details=details,
        status=CaseStatus.PENDING,
        attempts_made=0,
        next_call_at=call_at,
        deadline_at=deadline,
        created_at=now,
    )
    try:
        # The constraint, not a look-up first, settles a replayed or concurrent settlement.
        with session.begin_nested():
            session.add(new)
    except IntegrityError:
        return None
    log.info(
        "follow-up scheduled",
        extra={"action": "case.follow_up_scheduled", "case_id": case.id, "next_case_id": new.id},
    )
    return new
