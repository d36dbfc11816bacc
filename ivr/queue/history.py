"""An escalation's history: one EscalationEvent per action, written in the action's transaction."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.models import EscalationEvent

# Runs of 6+ digits (phone, ID and policy numbers) are masked: agents type notes freely, and the
# history is read by everyone who works the queue.
_LONG_NUMBER = re.compile(r"\+?\d[\d \-]{4,}\d")
_MAX_DETAIL = 300


def masked(text: str | None) -> str | None:
    """A note fit for the history: long numbers masked, cut to a few hundred characters."""
    if text is None:
        return None
    short = _LONG_NUMBER.sub("•••", " ".join(text.split()))
    return short if len(short) <= _MAX_DETAIL else short[: _MAX_DETAIL - 1] + "…"


def add_event(
    session: Session,
    escalation_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    detail: str | None = None,
) -> EscalationEvent:
    """Append one step to the escalation's history (flushed, so it has its id)."""
    event = EscalationEvent(
        escalation_id=escalation_id, at=at, actor=actor, action=action, detail=detail
    )
    session.add(event)
    session.flush()
    return event


def history_of(session: Session, escalation_id: int) -> list[EscalationEvent]:
    """The escalation's events in the order they were written."""
    # By id, not time: clocks of several workers may disagree, the order of writing cannot.
    query = (
        select(EscalationEvent)
        .where(EscalationEvent.escalation_id == escalation_id)
        .order_by(EscalationEvent.id)
    )
    return list(session.scalars(query))
