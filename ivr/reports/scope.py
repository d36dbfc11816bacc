"""What a report counts: a campaign's cases in a period, optionally split into groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ivr.models import Campaign

# What a report may be split by: the case's own columns, or what the CSV kept in its details.
GROUPS: dict[str, str] = {
    "department": "column",
    "ward": "column",
    "doctor": "detail",
    "nurse": "detail",
    "crew": "detail",
    "designer": "detail",
    "inspector": "detail",
}


@dataclass(frozen=True)
class ReportScope:
    """Which cases a report counts: a campaign's cases whose anchor date (discharge, policy
    receipt, job start) falls in [start, end]; None leaves that side open."""

    campaign: Campaign
    start: date | None = None
    end: date | None = None
    by: str | None = None  # one of GROUPS

    def __post_init__(self) -> None:
        if self.by is not None and self.by not in GROUPS:
            raise ValueError(f"cannot split by {self.by!r}; choose one of {', '.join(GROUPS)}")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"the period starts ({self.start}) after it ends ({self.end})")
