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
    FlowOutcome.IDENTITY_FAILED: CaseOutcome.IDENTITY_FAILED,
    # The shell closes the case when the key is pressed; settling later agrees with it.
    FlowOutcome.OPTED_OUT: CaseOutcome.OPTED_OUT,
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
    wrong_person_calls: int = 0,
    wrong_person_retries: int = 0,
    machine: bool = False,
) -> Settlement:
    """Decide a case's fate from its latest attempt (flow escalations are raised by the flow).

    wrong_person_calls counts the case's attempts that ended "not me", this one included; a flow
    with wrong_person_retries calls again that many times before closing the case.
    machine: an answering machine took this attempt (AMD); it counts as not reached, and if it
    was the last attempt the case escalates as machine_answered: the number is live, a person
    may reach its owner where the machine could not.
    """
    if status is AttemptStatus.ERROR and permanent_error:
        return Settlement(CaseOutcome.WRONG_NUMBER, "wrong_number")
    if flow_outcome is FlowOutcome.WRONG_PERSON and wrong_person_retries > 0:
        if wrong_person_calls <= wrong_person_retries and attempts_made < max_attempts:
            return Settlement(None)
        return Settlement(CaseOutcome.WRONG_PERSON, "wrong_person")
    if flow_outcome is not None and flow_outcome in _FLOW_TO_CASE:
        return Settlement(_FLOW_TO_CASE[flow_outcome])
    # Not reached: unanswered, busy, failed, silent, or nobody confirmed being the contact.
    if attempts_made >= max_attempts:
        return Settlement(CaseOutcome.UNREACHABLE, "machine_answered" if machine else "unreachable")
    return Settlement(None)
