"""Calling days: the day rule of a campaign (`days`) and its blackout dates (`blackout`).

A day rule applies to the local date a window starts on (scheduler.windows); a blackout date is
stricter: no call at any instant of it (scheduler.schedule cuts the evening before at midnight).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ivr.calendar import WorkCalendar

__all__ = [
    "DAY_RULES",
    "CalendarDays",
    "DayRule",
    "day_rule",
    "format_blackout",
    "parse_blackout",
]

DAY_RULES = ("all", "workdays", "no_holidays")
_MAX_BLACKOUT_RANGE = 366  # days: a longer range is a typo in a year, not a blackout
_MAX_BREAK = 16  # days: no holiday break is longer, so a walk through one stops here


def parse_blackout(text: str) -> frozenset[date]:
    """Parse "2026-12-24,2026-12-31..2027-01-02" (dates and inclusive ranges), or "none"."""
    if text.strip().lower() in ("", "none"):
        return frozenset()
    days: set[date] = set()
    for position, raw in enumerate(text.split(","), start=1):
        first, sep, last = raw.strip().partition("..")
        try:
            low = date.fromisoformat(first.strip())
            high = date.fromisoformat(last.strip()) if sep else low
        except ValueError:
            raise ValueError(
                f"blackout item {position} {raw.strip()!r} is not a date like 2026-12-24 or a "
                "range like 2026-12-31..2027-01-02"
            ) from None
        if high < low:
            raise ValueError(f"blackout range {raw.strip()!r} ends before it starts")
        if (high - low).days >= _MAX_BLACKOUT_RANGE:
            raise ValueError(f"blackout range {raw.strip()!r} is longer than a year")
        days.update(low + timedelta(days=step) for step in range((high - low).days + 1))
    return frozenset(days)


def format_blackout(days: frozenset[date]) -> str:
    """Format blackout dates as parse_blackout reads them, consecutive days as one range."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    text = [
        run[0].isoformat() if len(run) == 1 else f"{run[0].isoformat()}..{run[-1].isoformat()}"
        for run in runs
    ]
    return ",".join(text) or "none"


class DayRule(Protocol):
    """Which local dates a campaign calls on (a window opens only on a callable day)."""

    def callable_day(self, day: date) -> bool:
        """Whether windows starting on `day` may open."""

    def adjusted_working_day(self, day: date) -> bool:
        """Whether `day` is a weekend day made a working day (调休): it takes weekday windows."""


class CalendarDays:
    """A DayRule from a region's WorkCalendar: its working days, or every day but holidays.

    workdays: the calendar's working days (weekends and holidays off, adjusted working days on).
    no_holidays: every day but holiday breaks: public holidays, days off in lieu, and the weekend
    days joined to them; an ordinary weekend is called.

    Calls are not legal deadlines, so a year without the official notice is planned from the
    calendar's estimate; `estimated(day)` says when that happened.
    """

    def __init__(self, calendar: WorkCalendar, rule: str) -> None:
        import holidays

        if rule not in ("workdays", "no_holidays"):
            raise ValueError(f"day rule {rule!r} must be workdays or no_holidays")
        self.rule = rule
        self.calendar = calendar.estimating()
        self._weekend = frozenset(holidays.country_holidays(calendar.region).weekend)
        self._holidays: dict[int, frozenset[date]] = {}
        self._callable: dict[date, bool] = {}

    def __repr__(self) -> str:
        return f"CalendarDays({self.calendar!r}, {self.rule!r})"

    def callable_day(self, day: date) -> bool:
        """Whether windows starting on `day` may open (cached per date)."""
        cached = self._callable.get(day)
        if cached is None:
            cached = self._callable[day] = self._decide(day)
        return cached

    def adjusted_working_day(self, day: date) -> bool:
        """Whether `day` is a weekend day the calendar makes a working day."""
        return day.weekday() in self._weekend and self.calendar.is_working_day(day)

    def estimated(self, day: date) -> bool:
        """Whether the answer for `day` comes from an estimate (no official notice yet)."""
        return not self.calendar.is_official(day)

    def _decide(self, day: date) -> bool:
        if self.calendar.is_working_day(day):
            return True
        return self.rule == "no_holidays" and not self._in_holiday_break(day)

    def _in_holiday_break(self, day: date) -> bool:
        """Whether `day` is off as part of a holiday break rather than an ordinary weekend."""
        # The days off joined to a holiday are the holiday (Golden Week's Sunday is no ordinary
        # Sunday), so walk the run of days off around `day` looking for one.
        for step in (timedelta(days=-1), timedelta(days=1)):
            current = day
            for _ in range(_MAX_BREAK):
                if self._holiday(current):
                    return True
                current += step
                if self.calendar.is_working_day(current):
                    break
        return False

    def _holiday(self, day: date) -> bool:
        """Whether a day off is a holiday: a weekday off, or a public holiday on a weekend."""
        return (
            day.weekday() not in self._weekend
            or day in self._public(day.year)
            or day in self.calendar.overrides.extra_holidays
        )

    def _public(self, year: int) -> frozenset[date]:
        cached = self._holidays.get(year)
        if cached is None:
            import holidays

            official = self.calendar.has_official_data(year)
            days = holidays.country_holidays(
                self.calendar.region,
                years=year,
                categories=(holidays.PUBLIC,),
                observed=official,
            )
            cached = self._holidays[year] = frozenset(days)
        return cached


@lru_cache(maxsize=64)
def day_rule(name: str, *, region: str, tz: ZoneInfo) -> CalendarDays | None:
    """The DayRule for a `days` option value; None for "all" (every day is callable)."""
    if name not in DAY_RULES:
        raise ValueError(f"days must be {', '.join(DAY_RULES)}, not {name!r}")
    if name == "all":
        return None
    from ivr.calendar import WorkCalendar

    try:
        calendar = WorkCalendar(region, tz=tz)
    except NotImplementedError:
        raise ValueError(f"no holiday calendar for region {region}; use days=all") from None
    return CalendarDays(calendar, name)
