"""Settle attempts whose outcome never reached us, by asking the provider rather than guessing.

Two kinds of attempt wait for an answer that may never come:

- a create whose answer was lost (a 5xx or a timeout after the request left): the call may be
  ringing or may not exist. Creating a call is not idempotent, so the case is not dialled again
  until the provider's call list says which (`find_call`, by number and creation time);
- a call whose final status callback never came: after its time limit plus a margin the
  provider is asked for the call (`fetch_call`) and its final status is applied as a callback's.

The provider is asked outside any transaction (a slow answer must not hold row locks), then the
attempt is locked and settled only if nothing settled it meanwhile. While the provider cannot
answer, the attempt waits; after GIVE_UP_AFTER it is settled as an error so no case waits forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ivr.attempts import record_status, settle_attempt
from ivr.models import Attempt, AttemptStatus, Case, Contact
from ivr.services import Services
from ivr.telephony.port import CallRequest, ProviderCall, TelephonyError

log = logging.getLogger(__name__)

TIME_LIMIT_S = 600  # longest call we allow; the survey takes two or three minutes
# A create whose answer was lost is looked up after this long: long past any HTTP timeout, so the
# request is no longer in flight, and soon enough that the case is not held up for long.
UNCERTAIN_AFTER = timedelta(minutes=2)
# A call with no final status this long after its attempt was written is looked up: ring time,
# the time limit and a margin for the provider's callback retries.
STALE_AFTER = timedelta(seconds=TIME_LIMIT_S + 120 + 15 * 60)
# The provider could not tell us for this long: settle as an error rather than wait for ever.
GIVE_UP_AFTER = timedelta(hours=24)
# Other attempts' calls written this long before ours can still look like ours to a provider
# whose clock runs behind; older ones cannot.
_TAKEN_SPAN = timedelta(minutes=10)
_BATCH = 100  # attempts looked up per pass; the rest wait for the next one


@dataclass(frozen=True)
class _Lookup:
    attempt_id: int
    call_sid: str | None
    created_at: datetime
    to: str


def reconcile_stale(services: Services) -> int:
    """Settle attempts that never got a final status, as the provider tells; returns how many."""
    now = services.clock()
    settled = 0
    for lookup in _waiting(services, now):
        try:
            found = _ask(services, lookup)
        except TelephonyError as exc:
            if now - lookup.created_at < GIVE_UP_AFTER:
                log.warning(
                    "provider could not tell an attempt's call; asking again later",
                    extra={
                        "action": "reconcile.deferred",
                        "attempt_id": lookup.attempt_id,
                        "error": str(exc),
                    },
                )
                continue
            found = None
        if _settle(services, lookup, found, now):
            settled += 1
    if settled:
        log.warning("attempts reconciled", extra={"action": "reconcile", "count": settled})
    return settled


def _waiting(services: Services, now: datetime) -> list[_Lookup]:
    # Plain rows with the number joined in: this runs on every pass, and finds nothing on most.
    with services.sessions() as session:
        rows = session.connection().execute(
            select(Attempt.id, Attempt.call_sid, Attempt.created_at, Contact.phone)
            .join(Case, Case.id == Attempt.case_id)
            .join(Contact, Contact.id == Case.contact_id)
            .where(
                Attempt.settled_at.is_(None),
                Attempt.status.not_in([s for s in AttemptStatus if s.terminal]),
                or_(
                    and_(Attempt.call_sid.is_(None), Attempt.created_at < now - UNCERTAIN_AFTER),
                    Attempt.created_at < now - STALE_AFTER,
                ),
            )
            .order_by(Attempt.created_at)
            .limit(_BATCH)
        )
        return [_Lookup(*row) for row in rows]


def _ask(services: Services, lookup: _Lookup) -> ProviderCall | None:
    """The provider's call for the attempt, or None when it has none."""
    telephony = services.telephony
    if telephony is None:
        raise TelephonyError("no provider configured to ask")
    if lookup.call_sid is None:
        request = CallRequest(
            attempt_id=lookup.attempt_id,
            to=lookup.to,
            from_=services.settings.twilio_from_number,
            voice_url="",
            status_callback_url="",
            recording_callback_url="",
            amd_callback_url="",
        )
        return telephony.find_call(request, since=lookup.created_at, taken=_taken(services, lookup))
    try:
        return telephony.fetch_call(lookup.call_sid)
    except TelephonyError as exc:
        if exc.http_status == 404:
            return None
        raise


def _taken(services: Services, lookup: _Lookup) -> set[str]:
    """Calls already bound to other attempts to the same number around the attempt's time.

    One number can be dialled by several cases (a family phone, a test run): the first call to it
    after the attempt may be another attempt's, and binding that one would bind a call twice.
    """
    with services.sessions() as session:
        return set(
            session.scalars(
                select(Attempt.call_sid)
                .join(Attempt.case)
                .join(Case.contact)
                .where(
                    Contact.phone == lookup.to,
                    Attempt.id != lookup.attempt_id,
                    Attempt.call_sid.is_not(None),
                    Attempt.created_at >= lookup.created_at - _TAKEN_SPAN,
                )
            )
        )


def _settle(services: Services, lookup: _Lookup, found: ProviderCall | None, now: datetime) -> bool:
    with services.sessions.begin() as session:
        # skip_locked: a callback settling this very attempt holds its row; it is being done.
        attempt = session.scalars(
            select(Attempt).where(Attempt.id == lookup.attempt_id).with_for_update(skip_locked=True)
        ).one_or_none()
        if attempt is None or attempt.settled_at is not None or attempt.status.terminal:
            return False
        if found is None:
            return _settle_as_error(session, services, attempt, now)
        if attempt.call_sid is None:
            if session.scalar(select(Attempt.id).where(Attempt.call_sid == found.call_sid)):
                return False  # bound to another attempt since we asked: ask again next pass
            attempt.call_sid = found.call_sid
        if not found.final:
            if now - attempt.created_at < GIVE_UP_AFTER:
                # The call exists and is live (or queued at the provider): its callbacks will come.
                return False
            return _settle_as_error(session, services, attempt, now)
        attempt.answered_by = attempt.answered_by or found.answered_by
        record_status(
            session,
            services,
            attempt,
            AttemptStatus(found.status),
            sequence=None,
            duration_s=found.duration_s,
            now=now,
        )
        log.info(
            "attempt settled from the provider's record",
            extra={"action": "reconcile.settled", "attempt_id": attempt.id, "status": found.status},
        )
        return True


def _settle_as_error(session: Session, services: Services, attempt: Attempt, now: datetime) -> bool:
    attempt.status = AttemptStatus.ERROR
    attempt.error_message = attempt.error_message or "the provider has no record of this call"
    attempt.ended_at = now
    settle_attempt(session, services, attempt, now)
    return True
