"""What a finished attempt means for its case: every branch of settle()."""

from __future__ import annotations

import pytest

from ivr.flows.model import FlowOutcome
from ivr.models import AttemptStatus, CaseOutcome
from ivr.outcome import Settlement, settle

S = AttemptStatus
F = FlowOutcome
C = CaseOutcome


@pytest.mark.parametrize(
    ("status", "flow_outcome", "permanent", "made", "expected"),
    [
        # The provider refused the number for good: wrong number, whatever the count.
        (S.ERROR, None, True, 1, Settlement(C.WRONG_NUMBER, "wrong_number")),
        (S.ERROR, None, True, 3, Settlement(C.WRONG_NUMBER, "wrong_number")),
        # A transient error is like no answer: call again, or unreachable at the last attempt.
        (S.ERROR, None, False, 1, Settlement(None)),
        (S.ERROR, None, False, 3, Settlement(C.UNREACHABLE, "unreachable")),
        # The flow's own ending decides; its escalations were raised by the flow.
        (S.COMPLETED, F.COMPLETED, False, 1, Settlement(C.COMPLETED)),
        (S.COMPLETED, F.COMPLETED, False, 3, Settlement(C.COMPLETED)),
        (S.COMPLETED, F.WRONG_PERSON, False, 1, Settlement(C.WRONG_PERSON)),
        (S.COMPLETED, F.REQUESTED_AGENT, False, 2, Settlement(C.REQUESTED_AGENT)),
        (S.COMPLETED, F.PARTIAL, False, 3, Settlement(C.PARTIAL)),
        # Nobody confirmed being the contact: not reached.
        (S.COMPLETED, F.NO_RESPONSE, False, 1, Settlement(None)),
        (S.COMPLETED, F.NO_RESPONSE, False, 3, Settlement(C.UNREACHABLE, "unreachable")),
        # Never answered.
        (S.NO_ANSWER, None, False, 1, Settlement(None)),
        (S.NO_ANSWER, None, False, 2, Settlement(None)),
        (S.NO_ANSWER, None, False, 3, Settlement(C.UNREACHABLE, "unreachable")),
        (S.NO_ANSWER, None, False, 4, Settlement(C.UNREACHABLE, "unreachable")),
        (S.BUSY, None, False, 1, Settlement(None)),
        (S.BUSY, None, False, 3, Settlement(C.UNREACHABLE, "unreachable")),
        (S.FAILED, None, False, 2, Settlement(None)),
        (S.CANCELED, None, False, 3, Settlement(C.UNREACHABLE, "unreachable")),
        # A completed call whose flow never started (e.g. the voice webhook failed).
        (S.COMPLETED, None, False, 1, Settlement(None)),
        # The permanent flag only means a wrong number on a provider error.
        (S.FAILED, None, True, 1, Settlement(None)),
        # A permanent error outranks a flow outcome saved before it.
        (S.ERROR, F.COMPLETED, True, 1, Settlement(C.WRONG_NUMBER, "wrong_number")),
    ],
)
def test_settle_decides_the_case_from_the_latest_attempt(
    status: AttemptStatus,
    flow_outcome: FlowOutcome | None,
    permanent: bool,
    made: int,
    expected: Settlement,
) -> None:
    """settle() maps status, flow outcome, error kind and attempts left to the case's fate."""
    assert expected == settle(
        status=status,
        flow_outcome=flow_outcome,
        permanent_error=permanent,
        attempts_made=made,
        max_attempts=3,
    )


def test_single_attempt_campaign_gives_up_after_one_unanswered_call() -> None:
    """With max_attempts=1 the first miss is final."""
    expected = Settlement(C.UNREACHABLE, "unreachable")
    assert expected == settle(
        status=S.NO_ANSWER,
        flow_outcome=None,
        permanent_error=False,
        attempts_made=1,
        max_attempts=1,
    )


def test_every_flow_outcome_that_reached_someone_closes_the_case() -> None:
    """Each flow outcome except no_response has a case outcome of the same name."""
    for outcome in FlowOutcome:
        settlement = settle(
            status=S.COMPLETED,
            flow_outcome=outcome,
            permanent_error=False,
            attempts_made=1,
            max_attempts=3,
        )
        if outcome is FlowOutcome.NO_RESPONSE:
            assert settlement.outcome is None
        else:
            assert Settlement(CaseOutcome(outcome.value)) == settlement


def test_identity_failure_closes_the_case_as_identity_failed() -> None:
    got = settle(
        status=S.COMPLETED,
        flow_outcome=F.IDENTITY_FAILED,
        permanent_error=False,
        attempts_made=1,
        max_attempts=5,
    )
    assert got == Settlement(C.IDENTITY_FAILED)


@pytest.mark.parametrize(
    ("calls", "retries", "made", "expected"),
    [
        # Without retries (post-discharge) the first "not me" closes the case; the flow escalated.
        (1, 0, 1, Settlement(C.WRONG_PERSON)),
        # With one retry (cooling-off) the first "not me" calls again, the second closes it.
        (1, 1, 1, Settlement(None)),
        (2, 1, 2, Settlement(C.WRONG_PERSON, "wrong_person")),
        # No attempt left to call again: close it now rather than lose it as unreachable.
        (1, 1, 5, Settlement(C.WRONG_PERSON, "wrong_person")),
    ],
)
def test_wrong_person_is_called_again_as_often_as_the_flow_says(
    calls: int, retries: int, made: int, expected: Settlement
) -> None:
    got = settle(
        status=S.COMPLETED,
        flow_outcome=F.WRONG_PERSON,
        permanent_error=False,
        attempts_made=made,
        max_attempts=5,
        wrong_person_calls=calls,
        wrong_person_retries=retries,
    )
    assert got == expected
