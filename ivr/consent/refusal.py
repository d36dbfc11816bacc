"""The check the dispatcher makes before it dials: the do-not-call list, then the call caps.

Both look across every campaign: the person is the number, whichever program calls it.
`dial_refusal` decides; `hold_back` is the dispatcher's one call, which also acts on the answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ivr.attempts import close_case
from ivr.campaigns.options import CampaignConfig
from ivr.cases.planning import close_without_window, plan_case
from ivr.consent.caps import LOOKBACK, CallCaps, cap_reached
from ivr.consent.dnc import listed_entry
from ivr.models import Attempt, AttemptStatus, Case, CaseOutcome, Contact
from ivr.privacy import mask_phone

__all__ = ["Held", "Refusal", "dial_refusal", "earlier_calls", "hold_back"]

log = logging.getLogger(__name__)

Held = Literal["opted_out", "rescheduled", "missed_deadline", "number_busy"]


@dataclass(frozen=True)
class Refusal:
    """Why a number may not be dialled now."""

    reason: Literal["do_not_call", "daily_cap", "weekly_cap"]
    #: the earliest instant the caps allow a call (aware UTC); None for do-not-call: never
    not_before: datetime | None = None


def dial_refusal(
    session: Session,
    phone: str,
    now: datetime,
    *,
    tz: ZoneInfo,
    daily_cap: int | None,
    weekly_cap: int | None,
) -> Refusal | None:
    """None when the number may be dialled now; else why not and, for a cap, from when."""
    if listed_entry(session, phone, now) is not None:
        return Refusal("do_not_call")
    return _cap_refusal(session, phone, now, tz, CallCaps(daily_cap, weekly_cap))


def _cap_refusal(
    session: Session, phone: str, now: datetime, tz: ZoneInfo, caps: CallCaps
) -> Refusal | None:
    if caps.none:
        return None
    reached = cap_reached(earlier_calls(session, phone, now), caps, tz=tz, now=now)
    if reached is None:
        return None
    return Refusal("daily_cap" if reached.cap == "daily" else "weekly_cap", reached.until)


def earlier_calls(session: Session, phone: str, now: datetime) -> Sequence[datetime]:
    """When the number was dialled in the lookback the caps need, in any campaign.

    An attempt counts unless it ended in error without ever being placed: a create the provider
    refused must not cost the person their one call of the day. A create whose answer was lost
    stays counted while it is in flight (it may be ringing); only if the sweep later gives up on it
    without a single callback does it stop counting.
    """
    query = (
        select(Attempt.created_at)
        .join(Case, Attempt.case_id == Case.id)
        .join(Contact, Case.contact_id == Contact.id)
        .where(
            Contact.phone == phone,
            Attempt.created_at > now - LOOKBACK,
            or_(Attempt.status != AttemptStatus.ERROR, Attempt.placed_at.is_not(None)),
        )
    )
    return list(session.scalars(query))


def hold_back(
    session: Session,
    case: Case,
    config: CampaignConfig,
    *,
    planned: datetime | None,
    now: datetime,
) -> Held | None:
    """Keep a due case from being dialled when consent or the caps say so; None: dial it.

    `planned` is the dispatcher's re-plan of the case at `now`. A listed number closes the case
    as opted out whatever the plan (no escalation: a person must not call them back either). A
    case the plan does not dial now is left to the dispatcher. A capped case moves to the first
    calling window at or after the instant the caps allow, or is closed like any case with no
    window left before its deadline. "number_busy": another dispatcher is claiming a call to the
    same number right now; the case stays due for the next pass.
    """
    contact = case.contact
    if listed_entry(session, contact.phone, now) is not None:
        close_case(session, case, CaseOutcome.OPTED_OUT, now)
        log.info(
            "number on the do-not-call list; case closed",
            extra={
                "action": "call.do_not_call",
                "case_id": case.id,
                "to": mask_phone(contact.phone),
            },
        )
        return "opted_out"
    if planned is None or planned > now:
        return None
    tz = ZoneInfo(contact.timezone)
    caps = CallCaps(config.daily_cap, config.weekly_cap)
    if not caps.none and not _number_lock(session, contact.phone):
        return "number_busy"
    refusal = _cap_refusal(session, contact.phone, now, tz, caps)
    if refusal is None or refusal.not_before is None:
        return None
    later = plan_case(case, config.policy, refusal.not_before)
    log.info(
        "call cap reached; case moved",
        extra={
            "action": f"call.{refusal.reason}",
            "case_id": case.id,
            "to": mask_phone(contact.phone),
            "next_call_at": None if later is None else later.isoformat(),
        },
    )
    if later is None:
        why = "no calling window left before the deadline under the call caps"
        close_without_window(session, case, now, why)
        return "missed_deadline"
    case.next_call_at = later
    return "rescheduled"


def _number_lock(session: Session, phone: str) -> bool:
    """Take the number's claim lock until this transaction ends; False if another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite runs one writing transaction at a time: claims are already serial
    # Two dispatchers claiming cases of one number (two campaigns) would each count the other's
    # call as not made yet. The lock holds until the claim, attempt row included, commits. A try
    # rather than a wait: a dispatcher holding one number's lock while waiting for another's
    # could deadlock with one doing the opposite.
    key = int.from_bytes(hashlib.sha256(phone.encode()).digest()[:8], "big", signed=True)
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(key))))
