"""Audit re-calls: draw the sample of a campaign's month, keep it, record what each re-call found.

The draw itself is pure (ivr.reports.sampling); here are its candidates, the saved sample and its
outcomes. A draw with the same campaign, period, method, share, minimum and seed as a saved one
returns that one: running the command twice does not make two samples.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ivr.models import AuditItem, AuditSample, Campaign, Case, CaseOutcome, CaseStatus, Escalation
from ivr.reports.audit_outcomes import OUTCOMES
from ivr.reports.sampling import Candidate, interval_draw, random_draw
from ivr.reports.tally import PROBLEM_REASON

METHODS = ("random", "interval")
# The interval draw covers every sales channel and product (the regulator's rule); cases without
# the value form their own stratum.
STRATA_DETAILS = ("channel", "product")
MISSING = "(none)"


class AuditError(ValueError):
    """A draw or an outcome that cannot be taken; the message says why."""


@dataclass(frozen=True)
class DrawRequest:
    """What to draw: a campaign's cases whose anchor date is in [start, end]."""

    campaign: Campaign
    start: date
    end: date
    method: str = "random"
    share: float = 0.2
    seed: str | None = None  # None: a new random seed, printed and kept with the sample
    min_count: int | None = None


def candidates(session: Session, request: DrawRequest) -> list[Candidate]:
    """random: the completed cases (the followed-up patients); interval: every due call-back
    (cases not excluded), with its stratum and whether it is a problem case."""
    in_scope = (
        Case.campaign_id == request.campaign.id,
        Case.anchor_date >= request.start,
        Case.anchor_date <= request.end,
    )
    if request.method == "random":
        rows = session.execute(
            select(Case.id, Case.external_ref).where(
                *in_scope, Case.outcome == CaseOutcome.COMPLETED
            )
        )
        return [Candidate(case_id, ref) for case_id, ref in rows]
    problem = exists().where(Escalation.case_id == Case.id, Escalation.reason == PROBLEM_REASON)
    stratified = session.execute(
        select(Case.id, Case.external_ref, Case.details, problem).where(
            *in_scope, Case.status != CaseStatus.EXCLUDED
        )
    )
    return [
        Candidate(
            case_id,
            ref,
            tuple(str((details or {}).get(name) or MISSING) for name in STRATA_DETAILS),
            bool(is_problem),
        )
        for case_id, ref, details, is_problem in stratified
    ]


def draw_sample(
    session: Session, request: DrawRequest, *, actor: str, now: datetime
) -> tuple[AuditSample, bool]:
    """Draw and keep the sample; returns it and whether it is new (False: the same draw was
    saved before and is returned as it was, outcomes included)."""
    if request.method not in METHODS:
        raise AuditError(f"unknown method {request.method!r}; methods: {', '.join(METHODS)}")
    if request.start > request.end:
        raise AuditError(f"the period starts ({request.start}) after it ends ({request.end})")
    seed = request.seed if request.seed is not None else secrets.token_hex(4)
    saved = session.scalar(
        select(AuditSample).where(
            AuditSample.campaign_id == request.campaign.id,
            AuditSample.period_start == request.start,
            AuditSample.period_end == request.end,
            AuditSample.method == request.method,
            AuditSample.share == request.share,
            AuditSample.seed == seed,
        )
    )
    if saved is not None and saved.min_count == request.min_count:
        return saved, False
    pool = candidates(session, request)
    try:
        if request.method == "random":
            draw = random_draw(pool, request.share, seed)
        else:
            draw = interval_draw(pool, request.share, seed, min_count=request.min_count)
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    sample = AuditSample(
        campaign_id=request.campaign.id,
        period_start=request.start,
        period_end=request.end,
        method=request.method,
        share=request.share,
        min_count=request.min_count,
        seed=seed,
        population=len(pool),
        strata={name: list(counts) for name, counts in draw.strata.items()},
        drawn_at=now,
        drawn_by=actor,
    )
    session.add(sample)
    session.flush()
    session.add_all(
        AuditItem(
            sample_id=sample.id,
            case_id=case_id,
            why="problem" if case_id in draw.problems else "drawn",
        )
        for case_id in draw.drawn
    )
    session.flush()
    return sample, True


def sample_view(session: Session, sample: AuditSample) -> dict[str, Any]:
    """A sample as `ivr audit sample --format json` prints it (items in draw order)."""
    rows = session.execute(
        select(AuditItem, Case.external_ref)
        .join(Case, AuditItem.case_id == Case.id)
        .where(AuditItem.sample_id == sample.id)
        .order_by(AuditItem.id)
    ).all()
    campaign = session.get_one(Campaign, sample.campaign_id)
    return {
        "sample": sample.id,
        "campaign": campaign.name,
        "period": {"from": sample.period_start.isoformat(), "to": sample.period_end.isoformat()},
        "method": sample.method,
        "share": sample.share,
        "min": sample.min_count,
        "seed": sample.seed,
        "population": sample.population,
        "drawn": len(rows),
        "strata": {
            name: {"population": counts[0], "drawn": counts[1]}
            for name, counts in sorted(sample.strata.items())
        },
        "items": [
            {
                "external_ref": ref,
                "why": item.why,
                "outcome": item.outcome,
                "recorded_by": item.recorded_by,
            }
            for item, ref in rows
        ],
    }


def record_outcome(
    session: Session,
    sample_id: int,
    external_ref: str,
    outcome: str,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> AuditItem:
    """Record what the audit re-call of one drawn case found (a later call may correct it)."""
    if outcome not in OUTCOMES:
        raise AuditError(f"unknown outcome {outcome!r}; outcomes: {', '.join(OUTCOMES)}")
    sample = session.get(AuditSample, sample_id)
    if sample is None:
        raise AuditError(f"there is no audit sample {sample_id}")
    item = session.scalar(
        select(AuditItem)
        .join(Case, AuditItem.case_id == Case.id)
        .where(AuditItem.sample_id == sample_id, Case.external_ref == external_ref)
    )
    if item is None:
        raise AuditError(f"case {external_ref!r} is not in audit sample {sample_id}")
    item.outcome, item.note, item.recorded_at, item.recorded_by = outcome, note, now, actor
    return item
