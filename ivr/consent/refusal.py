"""The check the dispatcher makes before it dials: the do-not-call list, then the call caps.

Both look across every campaign: the person is the number, whichever program calls it.
`dial_refusal` decides; `hold_back` is the dispatcher's one call, which also acts on the answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.orm import Session

from ivr.attempts import close_case
from ivr.campaigns.options import CampaignConfig
from ivr.cases.planning import close_without_window, plan_case
from ivr.consent.caps import LOOKBACK, CallCaps, cap_reached
from ivr.consent.dnc import listed_entry
from ivr.db import any_of
from ivr.models import Attempt, AttemptStatus, Case, CaseOutcome, Contact, DoNotCall
from ivr.privacy import mask_phone

__all__ = [
    "ConsentView",
    "Held",
    "Refusal",
    "consent_view",
    "dial_refusal",
    "earlier_calls",
    "hold_back",
]

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
        .where(Contact.phone == phone, *_counted(now))
    )
    return list(session.scalars(query))


def _counted(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The attempts the caps count (see earlier_calls)."""
    return (
        Attempt.created_at > now - LOOKBACK,
        or_(Attempt.status != AttemptStatus.ERROR, Attempt.placed_at.is_not(None)),
    )


@dataclass
class ConsentView:
    """What the consent check reads for a batch of due cases, each fetched in one query.

    `locked`: the numbers whose claim lock this transaction holds (see `consent_view`); the
    others are being claimed by another dispatcher right now. A claim made from the batch is
    noted with `dialled`, so a second case of the same number in the batch counts it.
    """

    listed: set[str]
    earlier: dict[str, list[datetime]]
    locked: set[str]

    def dialled(self, phone: str, at: datetime) -> None:
        """Count a call to `phone` claimed at `at` in this batch."""
        self.earlier.setdefault(phone, []).append(at)


def consent_view(
    session: Session,
    phones: Collection[str],
    now: datetime,
    *,
    capped: Collection[str],
    listed: Collection[str] | None = None,
) -> ConsentView:
    """The do-not-call entries in force, the claim locks of the `capped` numbers (those whose
    campaign caps calls), then their earlier calls: read after the locks, so a claim another
    dispatcher committed under the lock is seen. `listed`: the entries in force among `phones`
    when the caller has read them already (the dispatcher, with its due cases)."""
    if listed is None:
        listed = _listed(session, phones, now)
    listed = set(listed)
    locked = _number_locks(session, sorted(set(capped) - listed))
    earlier: dict[str, list[datetime]] = {}
    if locked:
        engine = session.connection().engine
        for phone, created_at in session.execute(
            select(Contact.phone, Attempt.created_at)
            .join(Case, Attempt.case_id == Case.id)
            .join(Contact, Case.contact_id == Contact.id)
            .where(any_of(Contact.phone, sorted(locked), engine), *_counted(now))
        ):
            earlier.setdefault(phone, []).append(created_at)
    return ConsentView(listed=listed, earlier=earlier, locked=locked)


def _listed(session: Session, phones: Collection[str], now: datetime) -> set[str]:
    return set(
        session.scalars(
            select(DoNotCall.phone).where(
                DoNotCall.phone.in_(sorted(set(phones))),
                or_(DoNotCall.until.is_(None), DoNotCall.until > now),
            )
        )
    )


def hold_back(
    session: Session,
    case: Case,
    config: CampaignConfig,
    *,
    planned: datetime | None,
    now: datetime,
    view: ConsentView,
) -> Held | None:
    """Keep a due case from being dialled when consent or the caps say so; None: dial it.

    `planned` is the dispatcher's re-plan of the case at `now`; `view` what consent_view read
    for the batch the case is in. A listed number closes the case as opted out whatever the plan
    (no escalation: a person must not call them back either). A case the plan does not dial now
    is left to the dispatcher. A capped case moves to the first calling window at or after the
    instant the caps allow, or is closed like any case with no window left before its deadline.
    "number_busy": another dispatcher is claiming a call to the same number right now; the case
    stays due for the next pass.
    """
    contact = case.contact
    if contact.phone in view.listed:
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
    caps = CallCaps(config.daily_cap, config.weekly_cap)
    if caps.none:
        return None
    if contact.phone not in view.locked:
        return "number_busy"
    tz = ZoneInfo(contact.timezone)
    reached = cap_reached(view.earlier.get(contact.phone, ()), caps, tz=tz, now=now)
    if reached is None:
        return None
    refusal = Refusal("daily_cap" if reached.cap == "daily" else "weekly_cap", reached.until)
    later = plan_case(case, config.policy, reached.until)
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


def _number_locks(session: Session, phones: Sequence[str]) -> set[str]:
    """Take the claim locks of the numbers until this transaction ends; the ones obtained."""
    if not phones or session.get_bind().dialect.name != "postgresql":
        # SQLite runs one writing transaction at a time: claims are already serial.
        return set(phones)
    # Two dispatchers claiming cases of one number (two campaigns) would each count the other's
    # call as not made yet. The lock holds until the claim, attempt row included, commits. A try
    # rather than a wait: a dispatcher holding one number's lock while waiting for another's
    # could deadlock with one doing the opposite.
    keys = {_lock_key(phone): phone for phone in phones}
    rows = session.execute(
        text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": list(keys)},
    )
    return {keys[key] for key, got in rows if got}


def _lock_key(phone: str) -> int:
    return int.from_bytes(hashlib.sha256(phone.encode()).digest()[:8], "big", signed=True)
