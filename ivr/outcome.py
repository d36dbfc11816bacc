"""What a finished attempt means for its case. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.flows.model import FlowOutcome
from ivr.models import AttemptStatus, CaseOutcome

_FLOW_TO_CASE = {
    FlowOutcome.COMPLETED: CaseOutcome.COMPLETED,
    FlowOutcome.WRONG_PERSON: CaseOutcome.WRONG_PERSON,
    FlowOutcome.REQUESTED_AGENT: CaseOutcome.REQUESTED_AGENT,
    FlowOutcome.PARTIAL: CaseOutcome.PARTIAL,
}


@dataclass(frozen=True)
class Settlement:
    """The case's next move after an attempt."""

    outcome: CaseOutcome | None  # None: call again if a window is left
    escalate: str | None = None  # a reason the flow itself did not already raise


def settle(
    *,
    status: AttemptStatus,
    flow_outcome: FlowOutcome | None,
    permanent_error: bool,
    attempts_made: int,
    max_attempts: int,
) -> Settlement:
    """Decide a case's fate from its latest attempt (flow escalations are raised by the flow)."""
    if status is AttemptStatus.ERROR and permanent_error:
        return Settlement(CaseOutcome.WRONG_NUMBER, "wrong_number")
    if flow_outcome is not None and flow_outcome in _FLOW_TO_CASE:
        return Settlement(_FLOW_TO_CASE[flow_outcome])
    # Not reached: unanswered, busy, failed, silent, or nobody confirmed being the contact.
    if attempts_made >= max_attempts:
        return Settlement(CaseOutcome.UNREACHABLE, "unreachable")
    return Settlement(None)
