"""The instants a campaign may call at: windows, day rule and blackout mapped onto UTC, exactly.

An instant is callable when its local wall time in the contact's zone lies in a window that
opened on a callable day (scheduler.windows, scheduler.days) and its own local date is not
blacked out. Within a stretch of one UTC offset, wall time is UTC shifted by a constant, so each
window maps to UTC intervals exactly, DST gaps and repeated hours included. The intervals of each
UTC day are computed once per zone and kept on the Schedule, which equal policies share, so that
planning the common case is a dictionary look-up and a short scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.days import DayRule
from scheduler.windows import WeeklyWindows, Window, format_windows

__all__ = ["Schedule", "first_instant_from", "schedule_of"]

# The zone is probed this often for offset changes. No zone changes its offset twice within six
# hours, so a change between two probes is a single transition that a bisection can find.
_PROBE = timedelta(hours=6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_CACHE_LIMIT = 50_000  # entries per cache; past it the cache starts afresh

# One callable stretch of UTC time: start, end, and whether its window is a morning one.
_Interval = tuple[datetime, datetime, bool]


class Schedule:
    """The instants a campaign may call at, in any zone: windows, day rule and blackout dates."""

    __slots__ = ("_by_date", "_chunks", "_parts", "blackout", "days", "weekly")

    def __init__(
        self,
        weekly: WeeklyWindows,
        days: DayRule | None = None,
        blackout: frozenset[date] = frozenset(),
    ) -> None:
        self.weekly = weekly
        self.days = days
        self.blackout = blackout
        self._parts = frozenset(window.morning for window in weekly.all_windows())
        self._by_date: dict[date, tuple[tuple[timedelta, timedelta, bool], ...]] = {}
        self._chunks: dict[tuple[ZoneInfo, int], tuple[_Interval, ...]] = {}

    def __repr__(self) -> str:
        return f"Schedule({format_windows(self.weekly)!r}, days={self.days!r})"

    def first(
        self, earliest: datetime, tz: ZoneInfo, limit: datetime, part: bool | None = None
    ) -> tuple[datetime, bool] | None:
        """The first callable instant in [earliest, limit) (both UTC), and whether it is morning."""
        if part is not None and part not in self._parts:
            return None
        # For a UTC datetime the date's ordinal numbers the UTC day: the key of its chunk.
        day = earliest.toordinal()
        last = limit.toordinal()
        chunks = self._chunks
        while day <= last:
            chunk = chunks.get((tz, day))
            if chunk is None:
                chunk = self._chunk(tz, day)
            for start, end, morning in chunk:
                if end > earliest and (part is None or morning is part):
                    found = start if start > earliest else earliest
                    return (found, morning) if found < limit else None
            day += 1
        return None

    def intervals(self, start: datetime, stop: datetime, tz: ZoneInfo) -> Iterator[_Interval]:
        """The callable UTC intervals overlapping [start, stop), clipped to it, in order."""
        for day in range(start.toordinal(), stop.toordinal() + 1):
            chunk = self._chunks.get((tz, day))
            for low, high, morning in self._chunk(tz, day) if chunk is None else chunk:
                if high > start and low < stop:
                    yield max(low, start), min(high, stop), morning

    def morning_at(self, instant: datetime, tz: ZoneInfo) -> bool:
        """Whether `instant` lies in a morning window (outside all windows: local time < 12)."""
        instant = instant.astimezone(UTC)
        for low, high, morning in self.intervals(instant, instant + _SECOND, tz):
            if low <= instant < high:
                return morning
        return instant.astimezone(tz).hour < 12

    def _windows_of(self, day: date) -> tuple[tuple[timedelta, timedelta, bool], ...]:
        """The windows opening on local `day`, as offsets from its midnight."""
        cached = self._by_date.get(day)
        if cached is not None:
            return cached
        windows: tuple[Window, ...] = ()
        if day not in self.blackout and (self.days is None or self.days.callable_day(day)):
            windows = self.weekly.on(day.weekday())
            if not windows and self.days is not None and self.days.adjusted_working_day(day):
                windows = next((w for w in self.weekly.days[:5] if w), ())
        # A blackout date allows no call at all, so it cuts the evening before at midnight.
        cut = 86_400 if day + _DAY in self.blackout else 2 * 86_400
        result = tuple(
            (timedelta(seconds=start), timedelta(seconds=min(end, cut)), window.morning)
            for window in windows
            for start, end in (window.seconds(),)
        )
        if len(self._by_date) >= _CACHE_LIMIT:
            self._by_date.clear()
        self._by_date[day] = result
        return result

    def _chunk(self, tz: ZoneInfo, day: int) -> tuple[_Interval, ...]:
        """The callable intervals inside the UTC day of ordinal `day` (date.toordinal())."""
        low = datetime.fromordinal(day).replace(tzinfo=UTC)
        pieces: list[tuple[datetime, datetime, bool]] = []
        # Within a stretch of one UTC offset, wall time is UTC shifted by a constant, so windows
        # map to UTC intervals exactly.
        for start, end, offset in _stretches(low, low + _DAY, tz):
            wall_start = (start + offset).replace(tzinfo=None)
            wall_end = (end + offset).replace(tzinfo=None)
            local = wall_start.date() - _DAY  # yesterday's window may cross midnight
            while local <= wall_end.date():
                midnight = datetime.combine(local, time())
                for begin, finish, morning in self._windows_of(local):
                    a = max(midnight + begin, wall_start)
                    b = min(midnight + finish, wall_end)
                    if a < b:
                        pieces.append((a - offset, b - offset, morning))
                local += _DAY
        pieces.sort()
        merged: list[tuple[datetime, datetime, bool]] = []
        for a, b, morning in pieces:
            if merged and merged[-1][1] >= a and merged[-1][2] is morning:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]), morning)
            else:
                merged.append((a, b, morning))
        chunk = tuple((a.replace(tzinfo=UTC), b.replace(tzinfo=UTC), m) for a, b, m in merged)
        if len(self._chunks) >= _CACHE_LIMIT:
            self._chunks.clear()
        self._chunks[(tz, day)] = chunk
        return chunk


_SCHEDULES: dict[tuple[WeeklyWindows, DayRule | None, frozenset[date]], Schedule] = {}


def schedule_of(
    windows: Sequence[Window] | WeeklyWindows | Schedule,
    days: DayRule | None = None,
    blackout: frozenset[date] = frozenset(),
) -> Schedule:
    """The shared Schedule (and so the shared cache) of windows, a day rule and blackout dates."""
    if isinstance(windows, Schedule):
        return windows
    if not isinstance(windows, WeeklyWindows):
        if not windows:
            raise ValueError("no calling windows given")
        windows = WeeklyWindows.every_day(windows)
    key = (windows, days, blackout)
    schedule = _SCHEDULES.get(key)
    if schedule is None:
        if len(_SCHEDULES) >= 1024:
            _SCHEDULES.clear()
        schedule = _SCHEDULES[key] = Schedule(windows, days, blackout)
    return schedule


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - zoneinfo always knows the offset of an instant
        raise ValueError(f"time zone {tz} has no UTC offset at {instant.isoformat()}")
    return offset


def first_instant_from(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall time in `tz` is at or after the naive `wall`."""
    # fold=0 picks the first pass of a repeated (fall-back) wall time, which is the one we want.
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # `wall` is in a spring-forward gap. Per PEP 495 fold=0 converts it with the offset from
    # before the gap, landing after it, and fold=1 with the offset from after, landing before it;
    # the transition between the two is the first instant the clock shows a later time.
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = sorted((first, second))
    return _transition(low, high, tz)


def _transition(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The instant in (low, high] at which the UTC offset of `tz` changes from that at `low`."""
    # tzdata changes offsets only on whole seconds, so bisecting whole seconds finds the exact
    # instant rather than one a rounding error away from it.
    before = _offset(low, tz)
    low_s = (low - _EPOCH) // _SECOND
    high_s = -((_EPOCH - high) // _SECOND)
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if _offset(_EPOCH + middle * _SECOND, tz) == before:
            low_s = middle
        else:
            high_s = middle
    return _EPOCH + high_s * _SECOND


def _stretches(
    start: datetime, stop: datetime, tz: ZoneInfo
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """Split [start, stop) into consecutive stretches, each with a single UTC offset of `tz`."""
    while start < stop:
        offset = _offset(start, tz)
        end = min(start + _PROBE, stop)
        if _offset(end, tz) != offset:
            end = _transition(start, end, tz)
        yield start, end, offset
        start = end
