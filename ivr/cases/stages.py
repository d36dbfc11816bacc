"""Renovation jobs: one CSV row, three cases (after ~10 days, at mid-point, at completion). Pure.

REQUIREMENTS.md section 4: every job is called three times. Each call is its own case, so each has
its own attempts, deadline, answers and escalations, and reports can count them per stage. The
case's anchor is its call day, so the campaign's timing (offset 0, deadline 5 days) applies to
each one as it does to any case.

The call days:

- start: job_start + 10 days;
- mid: half-way from job_start to job_end (rounded down), but at least a day after the start call;
- end: job_end, but at least a day after the mid call.

A short job (up to about 12 days) therefore gets its calls on consecutive days after the start
call, and its completion call may fall a day or two after the planned completion: calling about
the finished work before the planned end would be worse than calling a little late.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from ivr.cases.csv_rows import CaseRow

__all__ = ["FIRST_CALL_AFTER", "STAGES", "call_days", "renovation_cases"]

STAGES = ("start", "mid", "end")
"""The stages of a job, in call order; each case's ref is "<job>-<stage>"."""

FIRST_CALL_AFTER = timedelta(days=10)
_DAY = timedelta(days=1)


def call_days(job_start: date, job_end: date) -> tuple[date, date, date]:
    """The start, mid and end call days of a job (see the module docstring)."""
    if job_end < job_start:
        raise ValueError("must not be before job_start")
    first = job_start + FIRST_CALL_AFTER
    mid = max(job_start + (job_end - job_start) // 2, first + _DAY)
    end = max(job_end, mid + _DAY)
    return first, mid, end


def renovation_cases(row: CaseRow) -> tuple[CaseRow, ...]:
    """The three cases of a job row: refs <job>-start/-mid/-end, each anchored on its call day.

    Raises ValueError("job_end: ...", a RowError's reason) when the planned completion is before
    the start.
    """
    job_start = row.anchor_date
    try:
        days = call_days(job_start, date.fromisoformat(row.details["job_end"]))
    except ValueError as exc:
        raise ValueError(f"job_end: {exc}") from None
    return tuple(
        dataclasses.replace(
            row,
            external_ref=f"{row.external_ref}-{stage}",
            anchor_date=day,
            anchor_at=None,
            details={**row.details, "job_start": job_start.isoformat(), "stage": stage},
        )
        for stage, day in zip(STAGES, days, strict=True)
    )
