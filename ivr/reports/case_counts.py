"""How many cases each campaign has, and where they are: one grouped query for every campaign
(`ivr campaigns list`); the full figures of one campaign are ivr.reports.figures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from ivr.models import Case, CaseOutcome, CaseStatus


@dataclass(frozen=True)
class CaseCounts:
    """A campaign's cases by state."""

    cases: int = 0
    open_cases: int = 0  # pending or in a call: the machine is at work on them
    paused: int = 0  # calls used up; waiting for the contact's reply or a person
    completed: int = 0  # the flow reached its end
    excluded: int = 0


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of a group meet the condition (0 for an empty group), in one pass."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def case_counts(session: Session) -> dict[int, CaseCounts]:
    """Campaign id -> its case counts (campaigns without cases are absent)."""

    rows = session.execute(
        select(
            Case.campaign_id,
            func.count(),
            count_where(Case.status.in_([CaseStatus.PENDING, CaseStatus.IN_CALL])),
            count_where(Case.status == CaseStatus.PAUSED),
            count_where(Case.outcome == CaseOutcome.COMPLETED),
            count_where(Case.status == CaseStatus.EXCLUDED),
        ).group_by(Case.campaign_id)
    )
    return {campaign_id: CaseCounts(*counts) for campaign_id, *counts in rows}
