"""A campaign's headline figures (definitions in the README, "Report figures")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from ivr.models import Answer, Attempt, Campaign, Case, CaseOutcome, CaseStatus, Escalation

SATISFACTION_QUESTION = "satisfaction"
SATISFIED_VALUES = ("4", "5")  # on the 1-5 scale the flow asks; 3 counts as not satisfied
RATED_VALUES = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class CampaignSummary:
    """The figures of one campaign; rates are fractions 0..1, None when undefined (0/0)."""

    campaign: str
    cases: int
    excluded: int
    attempted: int
    reached: int
    completed: int
    follow_up_rate: float | None
    satisfaction_rate: float | None
    rated: int
    satisfied: int
    open_cases: int
    outcomes: dict[str, int]
    escalations: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def campaign_summary(session: Session, campaign: Campaign) -> CampaignSummary:
    """Count a campaign's cases, attempts, answers and escalations."""
    in_campaign = Case.campaign_id == campaign.id

    def count(*where: Any) -> int:
        return (
            session.scalar(select(func.count()).select_from(Case).where(in_campaign, *where)) or 0
        )

    cases = count()
    excluded = count(Case.status == CaseStatus.EXCLUDED)
    open_cases = count(Case.status.in_([CaseStatus.PENDING, CaseStatus.IN_CALL]))
    completed = count(Case.outcome == CaseOutcome.COMPLETED)
    attempted = count(Case.attempts_made > 0)
    reached = (
        session.scalar(
            select(func.count(distinct(Attempt.case_id)))
            .join(Case)
            .where(in_campaign, Attempt.reached.is_(True))
        )
        or 0
    )
    ratings = dict(
        session.execute(
            select(Answer.value, func.count())
            .join(Case, Answer.case_id == Case.id)
            .where(in_campaign, Answer.question == SATISFACTION_QUESTION)
            .group_by(Answer.value)
        ).all()
    )
    rated = sum(n for value, n in ratings.items() if value in RATED_VALUES)
    satisfied = sum(n for value, n in ratings.items() if value in SATISFIED_VALUES)
    outcomes = {
        str(outcome): n
        for outcome, n in session.execute(
            select(Case.outcome, func.count())
            .where(in_campaign, Case.outcome.is_not(None))
            .group_by(Case.outcome)
            .order_by(Case.outcome)
        ).all()
    }
    escalations = dict(
        session.execute(
            select(Escalation.reason, func.count())
            .join(Case)
            .where(in_campaign)
            .group_by(Escalation.reason)
            .order_by(Escalation.reason)
        ).all()
    )
    return CampaignSummary(
        campaign=campaign.name,
        cases=cases,
        excluded=excluded,
        attempted=attempted,
        reached=reached,
        completed=completed,
        follow_up_rate=_ratio(attempted, cases - excluded),
        satisfaction_rate=_ratio(satisfied, rated),
        rated=rated,
        satisfied=satisfied,
        open_cases=open_cases,
        outcomes=outcomes,
        escalations=escalations,
    )
