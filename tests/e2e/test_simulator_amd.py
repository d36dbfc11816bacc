"""Answering machines end to end: the simulator's AMD against the real webhooks on 127.0.0.1.

The call is placed through the real Twilio adapter pointed at the simulator, with the URLs the
dispatcher gives it; the simulator's persona is a voicemail that presses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import Attempt, AttemptStatus, CallEvent, Case, CaseOutcome, CaseStatus, Escalation
from ivr.services import Services
from ivr.telephony.port import CallRequest
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.e2e

VOICEMAIL = factories.FICTIONAL_PHONES[10]
VOICEMAIL_BEEP = factories.FICTIONAL_PHONES[11]
PERSON = factories.FICTIONAL_PHONES[12]
PERSONAS = {
    # The persona's keys are what a person would press: a machine presses none of them.
    VOICEMAIL: Persona(keys=("1", "2"), answered_by="machine_start"),
    VOICEMAIL_BEEP: Persona(keys=("1",), answered_by="machine_end_beep"),
    PERSON: Persona(keys=("1", "2", "1", "4")),
}


@dataclass
class Stack:
    """The app on a thread, the simulator, and an adapter pointed at the simulator."""

    base_url: str
    sim: Simulator
    telephony: TwilioTelephony
    sessions: sessionmaker[Session]


@pytest.fixture
def stack(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Iterator[Stack]:
    """create_app served at an ephemeral port, the simulator calling it back."""
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    sim = Simulator(
        account_sid=public.twilio_account_sid,
        auth_token=public.twilio_auth_token,
        personas=lambda number: PERSONAS[number],
        clock=clock,
    )
    sim.start()
    telephony = TwilioTelephony(
        account_sid=public.twilio_account_sid,
        auth_token=public.twilio_auth_token,
        api_base_url=sim.base_url,
    )
    services = Services(public, sessions, telephony=telephony, clock=clock)
    apps.append(create_app(public, services=services))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Stack(public.public_base_url, sim, telephony, sessions)
    finally:
        sim.stop()
        http.shutdown()
        thread.join(5)
        http.server_close()


def dial(
    stack: Stack,
    clock: FakeClock,
    phone: str,
    *,
    machine: str = "hangup",
    attempts_made: int = 1,
    language: str = "en-US",
) -> int:
    """Write a case and its attempt as the dispatcher does, place the call, wait for its end."""
    with stack.sessions.begin() as session:
        campaign = factories.campaign(session, clock.now, machine=machine, language=language)
        case = factories.case(session, campaign, clock.now, phone=phone, language=language)
        case.status = CaseStatus.IN_CALL
        case.attempts_made = attempts_made
        attempt = Attempt(
            case_id=case.id,
            number=attempts_made,
            status=AttemptStatus.CREATED,
            language=language,
            created_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
    query = f"?attempt={attempt_id}"
    request = CallRequest(
        attempt_id=attempt_id,
        to=phone,
        from_="+15005550006",
        voice_url=f"{stack.base_url}/twilio/voice{query}",
        status_callback_url=f"{stack.base_url}/twilio/status{query}",
        recording_callback_url=f"{stack.base_url}/twilio/recording{query}",
        amd_callback_url=f"{stack.base_url}/twilio/amd{query}",
        detect_message_end=machine == "message",
    )
    stack.telephony.place_call(request)
    stack.sim.drain(timeout=30)
    return attempt_id


def events_of(session: Session, attempt_id: int) -> list[str]:
    """The kinds of an attempt's answering-machine events."""
    rows = session.scalars(
        select(CallEvent.kind).where(
            CallEvent.attempt_id == attempt_id, CallEvent.kind.like("amd.%")
        )
    )
    return list(rows)


def test_a_machine_is_hung_up_on_and_the_case_is_called_again(
    stack: Stack, clock: FakeClock
) -> None:
    """machine_start: the held opening's redirect ends the call; not reached, the case waits."""
    attempt_id = dial(stack, clock, VOICEMAIL)

    [call] = stack.sim.calls
    assert ("machine_start", "completed") == (call.answered_by, call.status)
    assert [] == call.pressed  # hung up after the greeting, before any question
    assert "hangup" in call.events
    [amd] = call.requests_of("amd")
    assert {"AccountSid", "CallSid", "AnsweredBy", "MachineDetectionDuration"} == set(amd.form)
    with stack.sessions() as session:
        attempt = session.get_one(Attempt, attempt_id)
        case = session.get_one(Case, attempt.case_id)
        assert ("machine_start", False) == (attempt.answered_by, attempt.reached)
        assert ["amd.hung_up"] == events_of(session, attempt_id)
        assert (CaseStatus.PENDING, None) == (case.status, case.outcome)
        assert case.next_call_at is not None
        assert [] == list(session.scalars(select(Escalation)))


def test_a_message_is_left_after_the_beep_when_the_campaign_asks(
    stack: Stack, clock: FakeClock
) -> None:
    """machine=message: DetectMessageEnd, then the organisation's short message and a hang-up."""
    attempt_id = dial(stack, clock, VOICEMAIL_BEEP, machine="message")

    [call] = stack.sim.calls
    assert "DetectMessageEnd" == call.params["MachineDetection"]
    [amd] = call.requests_of("amd")
    assert "machine_end_beep" == amd.form["AnsweredBy"]
    assert int(amd.form["MachineDetectionDuration"]) > 5000  # it waited for the greeting
    said = call.said[-1]
    assert "We will call you again" in said
    assert "测试患者" not in said and "Test" not in said  # nothing about the case on a voicemail
    assert "hangup" in call.events
    with stack.sessions() as session:
        assert ["amd.message_left"] == events_of(session, attempt_id)


def test_the_message_is_said_in_the_contact_s_language(stack: Stack, clock: FakeClock) -> None:
    """A zh-CN contact's voicemail hears the Mandarin message with the organisation's name."""
    dial(stack, clock, VOICEMAIL_BEEP, machine="message", language="zh-CN")

    [call] = stack.sim.calls
    assert "我们稍后会再给您来电" in call.said[-1]
    assert "示例医院" in call.said[-1]


def test_a_machine_on_the_last_attempt_escalates_as_machine_answered(
    stack: Stack, clock: FakeClock
) -> None:
    """No attempt left: the case is unreachable and a person gets a machine_answered task."""
    attempt_id = dial(stack, clock, VOICEMAIL, attempts_made=3)

    with stack.sessions() as session:
        attempt = session.get_one(Attempt, attempt_id)
        case = session.get_one(Case, attempt.case_id)
        assert (CaseStatus.DONE, CaseOutcome.UNREACHABLE) == (case.status, case.outcome)
        reasons = list(session.scalars(select(Escalation.reason)))
        assert ["machine_answered"] == reasons


def test_a_person_is_not_taken_for_a_machine(stack: Stack, clock: FakeClock) -> None:
    """The same wiring with a person: AnsweredBy human, the flow runs to its end."""
    attempt_id = dial(stack, clock, PERSON)

    [call] = stack.sim.calls
    assert ("human", ["1", "2", "1", "4"]) == (call.answered_by, call.pressed)
    with stack.sessions() as session:
        attempt = session.get_one(Attempt, attempt_id)
        case = session.get_one(Case, attempt.case_id)
        assert [] == events_of(session, attempt_id)
        assert CaseOutcome.COMPLETED == case.outcome
