"""Which cases count as verified within their deadline (README "Reports").

A case is verified within its deadline when the automated call completed the flow by then, or
when a person verified it: one of its escalations is resolved with a verifying outcome, and an
agent's callback of that escalation reached the customer (the bridged call, recorded) by the
deadline. The second path is how the cooling-off programme's misses are saved: the machine could
not verify the policyholder, an agent called back and did.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Subquery, and_, exists, func, select

from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Case,
    CaseOutcome,
    Escalation,
    EscalationStatus,
    Recording,
    RecordingStatus,
)

# The escalation outcomes that say the agent verified the person (the cooling-off template's
# "confirmed": the policyholder confirmed who they are and that the product was explained).
VERIFYING_OUTCOMES = ("confirmed",)


def person_verified() -> Subquery:
    """case_id -> verified_at: the earliest bridged callback that verified the case's person.

    Only callbacks of an escalation resolved (now) with a verifying outcome, that reached the
    customer and whose recording was not lost: an unrecorded call is no proof for the regulator.
    """
    recorded = exists().where(
        Recording.callback_id == AgentCallback.id, Recording.status != RecordingStatus.FAILED
    )
    return (
        select(
            Escalation.case_id.label("case_id"),
            func.min(AgentCallback.bridged_at).label("verified_at"),
        )
        .join(AgentCallback, AgentCallback.escalation_id == Escalation.id)
        .where(
            Escalation.status == EscalationStatus.RESOLVED,
            Escalation.outcome.in_(VERIFYING_OUTCOMES),
            AgentCallback.status == AgentCallbackStatus.COMPLETED,
            AgentCallback.bridged_at.is_not(None),
            recorded,
        )
        .group_by(Escalation.case_id)
        .subquery("person_verified")
    )


def by_machine_in_time() -> ColumnElement[bool]:
    """The automated call completed the case's flow by its deadline.

    Never NULL for a case with a deadline (the IS NOT NULL terms make it false first), so that
    its negation keeps the cases without an outcome.
    """
    return and_(
        Case.outcome.is_not(None),
        Case.outcome == CaseOutcome.COMPLETED,
        Case.done_at.is_not(None),
        Case.done_at <= Case.deadline_at,
    )
