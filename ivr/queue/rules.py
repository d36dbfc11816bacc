"""Escalation terms per reason: priority and how long a person has to act. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from ivr.calendar import WorkCalendar
from scheduler.planner import format_duration, parse_duration


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

# Escalation.reason is 50 characters; a reason is a word like the flows' own.
REASON = re.compile(r"[a-z][a-z0-9_]{0,49}")
MAX_WORKING_DAYS = 60
MAX_SLA = timedelta(days=90)
MAX_PRIORITY = 9
# The regulator's maximum (REQUIREMENTS.md section 6): a campaign may shorten it, never lengthen.
CAPPED = {"missell_suspected": (WorkingDays(15), timedelta(days=15))}


@dataclass(frozen=True)
class TermTable:
    """A campaign's own terms (options sla and priority) over the starting set, TERMS."""

    sla: Mapping[str, Sla] = field(default_factory=dict)
    priority: Mapping[str, int] = field(default_factory=dict)

    def terms_for(self, reason: str) -> Terms:
        """The reason's terms: the campaign's, else the starting set's, else DEFAULT_TERMS."""
        base = TERMS.get(reason, DEFAULT_TERMS)
        return Terms(self.priority.get(reason, base.priority), self.sla.get(reason, base.sla))

    def has_sla(self, reason: str) -> bool:
        """True when the reason has an SLA term of its own (not the 72 h default)."""
        return reason in TERMS or reason in self.sla

    def reasons(self) -> tuple[str, ...]:
        """Every reason with terms: the starting set in its order, then the campaign's new ones."""
        added = sorted((set(self.sla) | set(self.priority)) - set(TERMS))
        return (*TERMS, *added)

    def source(self, reason: str) -> str:
        """Where the reason's terms come from: campaign, default (TERMS) or fallback."""
        if reason in self.sla or reason in self.priority:
            return "campaign"
        return "default" if reason in TERMS else "fallback"


GLOBAL_TERMS = TermTable()


def terms_for(reason: str, table: TermTable = GLOBAL_TERMS) -> Terms:
    """The terms for a reason (unknown reasons get the default terms)."""
    return table.terms_for(reason)


def format_sla(sla: Sla) -> str:
    """An SLA as the sla option writes it: 3wd, or a duration such as 72h or 1d12h."""
    return f"{sla.n}wd" if isinstance(sla, WorkingDays) else format_duration(sla)


def parse_sla(text: str, reason: str = "") -> Sla:
    """`3wd` (working days) or a clock duration (`4h`, `2d`, `1d12h`); ValueError otherwise."""
    term = text.strip().lower()
    sla: Sla
    if term.endswith("wd") and term[:-2].isdigit():
        days = int(term[:-2])
        if not 1 <= days <= MAX_WORKING_DAYS:
            raise ValueError(f"{reason}: working days are 1 to {MAX_WORKING_DAYS}, got {text!r}")
        sla = WorkingDays(days)
    else:
        try:
            sla = parse_duration(term)
        except ValueError:
            raise ValueError(
                f"{reason}: {text!r} is not a term such as 3wd (working days), 24h or 2d"
            ) from None
        if not timedelta(0) < sla <= MAX_SLA:
            raise ValueError(f"{reason}: a term is more than 0 and at most 90d, got {text!r}")
    if reason in CAPPED:
        most_days, most_time = CAPPED[reason]
        too_long = sla.n > most_days.n if isinstance(sla, WorkingDays) else sla > most_time
        if too_long:
            raise ValueError(
                f"{reason} is resolved within {most_days.n} working days of discovery (the "
                f"regulator's maximum); {text!r} is longer"
            )
    return sla


def reason_pairs(text: str, what: str = "TERM") -> dict[str, str]:
    """`reason=value,...` into a mapping; none or empty is no pair."""
    if text.strip().lower() in ("", "none"):
        return {}
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        reason, sep, value = (piece.strip() for piece in item.partition("="))
        if not sep or not value:
            raise ValueError(f"{item!r} is not REASON={what}, e.g. complaint=3wd")
        reason = reason.lower()
        if not REASON.fullmatch(reason):
            raise ValueError(f"reason {reason!r} is not a lower-case word joined by _")
        if reason in pairs:
            raise ValueError(f"{reason} is given twice")
        pairs[reason] = value
    return pairs


def parse_sla_terms(text: str) -> dict[str, Sla]:
    """The sla option: `complaint=3wd,callback_requested=4h`, or none."""
    return {reason: parse_sla(term, reason) for reason, term in reason_pairs(text, "TERM").items()}


def format_sla_terms(terms: Mapping[str, Sla]) -> str:
    """The sla option, canonical: sorted by reason."""
    return ",".join(f"{reason}={format_sla(terms[reason])}" for reason in sorted(terms)) or "none"


def parse_priorities(text: str) -> dict[str, int]:
    """The priority option: `complaint=1,sms_reply=2`, or none (1 is the most urgent)."""
    priorities: dict[str, int] = {}
    for reason, value in reason_pairs(text, "PRIORITY").items():
        if not value.isdigit() or not 1 <= int(value) <= MAX_PRIORITY:
            raise ValueError(f"{reason}: a priority is 1 (most urgent) to {MAX_PRIORITY}")
        priorities[reason] = int(value)
    return priorities


def format_priorities(priorities: Mapping[str, int]) -> str:
    """The priority option, canonical: sorted by reason."""
    return ",".join(f"{reason}={priorities[reason]}" for reason in sorted(priorities)) or "none"


def due_at(
    reason: str,
    raised_at: datetime,
    calendar: WorkCalendar,
    *,
    same_day: bool = False,
    table: TermTable = GLOBAL_TERMS,
) -> datetime:
    """When an escalation raised at raised_at is overdue (aware UTC).

    The reason's term is the campaign's (``table``) where it sets one. ``same_day`` overrides it
    with end_of_working_day (a campaign whose rules say so: renovation complaints reach the
    manager the same day). Raises CalendarDataMissingError when a working-day term reaches a year
    the calendar has no official data for (and the calendar was not built to estimate).
    """
    if raised_at.tzinfo is None:
        raise ValueError("raised_at must be an aware datetime")
    if same_day:
        return end_of_working_day(raised_at, calendar)
    sla = table.terms_for(reason).sla
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
