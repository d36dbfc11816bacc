"""When may a case be called next? Pure functions of their inputs, time included.

Every datetime going in must be aware and every datetime coming out is aware UTC. Calling windows
are local wall-clock times in the contact's zone: an instant is callable when its local wall time
lies in a window. That one definition settles the DST traps: a window whose start falls in a
spring-forward gap opens at the first instant after the gap; a window that falls wholly in the gap
does not open that day; on a fall-back day a window over the repeated hour is callable in both
passes of it, but not in the part of the second pass before the window's start.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CallPolicy",
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
]

SEARCH_SPAN = timedelta(days=400)
"""How far past `earliest` next_call_at looks before giving up."""

# The zone is probed this often for offset changes. No zone changes its offset twice within six
# hours, so a change between two probes is a single transition that a bisection can find.
_PROBE = timedelta(hours=6)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

_WINDOW_RE = re.compile(r"(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\d{1,2}:\d{2}(?::\d{2})?)")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class Window:
    """A daily calling window in local wall time, [start, end); it may not cross midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall times and must not carry a tzinfo")
        if self.start.microsecond or self.end.microsecond:
            raise ValueError("window times must be whole seconds")
        if self.start >= self.end:
            raise ValueError(
                f"window {_format_clock(self.start)}-{_format_clock(self.end)} must start before "
                "it ends (windows crossing midnight are not supported)"
            )

    def __str__(self) -> str:
        return f"{_format_clock(self.start)}-{_format_clock(self.end)}"


def parse_windows(text: str) -> tuple[Window, ...]:
    """Parse "08:00-11:00,14:00-17:00" into sorted, non-overlapping windows."""
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
    return _ordered(windows)


def format_windows(windows: Sequence[Window]) -> str:
    """Format windows as parse_windows reads them: "08:00-11:00,14:00-17:00"."""
    return ",".join(str(window) for window in windows)


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
    """

    offset: timedelta
    windows: tuple[Window, ...]
    max_attempts: int
    retry_spacing: timedelta
    deadline_after: timedelta | None = None
    excluded_wards: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("a call policy needs at least one calling window")
        if tuple(self.windows) != _ordered(self.windows):
            raise ValueError("calling windows must be sorted by start time")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.offset < timedelta(0) or self.retry_spacing < timedelta(0):
            raise ValueError("offset and retry_spacing must not be negative")
        if self.deadline_after is not None and self.deadline_after <= self.offset:
            raise ValueError("deadline_after must be later than offset, or no case can be called")


def anchor_start(anchor: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local day `anchor` begins in `tz`."""
    # Some zones (America/Havana, America/Santiago) spring forward at midnight, so 00:00 does not
    # exist on that day and the day begins at 01:00.
    return _first_instant_from(datetime.combine(anchor, time()), tz)


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
    _require_aware(last_attempt_at, "last_attempt_at")
    return last_attempt_at.astimezone(UTC) + policy.retry_spacing


def next_call_at(
    earliest: datetime,
    windows: Sequence[Window],
    tz: ZoneInfo,
    deadline: datetime | None = None,
) -> datetime | None:
    """The first instant at or after `earliest`, before `deadline`, inside a window; else None."""
    _require_aware(earliest, "earliest")
    if deadline is not None:
        _require_aware(deadline, "deadline")
    if not windows:
        raise ValueError("no calling windows given")
    ordered = sorted(windows, key=lambda window: window.start)
    start = earliest.astimezone(UTC)
    stop = start + SEARCH_SPAN
    if deadline is not None:
        stop = min(stop, deadline.astimezone(UTC))
    # Within a stretch of one UTC offset, wall time is UTC shifted by a constant, so windows map to
    # UTC intervals exactly; the stretches are visited in order, so the first hit is the earliest.
    for stretch_start, stretch_end, offset in _stretches(start, stop, tz):
        found = _first_in_stretch(stretch_start, stretch_end, offset, ordered)
        if found is not None:
            return found
    return None


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
    _require_aware(now, "now")
    if attempts_made < 0:
        raise ValueError(f"attempts_made must not be negative, not {attempts_made}")
    if attempts_made >= policy.max_attempts:
        return None
    candidates = [now.astimezone(UTC), first_call_earliest(anchor, policy, tz)]
    if last_attempt_at is not None:
        candidates.append(retry_earliest(last_attempt_at, policy))
    if isinstance(deadline, _Unset):
        deadline = deadline_at(anchor, policy, tz)
    return next_call_at(max(candidates), policy.windows, tz, deadline)


def _ordered(windows: Sequence[Window]) -> tuple[Window, ...]:
    ordered = tuple(sorted(windows, key=lambda window: window.start))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"calling windows {before} and {after} overlap")
    return ordered


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


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value.isoformat()}")


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - zoneinfo always knows the offset of an instant
        raise ValueError(f"time zone {tz} has no UTC offset at {instant.isoformat()}")
    return offset


def _first_instant_from(wall: datetime, tz: ZoneInfo) -> datetime:
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


def _first_in_stretch(
    start: datetime, end: datetime, offset: timedelta, windows: Sequence[Window]
) -> datetime | None:
    """The first instant of [start, end) inside a window, given the stretch's single offset."""
    wall_start = (start + offset).replace(tzinfo=None)
    wall_end = (end + offset).replace(tzinfo=None)
    day = wall_start.date()
    while datetime.combine(day, time()) < wall_end:
        for window in windows:
            low = max(datetime.combine(day, window.start), wall_start)
            high = min(datetime.combine(day, window.end), wall_end)
            if low < high:
                return (low - offset).replace(tzinfo=UTC)
        day += timedelta(days=1)
    return None
