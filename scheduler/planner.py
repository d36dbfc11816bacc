"""When may a case be called next? Pure functions of their inputs, time included.

Every datetime going in must be aware and every datetime coming out is aware UTC. Calling windows
are local wall-clock times in the contact's zone: an instant is callable when its local wall time
lies in a window that opened on a callable day. That one definition settles the DST traps: a
window whose start falls in a spring-forward gap opens at the first instant after the gap; a
window that falls wholly in the gap does not open that day; on a fall-back day a window over the
repeated hour is callable in both passes of it, but not in the part of the second pass before the
window's start.

The campaign's calendar (scheduler.windows, scheduler.days) says which windows open when:

- windows per weekday, or the same every day; a window ending at or before its start crosses
  midnight and belongs to the day it starts on (a Friday 22:00-02:00 shift runs into Saturday);
- a day rule (`days`): all days, working days of the region (weekends and public holidays
  skipped, adjusted working days 调休 called, in their own weekday's windows or, when that day
  has none, in the first weekday's that has), or every day but holiday breaks (public holidays,
  days off in lieu and the weekend days joined to them; ordinary weekends are called). It
  applies to the day a window starts on;
- a blackout list: no call at any instant of those local dates, so a blackout also cuts the
  previous evening's window at midnight.

A call must start at or after `earliest` (the anchor's local midnight plus the offset, the last
attempt plus the retry spacing, now) and strictly before the deadline. With `rotate`, the next
attempt prefers a window of the other part of the day than the last attempt's (a morning window
starts before 12:00): it takes the first such instant within ROTATION_HORIZON of the plain earliest
one and before the deadline, and otherwise the plain earliest one, so rotation never delays a call
by more than a day. The search looks SEARCH_SPAN ahead at most.

Speed: the callable intervals of each UTC day are computed once per zone and cached on the
campaign's Schedule (scheduler.schedule), so the common plan is a dictionary look-up and a short
scan. scheduler.capacity says when a deadline is at risk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.days import DayRule
from scheduler.schedule import Schedule, first_instant_from, schedule_of
from scheduler.windows import (
    WeeklyWindows,
    Window,
    format_windows,
    ordered,
    parse_windows,
)

__all__ = [
    "ROTATION_HORIZON",
    "SEARCH_SPAN",
    "CallPolicy",
    "Schedule",
    "Window",
    "anchor_start",
    "deadline_at",
    "excluded_reason",
    "first_call_earliest",
    "format_duration",
    "format_windows",
    "next_call_at",
    "parse_duration",
    "parse_windows",
    "plan_next_call",
    "retry_earliest",
    "schedule_of",
]

SEARCH_SPAN = timedelta(days=400)
"""How far past `earliest` next_call_at looks before giving up."""

ROTATION_HORIZON = timedelta(days=1)
"""How much later than the plain earliest instant a rotated attempt may be placed."""

_CACHE_LIMIT = 50_000  # anchors remembered; past it the cache starts afresh

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

# One callable stretch of UTC time: start, end, and whether its window is a morning one.
_Interval = tuple[datetime, datetime, bool]


def parse_duration(text: str) -> timedelta:
    """Parse "7d", "72h", "90m", "30s" or a combination in that order such as "1d12h"."""
    part = text.strip()
    match = _DURATION_RE.fullmatch(part)
    if not part or match is None:
        raise ValueError(f"duration {text!r} is not like '7d', '72h', '90m', '30s' or '2h30m'")
    days, hours, minutes, seconds = (int(value or 0) for value in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a duration as parse_duration reads it: 7 days -> "7d", 36 hours -> "1d12h"."""
    if value < timedelta(0) or value.microseconds:
        raise ValueError(f"duration {value} must be a non-negative whole number of seconds")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = zip((value.days, hours, minutes, seconds), "dhms", strict=True)
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0s"


@dataclass(frozen=True)
class CallPolicy:
    """When a campaign's cases may be called, relative to each case's anchor date.

    Durations are exact elapsed time: timedelta cannot tell "3d" from "72h", and a rule such as
    "within 72 hours" must not stretch to 73 across a DST change. A "7d" offset therefore lands an
    hour off local midnight when a change falls in between, which is outside any daytime window.
    `windows` are the same every day (a tuple) or per weekday; `days` None calls every day.
    """

    offset: timedelta
    windows: tuple[Window, ...] | WeeklyWindows
    max_attempts: int
    retry_spacing: timedelta
    deadline_after: timedelta | None = None
    excluded_wards: frozenset[str] = frozenset()
    days: DayRule | None = None
    blackout: frozenset[date] = frozenset()
    rotate: bool = False
    #: the windows, day rule and blackout as one searchable calendar, shared by equal policies
    schedule: Schedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.windows, WeeklyWindows):
            if not self.windows.all_windows():
                raise ValueError("a call policy needs at least one calling window")
        else:
            if not self.windows:
                raise ValueError("a call policy needs at least one calling window")
            if tuple(self.windows) != ordered(self.windows, wrap=True):
                raise ValueError("calling windows must be sorted by start time")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.offset < timedelta(0) or self.retry_spacing < timedelta(0):
            raise ValueError("offset and retry_spacing must not be negative")
        if self.deadline_after is not None and self.deadline_after <= self.offset:
            raise ValueError("deadline_after must be later than offset, or no case can be called")
        object.__setattr__(self, "schedule", schedule_of(self.windows, self.days, self.blackout))


_ANCHOR_STARTS: dict[tuple[date, ZoneInfo], datetime] = {}


def anchor_start(anchor: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local day `anchor` begins in `tz`."""
    cached = _ANCHOR_STARTS.get((anchor, tz))
    if cached is None:
        # Some zones (America/Havana, America/Santiago) spring forward at midnight, so 00:00
        # does not exist on that day and the day begins at 01:00.
        cached = first_instant_from(datetime.combine(anchor, time()), tz)
        if len(_ANCHOR_STARTS) >= _CACHE_LIMIT:
            _ANCHOR_STARTS.clear()
        _ANCHOR_STARTS[(anchor, tz)] = cached
    return cached


def first_call_earliest(anchor: date, policy: CallPolicy, tz: ZoneInfo) -> datetime:
    """The earliest UTC instant of the first call: the anchor's local midnight plus the offset."""
    return anchor_start(anchor, tz) + policy.offset


def deadline_at(anchor: date, policy: CallPolicy, tz: ZoneInfo) -> datetime | None:
    """The UTC instant by which calls must have been made, or None when there is no deadline."""
    if policy.deadline_after is None:
        return None
    return anchor_start(anchor, tz) + policy.deadline_after


def retry_earliest(last_attempt_at: datetime, policy: CallPolicy) -> datetime:
    """The earliest UTC instant of the next attempt after one that started at `last_attempt_at`."""
    if last_attempt_at.tzinfo is not UTC:
        _require_aware(last_attempt_at, "last_attempt_at")
        last_attempt_at = last_attempt_at.astimezone(UTC)
    return last_attempt_at + policy.retry_spacing


def next_call_at(
    earliest: datetime,
    windows: Sequence[Window] | WeeklyWindows | Schedule,
    tz: ZoneInfo,
    deadline: datetime | None = None,
) -> datetime | None:
    """The first instant at or after `earliest`, before `deadline`, inside a window; else None.

    Pass `policy.schedule` to honour the campaign's day rule and blackout dates too.
    """
    _require_aware(earliest, "earliest")
    schedule = schedule_of(windows)
    start = earliest.astimezone(UTC)
    found = schedule.first(start, tz, _limit(start, deadline))
    return None if found is None else found[0]


def excluded_reason(ward: str | None, policy: CallPolicy) -> str | None:
    """Why a case from `ward` must not be called ("ward ICU is excluded"), or None."""
    if ward is None or not ward.strip():
        return None
    key = ward.strip().casefold()
    matches = sorted(
        name.strip() for name in policy.excluded_wards if name.strip().casefold() == key
    )
    return f"ward {matches[0]} is excluded" if matches else None


class _Unset:
    """Marks an argument left out (None is a meaningful deadline: there is none)."""


_UNSET = _Unset()


def plan_next_call(
    *,
    anchor: date,
    attempts_made: int,
    last_attempt_at: datetime | None,
    policy: CallPolicy,
    tz: ZoneInfo,
    now: datetime,
    deadline: datetime | _Unset | None = _UNSET,
) -> datetime | None:
    """When to place the next attempt for a case, or None when it may not be called again.

    `deadline` overrides the policy's (a case whose own rule sets it, e.g. a 10-day cooling-off
    period in a campaign of 15, or one counted from the receipt's time of day); pass the case's
    stored deadline. Left out, the deadline is computed from the policy and the anchor date.
    """
    # The checks and conversions are skipped for UTC datetimes: this runs for every due case.
    if now.tzinfo is not UTC:
        _require_aware(now, "now")
        now = now.astimezone(UTC)
    if attempts_made < 0:
        raise ValueError(f"attempts_made must not be negative, not {attempts_made}")
    if attempts_made >= policy.max_attempts:
        return None
    start = _ANCHOR_STARTS.get((anchor, tz)) or anchor_start(anchor, tz)
    earliest = start + policy.offset
    if now > earliest:
        earliest = now
    if last_attempt_at is not None:
        retry = retry_earliest(last_attempt_at, policy)
        if retry > earliest:
            earliest = retry
    if isinstance(deadline, _Unset):
        limit = earliest + SEARCH_SPAN
        if policy.deadline_after is not None and start + policy.deadline_after < limit:
            limit = start + policy.deadline_after
    else:
        limit = _limit(earliest, deadline)
    schedule = policy.schedule
    found = schedule.first(earliest, tz, limit)
    if found is None or not policy.rotate or last_attempt_at is None:
        return None if found is None else found[0]
    plain, morning = found
    previous = schedule.morning_at(last_attempt_at, tz)
    if morning is not previous:
        return plain
    # Same part of the day as last time: try the other part, if it comes soon enough.
    other = schedule.first(earliest, tz, min(limit, plain + ROTATION_HORIZON), not previous)
    return plain if other is None else other[0]


def _limit(start: datetime, deadline: datetime | None) -> datetime:
    """The exclusive end of a search from `start` (UTC): the deadline or SEARCH_SPAN."""
    limit = start + SEARCH_SPAN
    if deadline is not None:
        if deadline.tzinfo is not UTC:
            _require_aware(deadline, "deadline")
            deadline = deadline.astimezone(UTC)
        if deadline < limit:
            limit = deadline
    return limit


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")
