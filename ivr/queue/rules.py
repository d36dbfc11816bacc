"""Escalation terms per reason: priority and how long a person has to act. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from ivr.calendar import WorkCalendar


@dataclass(frozen=True)
class WorkingDays:
    """An SLA counted in working days of the calendar (see WorkCalendar.add_working_days)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"an SLA needs at least 1 working day, got {self.n}")


# A clock duration (hours) or working days. A term relative to the case's own deadline
# (deadline_at_risk: "before the case's deadline") is the reason's term cut short by the deadline:
# raise_escalation(due_by=deadline).
Sla = timedelta | WorkingDays


@dataclass(frozen=True)
class Terms:
    """How urgent an escalation is."""

    priority: int  # 1 most urgent
    sla: Sla


# Clinical signals are answered first; the regulated ones within working days of China's calendar.
TERMS: dict[str, Terms] = {
    "clinical_concern": Terms(1, timedelta(hours=24)),
    # Raised while a person can still call before the case's deadline, and due before it (the
    # dialler passes the deadline as due_by): the next working day at the latest.
    "deadline_at_risk": Terms(1, WorkingDays(1)),
    # A caller who failed identity checks may be a fraud attempt on the policy: next working day.
    "identity_failed": Terms(1, WorkingDays(1)),
    "requested_agent": Terms(2, timedelta(hours=24)),
    "low_satisfaction": Terms(2, timedelta(hours=72)),
    "complaint": Terms(2, WorkingDays(3)),
    # The regulator's own figure: a suspected mis-selling case is resolved within 15 working days.
    "missell_suspected": Terms(2, WorkingDays(15)),
    "provider_error": Terms(2, timedelta(hours=24)),
    "reschedule": Terms(3, WorkingDays(2)),
    "partial": Terms(3, timedelta(hours=48)),
    "unreachable": Terms(3, timedelta(hours=72)),
    # Only a machine ever answered: a person may still be reached on another line or hour.
    "machine_answered": Terms(3, timedelta(hours=72)),
    "wrong_number": Terms(3, timedelta(hours=72)),
    "wrong_person": Terms(3, timedelta(hours=72)),
    # Replies to the unreachable text (ivr.queue.replies): the contact asked to be called back,
    # so they expect it soon; any other reply needs a person to read it.
    "callback_requested": Terms(2, WorkingDays(1)),
    "sms_reply": Terms(3, timedelta(hours=72)),
}
DEFAULT_TERMS = Terms(3, timedelta(hours=72))


def terms_for(reason: str) -> Terms:
    """The terms for a reason (unknown reasons get the default terms)."""
    return TERMS.get(reason, DEFAULT_TERMS)


def due_at(
    reason: str, raised_at: datetime, calendar: WorkCalendar, *, same_day: bool = False
) -> datetime:
    """When an escalation raised at raised_at is overdue (aware UTC).

    ``same_day`` overrides the reason's term with end_of_working_day (a campaign whose rules say
    so: renovation complaints reach the manager the same day). Raises CalendarDataMissingError
    when a working-day term reaches a year the calendar has no official data for (and the
    calendar was not built to estimate).
    """
    if raised_at.tzinfo is None:
        raise ValueError("raised_at must be an aware datetime")
    if same_day:
        return end_of_working_day(raised_at, calendar)
    sla = terms_for(reason).sla
    if isinstance(sla, WorkingDays):
        return calendar.add_working_days(raised_at, sla.n)
    return raised_at + sla


def end_of_working_day(raised_at: datetime, calendar: WorkCalendar) -> datetime:
    """The end of raised_at's local day in the calendar's zone if people work that day, else the
    end of the next working day; aware UTC (the first instant of the following local day).
    """
    if raised_at.tzinfo is None:
        raise ValueError("raised_at must be an aware datetime")
    # The day is the calendar's (the company's) day, not the contact's: a complaint raised at
    # 23:30 in Urumqi is still due at midnight in Beijing, where the manager works.
    day = raised_at.astimezone(calendar.tz).date()
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    # fold=0 maps a midnight that a DST change skips or repeats to the instant the day starts.
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    return end.astimezone(UTC)
