"""Will a case's deadline be missed? Raise `deadline_at_risk` while a person can still call.

Pure, and cheap enough to ask for every pending case with a deadline on each dispatcher pass.
Two rules, either one makes the case at risk:

- Slots. A slot is an instant a call may start: the first callable instant from the case's next
  call, then the first callable one at least the retry spacing later, and so on, before the
  deadline (retries with less than ATTEMPT_SLOT spacing are counted ATTEMPT_SLOT apart, the time
  a call takes). The attempts left need as many slots, plus SPARE_SLOTS. The spare is 0: the
  moment a case is flagged its remaining slots are still ahead, and a person can take any of
  them. A spare of one flagged every case of the programs planned to the last slot by design
  (the clinic's visitors: two attempts an hour apart in one lunchtime window) before their first
  call, which buries the cases really at risk under noise.
- Capacity. The dispatcher passes the share of dialling capacity the case can count on: calls
  per second x callable seconds left before the deadline / cases competing for them (see
  `capacity_share`). A share below one call per attempt left means the dialler cannot reach
  every case in time, and this one is escalated rather than silently missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from scheduler.planner import CallPolicy

__all__ = [
    "ATTEMPT_SLOT",
    "SPARE_SLOTS",
    "AtRisk",
    "callable_seconds",
    "capacity_share",
    "deadline_at_risk",
]

ATTEMPT_SLOT = timedelta(minutes=5)
"""The least time counted between two slots: a call rings and runs for a few minutes."""

SPARE_SLOTS = 0
"""Slots required beyond the attempts left (see the module docstring for why none)."""


@dataclass(frozen=True)
class AtRisk:
    """Why a case may miss its deadline, with the figures the rule compared."""

    reason: Literal["slots", "capacity"]  #: too few calling slots, or too little dialling capacity
    attempts_left: int
    slots_left: int  #: slots counted before the deadline, at most attempts_left + SPARE_SLOTS
    capacity_share: float | None  #: calls the case could count on, as passed in

    def __str__(self) -> str:
        if self.reason == "slots":
            return (
                f"{self.attempts_left} attempt(s) left but {self.slots_left} calling slot(s) "
                "before the deadline"
            )
        return (
            f"{self.attempts_left} attempt(s) left but dialling capacity for "
            f"{self.capacity_share or 0:.2f} call(s) before the deadline"
        )


def deadline_at_risk(
    *,
    now: datetime,
    deadline: datetime | None,
    attempts_left: int,
    policy: CallPolicy,
    tz: ZoneInfo,
    earliest: datetime | None = None,
    capacity_share: float | None = None,
) -> AtRisk | None:
    """Whether the attempts left no longer fit before the deadline with a slot to spare.

    `earliest` is when the next attempt may start (the case's next_call_at: offset, retry spacing
    and rotation already applied); left out, now. `capacity_share` is in calls, None to skip the
    capacity rule. A case without a deadline or without attempts left is never at risk.
    """
    if deadline is None or attempts_left <= 0:
        return None
    start = now.astimezone(UTC)
    if earliest is not None and earliest.astimezone(UTC) > start:
        start = earliest.astimezone(UTC)
    stop = deadline.astimezone(UTC)
    needed = attempts_left + SPARE_SLOTS
    step = max(policy.retry_spacing, ATTEMPT_SLOT)
    schedule = policy.schedule
    slots = 0
    while slots < needed and start < stop:
        found = schedule.first(start, tz, stop)
        if found is None:
            break
        slots += 1
        start = found[0] + step
    if slots < needed:
        return AtRisk("slots", attempts_left, slots, capacity_share)
    if capacity_share is not None and capacity_share < attempts_left:
        return AtRisk("capacity", attempts_left, slots, capacity_share)
    return None


def callable_seconds(start: datetime, stop: datetime, policy: CallPolicy, tz: ZoneInfo) -> float:
    """Seconds of [start, stop) inside the policy's windows in `tz` (for capacity_share)."""
    low = start.astimezone(UTC)
    high = stop.astimezone(UTC)
    if high <= low:
        return 0.0
    intervals = policy.schedule.intervals(low, high, tz)
    return sum((b - a).total_seconds() for a, b, _ in intervals)


def capacity_share(*, calls_per_second: float, seconds: float, competing: int) -> float:
    """Calls one case can count on: calls per second x callable seconds / cases competing."""
    if calls_per_second < 0 or seconds < 0:
        raise ValueError("calls_per_second and seconds must not be negative")
    return calls_per_second * seconds / max(competing, 1)
