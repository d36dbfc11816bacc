"""Per-number call caps: may this number be called now, and if not, from when? Pure.

Both caps are counted in the contact's local calendar days, whatever the campaign:

- **a day** is the local calendar day of the call (00:00 to 24:00 wall time in the contact's zone);
- **a week** is a rolling seven local days: the day of the call and the six before it.

A rolling week is the stricter reading of "3 calls a week": a calendar week would allow three
calls on a Sunday and three more on the Monday. Counting in local days rather than in hours keeps
the two caps in one unit and makes DST harmless: a week with a 23- or 25-hour day is still seven
days, and the earliest allowed instant is always the start of a local day, which the planner then
moves into that day's first calling window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["CallCaps", "CapReached", "cap_reached", "start_of_day"]

WEEK_DAYS = 7

#: How far back the dispatcher must look for earlier calls: a rolling week of local days, plus a
#: day for the difference between the contact's zone and UTC.
LOOKBACK = timedelta(days=WEEK_DAYS + 1)


@dataclass(frozen=True)
class CallCaps:
    """How many calls one number may get; None: no cap of that kind."""

    daily: int | None = None
    weekly: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("daily", self.daily), ("weekly", self.weekly)):
            if value is not None and value < 1:
                raise ValueError(f"the {name} cap must be at least 1, not {value}")

    @property
    def none(self) -> bool:
        """True when neither cap is set (nothing to count)."""
        return self.daily is None and self.weekly is None


@dataclass(frozen=True)
class CapReached:
    """A cap the next call would break, and the earliest instant both caps allow it."""

    cap: Literal["daily", "weekly"]
    limit: int
    until: datetime  #: aware UTC: the start of the first local day the call is allowed


def cap_reached(
    earlier: Iterable[datetime], caps: CallCaps, *, tz: ZoneInfo, now: datetime
) -> CapReached | None:
    """None when a call to the number may go now; else the cap it would break and from when not.

    `earlier` are the times of the earlier calls to the same number (any campaign), aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if caps.none:
        return None
    days: dict[date, int] = {}
    for moment in earlier:
        if moment.tzinfo is None:
            raise ValueError("earlier call times must be aware datetimes")
        day = moment.astimezone(tz).date()
        days[day] = days.get(day, 0) + 1
    if not days:
        return None  # a number never called is within any cap (each is at least 1)
    today = now.astimezone(tz).date()
    blocking = _blocking(days, caps, today)
    if blocking is None:
        return None
    # Past the last call's day counts only fall, and a week after it nothing is left to count
    # (a call "after now" can come from another dispatcher whose clock runs a little ahead).
    # The cap named is the one that holds the call back last, so the reason matches the instant.
    horizon = (max(max(days), today) - today).days + WEEK_DAYS
    for ahead in range(1, horizon + 1):
        day = today + timedelta(days=ahead)
        later = _blocking(days, caps, day)
        if later is None:
            cap, limit = blocking
            return CapReached(cap, limit, start_of_day(day, tz))
        blocking = later
    raise AssertionError("a week after the last call is always free")  # pragma: no cover


def _blocking(
    days: dict[date, int], caps: CallCaps, day: date
) -> tuple[Literal["daily", "weekly"], int] | None:
    if caps.daily is not None and days.get(day, 0) >= caps.daily:
        return "daily", caps.daily
    if caps.weekly is not None:
        week = sum(days.get(day - timedelta(days=back), 0) for back in range(WEEK_DAYS))
        if week >= caps.weekly:
            return "weekly", caps.weekly
    return None


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant, aware UTC, whose local date in tz is `day`."""
    # Midnight with fold=0 is read with the offset in force before any change at that moment, so
    # a day whose midnight is skipped by a spring-forward gap starts at the end of the gap.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
