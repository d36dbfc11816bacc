"""Concurrent-call caps: the lines in use, counted once per claimed batch under the caps' locks.

A campaign's `max_concurrent` and IVR_MAX_CONCURRENT_CALLS per caller id count the cases with a
call in flight under a lock on the campaign's row (or the caller id's pace row) that is held until
the batch commits, so two dispatchers cannot both take the last free line.
"""

from __future__ import annotations

import math

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ivr.campaigns.options import CampaignConfig
from ivr.models import Campaign, Case, CaseStatus, DialPace
from ivr.services import Services
from scheduler.pacing import ensure_pace_row


class Lines:
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
                lock = select(DialPace.key).where(DialPace.key == key).with_for_update()
                if self._session.execute(lock).first() is None:
                    # The migration seeds the row; a deployment whose caller id changed has none.
                    ensure_pace_row(self._session.connection(), key)
                    self._session.execute(lock)
                # Every campaign of a deployment dials from its one caller id.
                self._caller_free = cap - in_flight(self._session)
        return self._caller_free > 0

    def campaign_free(self, campaign_id: int, config: CampaignConfig) -> bool:
        if campaign_id not in self._campaign_free:
            cap = config.max_concurrent
            if not cap:
                self._campaign_free[campaign_id] = math.inf
            else:
                # The campaign row's lock makes count-then-claim atomic across dispatchers; it is
                # held until this batch commits, so the next dispatcher counts our calls too.
                self._session.execute(
                    select(Campaign.id).where(Campaign.id == campaign_id).with_for_update()
                )
                busy = in_flight(self._session, Case.campaign_id == campaign_id)
                self._campaign_free[campaign_id] = cap - busy
        return self._campaign_free[campaign_id] > 0

    def take(self, campaign_id: int) -> None:
        self._campaign_free[campaign_id] -= 1
        if self._caller_free is not None:
            self._caller_free -= 1


def in_flight(session: Session, *where: ColumnElement[bool]) -> int:
    """Cases with a call in flight, of one campaign or (no filter) of the whole deployment."""
    query = select(func.count()).select_from(Case).where(Case.status == CaseStatus.IN_CALL, *where)
    return session.scalar(query) or 0
