"""Escalation terms per reason: priority and how long a person has to act. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Terms:
    """How urgent an escalation is."""

    priority: int  # 1 most urgent
    sla: timedelta


# Clinical signals are answered first; the rest within working time. Working-day SLAs with
# holidays (complaint: 3 working days, mis-selling: 15) come with the queue issue.
TERMS: dict[str, Terms] = {
    "clinical_concern": Terms(1, timedelta(hours=24)),
    "requested_agent": Terms(2, timedelta(hours=24)),
    "low_satisfaction": Terms(2, timedelta(hours=72)),
    "complaint": Terms(2, timedelta(hours=72)),
    "provider_error": Terms(2, timedelta(hours=24)),
    "partial": Terms(3, timedelta(hours=48)),
    "unreachable": Terms(3, timedelta(hours=72)),
    "wrong_number": Terms(3, timedelta(hours=72)),
    "wrong_person": Terms(3, timedelta(hours=72)),
}
DEFAULT_TERMS = Terms(3, timedelta(hours=72))


def terms_for(reason: str) -> Terms:
    """The terms for a reason (unknown reasons get the default terms)."""
    return TERMS.get(reason, DEFAULT_TERMS)


def due_at(reason: str, raised_at: datetime) -> datetime:
    """When an escalation raised at raised_at is overdue."""
    return raised_at + terms_for(reason).sla
