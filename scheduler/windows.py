"""Calling windows: what a campaign's `windows` option says, every day or per weekday.

Plain values and their text forms; scheduler.schedule turns them into instants.
A window is local wall time, [start, end); when it ends at or before its start it crosses
midnight and belongs to the day it starts on, like a call-centre shift: a Friday 22:00-02:00
window runs into Saturday morning, and it is Friday's weekday windows, day rule and blackout that
decide whether it opens (scheduler.days).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

__all__ = [
    "NOON",
    "WeeklyWindows",
    "Window",
    "format_windows",
    "ordered",
    "parse_calling_windows",
    "parse_windows",
]

NOON = time(12)
"""Windows starting before noon are morning windows; the others afternoon or evening ones."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_WINDOW_RE = re.compile(r"(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\d{1,2}:\d{2}(?::\d{2})?)")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_SEGMENT_RE = re.compile(r"([a-z][a-z,\s-]*?)\s+(\d.*)", re.IGNORECASE)
_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Window:
    """A daily calling window in local wall time, [start, end); end <= start crosses midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall times and must not carry a tzinfo")
        if self.start.microsecond or self.end.microsecond:
            raise ValueError("window times must be whole seconds")
        if self.start == self.end:
            raise ValueError(f"window {self} is empty: it must not start and end at one time")

    def __str__(self) -> str:
        return f"{_format_clock(self.start)}-{_format_clock(self.end)}"

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window runs into the next day (22:00-02:00, or 22:00-00:00)."""
        return self.end < self.start

    @property
    def morning(self) -> bool:
        """Whether the window starts before noon (the rule `rotate` alternates on)."""
        return self.start < NOON

    def seconds(self) -> tuple[int, int]:
        """Start and end in seconds from the start day's midnight (the end may pass 86400)."""
        start = _clock_seconds(self.start)
        end = _clock_seconds(self.end)
        return start, end + _DAY_SECONDS if end <= start else end


@dataclass(frozen=True)
class WeeklyWindows:
    """Calling windows per day of the week, Monday first; a day without windows is not called."""

    days: tuple[tuple[Window, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError(f"weekly windows need 7 days, Monday first, not {len(self.days)}")
        for name, windows in zip(DAY_NAMES, self.days, strict=True):
            if tuple(windows) != ordered(windows):
                raise ValueError(f"calling windows of {name} must be sorted by start time")
        # The tail of a window crossing midnight must not run into the next day's first window.
        for today, tomorrow in zip(range(7), (*range(1, 7), 0), strict=True):
            if self.days[today] and self.days[tomorrow]:
                _check_tail(self.days[today][-1], self.days[tomorrow][0], DAY_NAMES[tomorrow])

    @classmethod
    def every_day(cls, windows: Sequence[Window]) -> WeeklyWindows:
        """The same windows on all seven days."""
        day = ordered(windows, wrap=True)
        return cls((day,) * 7)

    def on(self, weekday: int) -> tuple[Window, ...]:
        """The windows starting on `weekday` (0 is Monday)."""
        return self.days[weekday]

    @property
    def uniform(self) -> tuple[Window, ...] | None:
        """The windows when every day has the same ones, else None."""
        first = self.days[0]
        return first if all(day == first for day in self.days) else None

    def all_windows(self) -> frozenset[Window]:
        """Every window of the week."""
        return frozenset(itertools.chain.from_iterable(self.days))


def ordered(windows: Sequence[Window], *, wrap: bool = False) -> tuple[Window, ...]:
    """Windows sorted by start; ValueError on an overlap (`wrap`: also across midnight)."""
    result = tuple(sorted(windows, key=lambda window: window.start))
    for before, after in itertools.pairwise(result):
        if after.seconds()[0] < before.seconds()[1]:
            raise ValueError(f"calling windows {before} and {after} overlap")
    if wrap and result:
        _check_tail(result[-1], result[0], "the next day")
    return result


def _check_tail(last: Window, first: Window, whose: str) -> None:
    if last.crosses_midnight and last.seconds()[1] - _DAY_SECONDS > first.seconds()[0]:
        raise ValueError(
            f"calling window {last} runs past midnight into {whose}'s window {first} (overlap)"
        )


def parse_windows(text: str) -> tuple[Window, ...]:
    """Parse "08:00-11:00,14:00-17:00" into sorted, non-overlapping windows (every day)."""
    if not text.strip():
        raise ValueError("no calling windows given (expected e.g. '08:00-11:00,14:00-17:00')")
    windows: list[Window] = []
    for position, raw in enumerate(text.split(","), start=1):
        part = raw.strip()
        match = _WINDOW_RE.fullmatch(part)
        if match is None:
            raise ValueError(f"calling window {position} {part!r} is not like '08:00-11:00'")
        start, end = (_parse_clock(value, part) for value in match.groups())
        try:
            windows.append(Window(start, end))
        except ValueError as exc:
            raise ValueError(f"calling window {position} {part!r}: {exc}") from None
    return ordered(windows, wrap=True)


def parse_calling_windows(text: str) -> tuple[Window, ...] | WeeklyWindows:
    """Parse every-day windows, or per weekday: "mon-fri 08:00-11:00,14:00-17:00; sat 09:00-12:00".

    The same windows on all seven days come back as the plain tuple, so that each value has one
    form.
    """
    segments = [segment.strip() for segment in text.split(";")]
    if len(segments) == 1 and not segments[0][:1].isalpha():
        return parse_windows(text)
    days: list[tuple[Window, ...] | None] = [None] * 7
    for segment in segments:
        match = _SEGMENT_RE.fullmatch(segment)
        if match is None:
            raise ValueError(
                f"calling windows {segment!r} are not like 'mon-fri 08:00-11:00,14:00-17:00' "
                "(days, a space, then windows; segments separated by ';')"
            )
        spec, windows_text = match.groups()
        try:
            windows = parse_windows(windows_text)
        except ValueError as exc:
            raise ValueError(f"{spec.strip()}: {exc}") from None
        for weekday in _parse_days(spec):
            if days[weekday] is not None:
                raise ValueError(f"{DAY_NAMES[weekday]} is given calling windows twice")
            days[weekday] = windows
    weekly = WeeklyWindows(tuple(day or () for day in days))
    return weekly.uniform or weekly


def format_windows(windows: Sequence[Window] | WeeklyWindows) -> str:
    """Format windows as parse_calling_windows reads them, grouping days with equal windows."""
    if not isinstance(windows, WeeklyWindows):
        return ",".join(str(window) for window in windows)
    if windows.uniform is not None:
        return format_windows(windows.uniform)
    groups: dict[tuple[Window, ...], list[int]] = {}
    for weekday, day in enumerate(windows.days):
        if day:
            groups.setdefault(day, []).append(weekday)
    return "; ".join(
        f"{_format_days(weekdays)} {format_windows(day)}" for day, weekdays in groups.items()
    )


def _parse_days(spec: str) -> list[int]:
    weekdays: list[int] = []
    for raw in spec.split(","):
        first, sep, last = raw.strip().lower().partition("-")
        names = [first, last] if sep else [first]
        if not all(name.strip() in DAY_NAMES for name in names):
            raise ValueError(
                f"{raw.strip()!r} is not a day or a range of days such as mon, sat or mon-fri"
            )
        low, high = (DAY_NAMES.index(name.strip()) for name in (names[0], names[-1]))
        # A range may wrap over the weekend: fri-mon is Friday to Monday.
        weekdays.extend((low + step) % 7 for step in range((high - low) % 7 + 1))
    return weekdays


def _format_days(weekdays: list[int]) -> str:
    runs: list[list[int]] = []
    for weekday in weekdays:
        if runs and runs[-1][-1] + 1 == weekday:
            runs[-1].append(weekday)
        else:
            runs.append([weekday])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[weekday] for weekday in run)
    return ",".join(parts)


def _parse_clock(value: str, part: str) -> time:
    match = _CLOCK_RE.fullmatch(value)
    if match is None:  # pragma: no cover - _WINDOW_RE only lets clock-shaped values through
        raise ValueError(f"calling window {part!r}: {value!r} is not a time of day")
    hour, minute, second = (int(field or 0) for field in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"calling window {part!r}: {value!r} is not a time of day")
    return time(hour, minute, second)


def _format_clock(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _clock_seconds(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second
