"""Reading Twilio's Call resource and choosing an attempt's call among the listed ones. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.flows.model import FlowOutcome
from ivr.models import AttemptStatus, CaseOutcome
from ivr.outcome import settle
from ivr.telephony.port import ProviderCall, is_machine
from ivr.telephony.twilio_calls import list_queries, parse_call, parse_queue_time, pick_call

SINCE = datetime(2030, 1, 7, 0, 0, 30, 400_000, tzinfo=UTC)


def made(n: int, offset_s: float) -> ProviderCall:
    """A listed call created offset_s seconds after SINCE (whole seconds, as Twilio dates it)."""
    created = (SINCE + timedelta(seconds=offset_s)).replace(microsecond=0)
    return ProviderCall(call_sid=f"CA{n:032x}", status="completed", created_at=created)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0.0), ("1500", 1.5), ("250", 0.25), (None, None), ("", None), ("soon", None)],
)
def test_queue_time_milliseconds_become_seconds(raw: str | None, expected: float | None) -> None:
    """Twilio's queue_time is a string of milliseconds; junk and absence are None."""
    assert expected == parse_queue_time(raw)


def test_pick_call_prefers_the_first_call_created_after_since() -> None:
    """The same second as since counts as after; a later call belongs to a later attempt."""
    calls = [made(3, 300), made(1, -3600), made(2, 0)]
    assert made(2, 0) == pick_call(calls, SINCE)


def test_pick_call_accepts_a_call_a_little_before_since_for_clock_skew() -> None:
    """Nothing after since: the latest call within two minutes before it."""
    assert made(5, -30) == pick_call([made(4, -100), made(5, -30)], SINCE)


def test_pick_call_rejects_older_calls() -> None:
    """A call from before the skew margin is an earlier attempt's."""
    assert pick_call([made(6, -600)], SINCE) is None


def test_list_queries_put_queued_calls_first_and_a_utc_day_filter_second() -> None:
    """Queued first, so a call leaving the queue between the two requests is not missed."""
    first, second = list_queries("+12025550101", "+15005550006", SINCE)
    assert "queued" == first["Status"]
    assert "2030-01-06" == second["StartTime>"]  # the skew margin reaches back into the day before


def test_parse_call_needs_a_sid_and_a_creation_date() -> None:
    """A record that cannot be dated cannot be matched to an attempt."""
    with pytest.raises(ValueError, match="date_created"):
        parse_call({"sid": "CA" + "0" * 32, "status": "queued"})


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [
        ("machine_start", True),
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("machine_end_other", True),
        ("fax", True),
        ("human", False),
        ("unknown", False),
        (None, False),
    ],
)
def test_which_amd_results_are_machines(answered_by: str | None, machine: bool) -> None:
    """AMD's "unknown" is not a machine: a silent person is still a person."""
    assert machine == is_machine(answered_by)


@pytest.mark.parametrize(
    ("made_", "machine", "expected"),
    [
        (1, True, (None, None)),
        (3, True, (CaseOutcome.UNREACHABLE, "machine_answered")),
        (3, False, (CaseOutcome.UNREACHABLE, "unreachable")),
    ],
)
def test_a_machine_answer_is_not_reached_and_escalates_as_such_at_the_end(
    made_: int, machine: bool, expected: tuple[CaseOutcome | None, str | None]
) -> None:
    """Retried like no answer; after the last attempt, machine_answered instead of unreachable."""
    decision = settle(
        status=AttemptStatus.COMPLETED,
        flow_outcome=FlowOutcome.NO_RESPONSE,
        permanent_error=False,
        attempts_made=made_,
        max_attempts=3,
        machine=machine,
    )
    assert expected == (decision.outcome, decision.escalate)


def test_a_completed_survey_wins_over_a_machine_guess() -> None:
    """Someone answered every question: AMD was wrong, the case is completed."""
    decision = settle(
        status=AttemptStatus.COMPLETED,
        flow_outcome=FlowOutcome.COMPLETED,
        permanent_error=False,
        attempts_made=3,
        max_attempts=3,
        machine=True,
    )
    assert CaseOutcome.COMPLETED == decision.outcome
