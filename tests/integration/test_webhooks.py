"""The provider-facing webhooks through the Flask test client, on SQLite and PostgreSQL.

Twilio signs every request, repeats some, and sends status callbacks in no particular order; each
test plays one such sequence and checks what ends up in the database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from ivr.app import create_app
from ivr.config import ConfigError, Settings
from ivr.flows.loader import load_shipped_flow
from ivr.models import (
    Answer,
    Attempt,
    AttemptStatus,
    Case,
    CaseOutcome,
    CaseStatus,
    Escalation,
    Recording,
    RecordingStatus,
)
from ivr.services import Services
from ivr.webhooks.signature import is_signed
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PUBLIC_BASE_URL, FakeClock
from tests.webhook_client import signature, signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@dataclass(frozen=True)
class Call:
    """One dialled attempt, as the dispatcher leaves it."""

    attempt_id: int
    case_id: int
    call_sid: str


def make_call(
    sessions: sessionmaker[Session],
    clock: FakeClock,
    *,
    number: int = 1,
    language: str = "zh-CN",
    call_sid: str | None = "CA" + "0" * 31 + "1",
    name: str = "ward-7",
) -> Call:
    """A campaign, a case in call and its attempt number `number`, as the dispatcher writes them."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, clock.now, name=name)
        case = factories.case(session, campaign, clock.now, ref=f"{name}-1", language=language)
        case.status = CaseStatus.IN_CALL
        case.attempts_made = number
        case.next_call_at = None
        attempt = Attempt(
            case_id=case.id,
            number=number,
            status=AttemptStatus.QUEUED,
            call_sid=call_sid,
            language=language,
            created_at=clock.now,
            placed_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        return Call(attempt.id, case.id, call_sid or "CA" + "f" * 32)


@pytest.fixture
def app(settings: Settings, services: Services) -> Flask:
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> Call:
    return make_call(sessions, clock)


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the app runs from now on."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def form(call: Call, **fields: str) -> dict[str, str]:
    """The parameters Twilio sends with every call webhook, plus fields."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.call_sid,
        "From": FROM_NUMBER,
        "To": factories.FICTIONAL_PHONES[0],
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        **fields,
    }


def voice(client: FlaskClient, call: Call) -> TestResponse:
    """The answered call fetches its first TwiML and, past the neutral opening, the flow's."""
    body = form(call, CallStatus="in-progress")
    opening = signed_post(client, f"/twilio/voice?attempt={call.attempt_id}", body)
    redirect = twiml(opening).find("Redirect") if opening.status_code == 200 else None
    if redirect is None:
        return opening  # refused, or not held (an unknown call, a machine): nothing follows
    # Twilio follows the Redirect as it is written: the absolute public URL, signed as such.
    url = redirect.text or ""
    assert url.startswith(PUBLIC_BASE_URL + "/twilio/voice?")
    return signed_post(client, url.removeprefix(PUBLIC_BASE_URL), body)


def gather(client: FlaskClient, call: Call, step: int, digits: str) -> TestResponse:
    """A Gather's action request for step (digits "" is silence)."""
    return signed_post(
        client,
        f"/twilio/gather?attempt={call.attempt_id}&step={step}",
        form(call, CallStatus="in-progress", Digits=digits),
    )


def status(
    client: FlaskClient, call: Call, call_status: str, sequence: int | None = None, **extra: str
) -> TestResponse:
    """A status callback."""
    fields = {"CallStatus": call_status, "CallbackSource": "call-progress-events", **extra}
    if sequence is not None:
        fields["SequenceNumber"] = str(sequence)
    return signed_post(client, f"/twilio/status?attempt={call.attempt_id}", form(call, **fields))


def twiml(response: TestResponse) -> ET.Element:
    """The TwiML Response of a 200 answer."""
    assert 200 == response.status_code
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_data(as_text=True))


def said(root: ET.Element) -> str:
    """Everything a TwiML document says, joined."""
    return " ".join(say.text or "" for say in root.iter("Say"))


def action_of(root: ET.Element) -> str | None:
    """The Gather's action URL, or None for a document that hangs up."""
    found = root.find("Gather")
    return None if found is None else found.get("action")


def gather_url(call: Call, step: int) -> str:
    """The action URL the app must give for a step."""
    return f"{PUBLIC_BASE_URL}/twilio/gather?attempt={call.attempt_id}&step={step}"


def attempt_of(sessions: sessionmaker[Session], call: Call) -> Attempt:
    """The attempt row as committed."""
    with sessions() as session:
        row = session.get(Attempt, call.attempt_id)
        assert row is not None
        return row


def case_of(sessions: sessionmaker[Session], call: Call) -> Case:
    """The case row as committed."""
    with sessions() as session:
        row = session.get(Case, call.case_id)
        assert row is not None
        return row


def answers_of(sessions: sessionmaker[Session], call: Call) -> dict[str, str | None]:
    """Answers saved for the attempt."""
    with sessions() as session:
        rows = session.scalars(select(Answer).where(Answer.attempt_id == call.attempt_id))
        return {row.question: row.value for row in rows}


def answer_count(sessions: sessionmaker[Session], call: Call) -> int:
    """How many Answer rows the attempt has."""
    with sessions() as session:
        query = select(func.count()).select_from(Answer).where(Answer.attempt_id == call.attempt_id)
        return int(session.scalar(query) or 0)


def escalations_of(sessions: sessionmaker[Session], call: Call) -> dict[str, tuple[int, int]]:
    """Open escalations of the case: reason -> (priority, triggers)."""
    with sessions() as session:
        rows = session.scalars(select(Escalation).where(Escalation.case_id == call.case_id))
        return {row.reason: (row.priority, row.triggers) for row in rows}


def recordings(sessions: sessionmaker[Session]) -> list[Recording]:
    """Every recording row."""
    with sessions() as session:
        return list(session.scalars(select(Recording).order_by(Recording.id)))


# Signatures ---------------------------------------------------------------------------------


def test_request_without_signature_is_forbidden_and_touches_no_row(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], statements: list[str]
) -> None:
    """No X-Twilio-Signature: 403 before any database work."""
    response = client.post(f"/twilio/voice?attempt={call.attempt_id}", data=form(call))
    assert 403 == response.status_code
    assert [] == statements
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.QUEUED, None, 0) == (
        attempt.status,
        attempt.flow_state,
        attempt.flow_step,
    )


@pytest.mark.parametrize(
    ("token", "signed_path", "headers"),
    [
        pytest.param("not-the-token", None, {}, id="other-token"),
        pytest.param(AUTH_TOKEN, "/twilio/voice?attempt=999", {}, id="other-query"),
        pytest.param(AUTH_TOKEN, "/twilio/status?attempt={id}", {}, id="other-path"),
        pytest.param(
            AUTH_TOKEN,
            "/twilio/voice?attempt={id}",
            {"X-Forwarded-Host": "attacker.example", "Host": "attacker.example"},
            id="forwarded-host",
        ),
    ],
)
def test_wrong_signature_is_forbidden_and_changes_nothing(
    client: FlaskClient,
    call: Call,
    sessions: sessionmaker[Session],
    statements: list[str],
    token: str,
    signed_path: str | None,
    headers: dict[str, str],
) -> None:
    """A signature for another token, URL or host is refused with 403."""
    path = f"/twilio/voice?attempt={call.attempt_id}"
    url_signed = (
        PUBLIC_BASE_URL + path
        if signed_path is None
        else ("https://attacker.example" if headers else PUBLIC_BASE_URL)
        + signed_path.format(id=call.attempt_id)
    )
    body = form(call, CallStatus="in-progress")
    headers = {**headers, "X-Twilio-Signature": signature(url_signed, body, token)}
    response = client.post(path, data=body, headers=headers)
    assert 403 == response.status_code
    assert [] == statements
    assert attempt_of(sessions, call).flow_state is None


def test_tampered_form_breaks_the_signature(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Changing a signed parameter (the keys pressed) is refused."""
    voice(client, call)
    path = f"/twilio/gather?attempt={call.attempt_id}&step=1"
    body = form(call, Digits="2")
    headers = {"X-Twilio-Signature": signature(PUBLIC_BASE_URL + path, {**body, "Digits": "1"})}
    assert 403 == client.post(path, data=body, headers=headers).status_code
    assert 1 == attempt_of(sessions, call).flow_step


def test_twilio_published_signature_vector_is_accepted(database_url: str) -> None:
    """Our check accepts the known-answer vector from twilio-python's own tests."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert is_signed("12345", url, params, expected)
    assert not is_signed("12345", url, {**params, "Digits": "1235"}, expected)
    assert not is_signed("12346", url, params, expected)
    assert not is_signed("", url, params, expected)
    assert not is_signed("12345", url, params, None)


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("twilio_auth_token", "TWILIO_AUTH_TOKEN"),
        ("public_base_url", "IVR_PUBLIC_BASE_URL"),
        ("secret_key", "IVR_SECRET_KEY"),
    ],
)
def test_app_refuses_to_start_without_what_signatures_need(
    settings: Settings, services: Services, field: str, variable: str
) -> None:
    """Fail closed: no token or public URL, no server (ConfigError names the variable)."""
    with pytest.raises(ConfigError, match=variable) as info:
        create_app(settings.with_(**{field: ""}), services=services)
    assert [f"{variable} is required for this command"] == info.value.problems


def test_oversize_body_is_refused_before_any_database_work(
    client: FlaskClient, call: Call, settings: Settings, statements: list[str]
) -> None:
    """A body over max_body_bytes gets 413, signed or not, with no SQL run."""
    body = form(call, Padding="x" * (settings.max_body_bytes + 1))
    response = signed_post(client, f"/twilio/status?attempt={call.attempt_id}", body)
    assert 413 == response.status_code
    assert [] == statements


# Voice and gather -----------------------------------------------------------------------------


def test_voice_answers_with_the_identity_question(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """The answered call hears the first prompt in Mandarin, with a Gather for step 1."""
    root = twiml(voice(client, call))
    assert gather_url(call, 1) == action_of(root)
    say = root.find("Gather/Say")
    assert say is not None and "Polly.Zhiyu" == say.get("voice")
    assert "示例医院" in said(root) and "测试患者" in said(root)
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.IN_PROGRESS, 1) == (attempt.status, attempt.flow_step)
    assert attempt.flow_state is not None and "identify" == attempt.flow_state["node"]


def test_voice_speaks_english_for_an_english_attempt(
    client: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The attempt's language picks the prompts and the voice."""
    call = make_call(sessions, clock, language="en-US")
    root = twiml(voice(client, call))
    say = root.find("Gather/Say")
    assert say is not None and ("Polly.Joanna", "en-US") == (say.get("voice"), say.get("language"))
    assert said(root).startswith("Hello, this is the follow-up service of 示例医院.")


def test_replayed_voice_request_gets_the_same_first_prompt(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Twilio retrying the voice URL does not restart or advance the flow."""
    first = voice(client, call).get_data(as_text=True)
    second = voice(client, call).get_data(as_text=True)
    assert first == second
    assert 1 == attempt_of(sessions, call).flow_step


def test_voice_binds_a_call_whose_create_response_was_lost(
    client: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """An attempt without a call id takes the first webhook's CallSid."""
    call = make_call(sessions, clock, call_sid=None)
    assert gather_url(call, 1) == action_of(twiml(voice(client, call)))
    assert call.call_sid == attempt_of(sessions, call).call_sid


def test_gather_applies_keys_once_and_a_replay_gets_the_same_next_prompt(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A replayed gather (same step) answers as before and writes no second Answer."""
    voice(client, call)
    gather(client, call, 1, "1")
    first = gather(client, call, 2, "3")
    replay = gather(client, call, 2, "3")
    assert first.get_data() == replay.get_data()
    assert gather_url(call, 3) == action_of(twiml(replay))
    assert "是否按医嘱按时服药" in said(twiml(replay))
    assert {"recovery": "worse"} == answers_of(sessions, call)
    assert 1 == answer_count(sessions, call)
    assert {"clinical_concern": (1, 1)} == escalations_of(sessions, call)
    assert 3 == attempt_of(sessions, call).flow_step


def test_stale_gather_with_other_keys_does_not_change_the_answer(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A late copy of an older step, even with other digits, is a replay."""
    voice(client, call)
    gather(client, call, 1, "1")
    gather(client, call, 2, "1")
    late = gather(client, call, 2, "3")
    assert gather_url(call, 3) == action_of(twiml(late))
    assert {"recovery": "better"} == answers_of(sessions, call)
    assert {} == escalations_of(sessions, call)


def test_full_survey_over_gathers_completes_and_saves_answers(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Identity, three answers, goodbye; the final callback closes the case as completed."""
    assert gather_url(call, 1) == action_of(twiml(voice(client, call)))
    for step, digits in enumerate(["1", "3", "2"], start=1):
        clock.advance(seconds=10)
        assert gather_url(call, step + 1) == action_of(twiml(gather(client, call, step, digits)))
    last = twiml(gather(client, call, 4, "5"))
    assert ["Say", "Hangup"] == [child.tag for child in last]
    assert "感谢您的配合" in said(last)
    clock.advance(seconds=5)
    assert 204 == status(client, call, "completed", 3, CallDuration="48").status_code

    assert {"recovery": "worse", "medication": "no", "satisfaction": "5"} == answers_of(
        sessions, call
    )
    # Two clinical concerns in one call add to one open escalation.
    assert {"clinical_concern": (1, 2)} == escalations_of(sessions, call)
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.COMPLETED, 48, clock.now) == (
        attempt.status,
        attempt.duration_s,
        attempt.settled_at,
    )
    assert attempt.reached
    case = case_of(sessions, call)
    assert (CaseStatus.DONE, CaseOutcome.COMPLETED, clock.now, None) == (
        case.status,
        case.outcome,
        case.done_at,
        case.next_call_at,
    )


def test_silence_reprompts_inside_a_new_gather(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """An empty Digits (actionOnEmptyResult) apologises and asks again at the next step."""
    voice(client, call)
    root = twiml(gather(client, call, 1, ""))
    assert gather_url(call, 2) == action_of(root)
    reprompt = load_shipped_flow("post-discharge").reprompt.text("zh-CN")
    assert said(root).startswith(reprompt + " 您好")
    assert 0 == answer_count(sessions, call)


def test_agent_key_raises_requested_agent_and_closes_the_case(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Key 0 says a person will call back, escalates, and the case ends as requested_agent."""
    voice(client, call)
    gather(client, call, 1, "1")
    root = twiml(gather(client, call, 2, "0"))
    assert action_of(root) is None and root.find("Hangup") is not None
    status(client, call, "completed", 2)
    assert {"requested_agent": (2, 1)} == escalations_of(sessions, call)
    assert CaseOutcome.REQUESTED_AGENT == case_of(sessions, call).outcome


def test_wrong_person_closes_the_case_with_an_escalation(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Key 2 at the identity question: wrong person, escalated, no retry."""
    voice(client, call)
    gather(client, call, 1, "2")
    status(client, call, "completed", 2)
    case = case_of(sessions, call)
    assert (CaseStatus.DONE, CaseOutcome.WRONG_PERSON) == (case.status, case.outcome)
    assert {"wrong_person": (3, 1)} == escalations_of(sessions, call)


def test_hangup_after_identification_is_partial_and_later_gathers_hang_up(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """The final callback mid-survey ends the flow as partial; a late gather changes nothing."""
    voice(client, call)
    gather(client, call, 1, "1")
    gather(client, call, 2, "2")
    status(client, call, "completed", 3)
    late = twiml(gather(client, call, 3, "1"))
    assert ["Hangup"] == [child.tag for child in late]
    assert {"recovery": "same"} == answers_of(sessions, call)
    assert {"partial": (3, 1)} == escalations_of(sessions, call)
    case = case_of(sessions, call)
    assert (CaseStatus.DONE, CaseOutcome.PARTIAL) == (case.status, case.outcome)
    assert "partial" == (attempt_of(sessions, call).flow_state or {})["outcome"]


def test_hangup_before_identification_plans_another_call(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Answered but nobody confirmed: no_response, the case is called again later."""
    voice(client, call)
    status(client, call, "completed", 2)
    case = case_of(sessions, call)
    assert (CaseStatus.PENDING, None) == (case.status, case.outcome)
    assert datetime(2030, 1, 7, 6, 0, tzinfo=UTC) == case.next_call_at
    assert "no_response" == (attempt_of(sessions, call).flow_state or {})["outcome"]
    assert {} == escalations_of(sessions, call)


def test_gather_before_the_flow_started_hangs_up_and_writes_nothing(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A gather for step 0 (no voice request seen) is not a server error."""
    root = twiml(gather(client, call, 0, "1"))
    assert ["Hangup"] == [child.tag for child in root]
    attempt = attempt_of(sessions, call)
    assert (None, 0) == (attempt.flow_state, attempt.flow_step)


# Status callbacks ---------------------------------------------------------------------------


def test_no_answer_on_the_first_attempt_plans_the_next_call(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Attempt 1 of 3 unanswered: the case waits for the next window after the retry spacing."""
    assert 204 == status(client, call, "no-answer", 2).status_code
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.NO_ANSWER, clock.now, clock.now) == (
        attempt.status,
        attempt.ended_at,
        attempt.settled_at,
    )
    case = case_of(sessions, call)
    # 09:00 Shanghai + 2 h spacing = 11:00, the end of the morning window: next is 14:00 local.
    assert (CaseStatus.PENDING, None, datetime(2030, 1, 7, 6, 0, tzinfo=UTC)) == (
        case.status,
        case.outcome,
        case.next_call_at,
    )
    assert {} == escalations_of(sessions, call)


@pytest.mark.parametrize("final", ["no-answer", "busy", "failed", "canceled"])
def test_unanswered_last_attempt_is_unreachable_and_escalated(
    client: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock, final: str
) -> None:
    """Attempt 3 of 3 unanswered: the case is done as unreachable with an escalation."""
    call = make_call(sessions, clock, number=3)
    status(client, call, final, 1)
    case = case_of(sessions, call)
    assert (CaseStatus.DONE, CaseOutcome.UNREACHABLE, None) == (
        case.status,
        case.outcome,
        case.next_call_at,
    )
    assert {"unreachable": (3, 1)} == escalations_of(sessions, call)


def test_duplicate_final_callbacks_settle_the_case_once(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A repeated no-answer, hours later, neither replans nor re-settles."""
    status(client, call, "no-answer", 2)
    planned = case_of(sessions, call).next_call_at
    settled = attempt_of(sessions, call).settled_at
    clock.advance(hours=5)
    assert 204 == status(client, call, "no-answer", 2).status_code
    assert planned == case_of(sessions, call).next_call_at
    assert settled == attempt_of(sessions, call).settled_at


def test_duplicate_final_callbacks_raise_one_escalation(
    client: FlaskClient, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """On the last attempt a repeated final callback does not count the escalation twice."""
    call = make_call(sessions, clock, number=3)
    for _ in range(3):
        status(client, call, "busy", 1)
    assert {"unreachable": (3, 1)} == escalations_of(sessions, call)


def test_out_of_order_callbacks_never_move_the_attempt_back(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """completed first, then ringing and initiated: the attempt stays completed."""
    status(client, call, "completed", 3, CallDuration="20")
    ended = clock.now
    clock.advance(seconds=1)
    status(client, call, "ringing", 1)
    status(client, call, "initiated", 0)
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.COMPLETED, 3, ended, 20) == (
        attempt.status,
        attempt.last_sequence,
        attempt.ended_at,
        attempt.duration_s,
    )


def test_terminal_status_is_final(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A second, different terminal status does not replace the first."""
    status(client, call, "busy", 2)
    status(client, call, "completed", 3)
    assert AttemptStatus.BUSY == attempt_of(sessions, call).status


def test_progress_callbacks_move_forward_without_settling(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """initiated, ringing, in-progress move the attempt on; the case stays in call."""
    for sequence, name in enumerate(["initiated", "ringing", "in-progress"]):
        status(client, call, name, sequence)
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.IN_PROGRESS, 2, None) == (
        attempt.status,
        attempt.last_sequence,
        attempt.settled_at,
    )
    assert CaseStatus.IN_CALL == case_of(sessions, call).status


def test_callbacks_for_another_call_are_ignored(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A CallSid that does not match the attempt's: 200/204, nothing changes."""
    other = Call(call.attempt_id, call.case_id, "CA" + "9" * 32)
    assert ["Hangup"] == [child.tag for child in twiml(voice(client, other))]
    assert ["Hangup"] == [child.tag for child in twiml(gather(client, other, 1, "1"))]
    assert 204 == status(client, other, "completed", 5).status_code
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.QUEUED, None, -1, call.call_sid) == (
        attempt.status,
        attempt.flow_state,
        attempt.last_sequence,
        attempt.call_sid,
    )
    assert CaseStatus.IN_CALL == case_of(sessions, call).status


def test_unknown_attempt_gets_a_hangup_so_twilio_stops_retrying(
    client: FlaskClient, call: Call
) -> None:
    """A signed request for an attempt we do not have: 200 with Hangup, or 204."""
    ghost = Call(call.attempt_id + 1000, call.case_id, call.call_sid)
    assert ["Hangup"] == [child.tag for child in twiml(voice(client, ghost))]
    assert ["Hangup"] == [child.tag for child in twiml(gather(client, ghost, 1, "1"))]
    assert 204 == status(client, ghost, "completed", 1).status_code


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/twilio/status?attempt={id}", {"CallStatus": "exploded"}),
        ("/twilio/status?attempt={id}", {"CallStatus": "completed", "SequenceNumber": "x"}),
        ("/twilio/status?attempt={id}", {"CallStatus": "completed", "CallDuration": "1.5"}),
        ("/twilio/status", {"CallStatus": "completed"}),
        ("/twilio/gather?attempt={id}", {"Digits": "1"}),
        ("/twilio/gather?attempt={id}&step=x", {"Digits": "1"}),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(
    client: FlaskClient,
    call: Call,
    sessions: sessionmaker[Session],
    path: str,
    fields: dict[str, str],
) -> None:
    """Signed but malformed requests are refused without a write."""
    response = signed_post(client, path.format(id=call.attempt_id), form(call, **fields))
    assert 400 == response.status_code
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.QUEUED, -1, 0) == (
        attempt.status,
        attempt.last_sequence,
        attempt.flow_step,
    )


def test_missing_call_sid_is_a_400(client: FlaskClient, call: Call) -> None:
    """Every call webhook needs the CallSid."""
    body = {"CallStatus": "completed"}
    assert 400 == signed_post(client, f"/twilio/status?attempt={call.attempt_id}", body).status_code


# Recordings and answering machines ----------------------------------------------------------


def recording_form(call: Call, recording_sid: str, **extra: str) -> dict[str, str]:
    """A recording status callback."""
    fields = {
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
        + recording_sid,
        "RecordingStatus": "completed",
        "RecordingDuration": "47",
        "RecordingChannels": "1",
        "RecordingSource": "OutboundAPI",
    }
    return form(call, **{**fields, **extra})


def test_recording_callback_creates_one_pending_row_and_a_duplicate_is_a_no_op(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The first callback notes the recording for the fetch job; a repeat changes nothing."""
    sid = "RE" + "a" * 32
    path = f"/twilio/recording?attempt={call.attempt_id}"
    assert 204 == signed_post(client, path, recording_form(call, sid)).status_code
    clock.advance(minutes=1)
    assert 204 == signed_post(client, path, recording_form(call, sid)).status_code
    (row,) = recordings(sessions)
    assert (
        call.attempt_id,
        sid,
        call.call_sid,
        RecordingStatus.PENDING,
        47,
        1,
        datetime(2030, 1, 7, 1, 0, tzinfo=UTC),
    ) == (
        row.attempt_id,
        row.recording_sid,
        row.call_sid,
        row.status,
        row.duration_s,
        row.channels,
        row.next_fetch_at,
    )
    assert row.media_url.endswith("/Recordings/" + sid)


def test_absent_recording_is_noted_as_failed(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """A recording the provider reports absent is kept as failed, never fetched."""
    body = recording_form(call, "RE" + "b" * 32, RecordingStatus="absent")
    signed_post(client, f"/twilio/recording?attempt={call.attempt_id}", body)
    (row,) = recordings(sessions)
    assert (RecordingStatus.FAILED, None, "provider reported absent") == (
        row.status,
        row.next_fetch_at,
        row.last_error,
    )


def test_completed_recording_without_url_is_a_400(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Nothing to fetch: refused, no row."""
    body = recording_form(call, "RE" + "c" * 32, RecordingUrl="")
    response = signed_post(client, f"/twilio/recording?attempt={call.attempt_id}", body)
    assert 400 == response.status_code
    assert [] == recordings(sessions)


def test_amd_callback_stores_answered_by(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """The async AMD result is kept on the attempt."""
    body = form(call, AnsweredBy="machine_start", MachineDetectionDuration="3100")
    response = signed_post(client, f"/twilio/amd?attempt={call.attempt_id}", body)
    assert 204 == response.status_code
    assert "machine_start" == attempt_of(sessions, call).answered_by


def test_amd_callback_for_another_call_is_ignored(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """AnsweredBy from a mismatched CallSid is not stored."""
    other = Call(call.attempt_id, call.case_id, "CA" + "8" * 32)
    body = form(other, AnsweredBy="human")
    assert 204 == signed_post(client, f"/twilio/amd?attempt={call.attempt_id}", body).status_code
    assert attempt_of(sessions, call).answered_by is None


def first_voice(client: FlaskClient, call: Call, *, held: bool = False) -> TestResponse:
    """One voice request as it comes: the answer's own, or the one the opening redirects to."""
    path = f"/twilio/voice?attempt={call.attempt_id}" + ("&held=1" if held else "")
    return signed_post(client, path, form(call, CallStatus="in-progress"))


def amd_says(client: FlaskClient, call: Call, answered_by: str) -> None:
    """The async AMD callback arrives with answered_by."""
    body = form(call, AnsweredBy=answered_by, MachineDetectionDuration="3100")
    assert 204 == signed_post(client, f"/twilio/amd?attempt={call.attempt_id}", body).status_code


def test_voice_holds_on_a_greeting_that_names_only_the_organisation(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Before AMD has answered: the organisation, a pause, a signed-URL redirect; no flow yet."""
    root = twiml(first_voice(client, call))
    assert ["Say", "Pause", "Redirect"] == [child.tag for child in root]
    assert "您好，这里是示例医院回访中心。" == said(root)  # noqa: RUF001 (Chinese punctuation)
    redirect = root.find("Redirect")
    assert redirect is not None
    expected = ("POST", f"{PUBLIC_BASE_URL}/twilio/voice?attempt={call.attempt_id}&held=1")
    assert expected == (redirect.get("method"), redirect.text)
    attempt = attempt_of(sessions, call)
    assert (AttemptStatus.IN_PROGRESS, 0, None) == (
        attempt.status,
        attempt.flow_step,
        attempt.flow_state,
    )


def test_a_repeated_opening_request_starts_nothing(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Twilio retrying the first voice request gets the same greeting and no flow starts."""
    first = first_voice(client, call).get_data(as_text=True)
    second = first_voice(client, call).get_data(as_text=True)
    assert first == second
    attempt = attempt_of(sessions, call)
    assert (0, None) == (attempt.flow_step, attempt.flow_state)


def test_the_held_request_hangs_up_on_a_machine_before_any_question(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """AMD said machine during the greeting: the redirect's request ends the call unstarted."""
    first_voice(client, call)
    amd_says(client, call, "machine_start")
    root = twiml(first_voice(client, call, held=True))
    assert ["Hangup"] == [child.tag for child in root]
    attempt = attempt_of(sessions, call)
    assert (0, None, False) == (attempt.flow_step, attempt.flow_state, attempt.reached)


def test_the_held_request_starts_the_flow_when_amd_has_not_answered(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """Still no AMD result after the one hold: a person is not kept waiting, the flow starts."""
    first_voice(client, call)
    root = twiml(first_voice(client, call, held=True))
    assert gather_url(call, 1) == action_of(root)
    assert "测试患者" in said(root)
    assert 1 == attempt_of(sessions, call).flow_step


def test_a_voice_request_after_amd_said_human_starts_the_flow_at_once(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session]
) -> None:
    """AMD already answered human: no greeting to hold on, the first question comes at once."""
    amd_says(client, call, "human")
    root = twiml(first_voice(client, call))
    assert root.find("Redirect") is None
    assert gather_url(call, 1) == action_of(root)


# Concurrency --------------------------------------------------------------------------------


def test_a_callback_waiting_on_the_attempt_reads_it_after_the_other_commits(
    client: FlaskClient,
    call: Call,
    sessions: sessionmaker[Session],
    engine: Engine,
    database_url: str,
) -> None:
    """Two callbacks at once: the slower one must not write back the status it read earlier.

    The test holds the attempt's row lock (standing in for a concurrent completed callback),
    starts a ringing callback, waits until it is blocked, then commits completed. The ringing
    callback must then see completed, not overwrite it with the queued-to-ringing step it planned.
    """
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: requests already run one at a time")
    results: list[int] = []
    with sessions.begin() as session:
        session.execute(
            select(Attempt).where(Attempt.id == call.attempt_id).with_for_update()
        ).scalar_one()
        worker = threading.Thread(
            target=lambda: results.append(status(client, call, "ringing", 1).status_code)
        )
        worker.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                waiting = conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
            if waiting:
                break
            time.sleep(0.02)
        assert waiting, "the ringing callback never waited for the row lock"
        attempt = session.get(Attempt, call.attempt_id)
        assert attempt is not None
        attempt.status = AttemptStatus.COMPLETED
        attempt.last_sequence = 3
    worker.join(10)
    assert [204] == results
    row = attempt_of(sessions, call)
    assert (AttemptStatus.COMPLETED, 3) == (row.status, row.last_sequence)


def test_a_gather_reads_the_attempt_with_its_case_campaign_and_contact_in_one_select(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], statements: list[str]
) -> None:
    """One locked read per gather: no lazy load, and the row is not read back after the UPDATE."""
    voice(client, call)
    statements.clear()
    assert 200 == gather(client, call, 1, "1").status_code
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert 1 == len(selects), selects
    assert 1 == sum(s.lstrip().upper().startswith("UPDATE ATTEMPT") for s in statements)
    assert 2 == attempt_of(sessions, call).flow_step


def test_a_gather_waits_for_the_write_lock_another_process_holds_then_applies_once(
    client: FlaskClient, call: Call, sessions: sessionmaker[Session], database_url: str
) -> None:
    """The busy timeout is off while BEGIN IMMEDIATE is retried: the gather waits, not fails."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    voice(client, call)
    other = sqlite3.connect(
        database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")  # another worker process, mid-transaction
    released: list[float] = []

    def commit() -> None:
        released.append(time.monotonic())
        other.commit()

    release = threading.Timer(0.3, commit)
    release.start()
    try:
        answer = gather(client, call, 1, "1")
        answered = time.monotonic()
    finally:
        release.join()
        other.close()
    assert 200 == answer.status_code
    # It waited for the lock: answered after the other transaction let go, however slow the
    # machine (a lower bound on the time taken would depend on when the request started).
    assert released and answered >= released[0]
    assert 2 == attempt_of(sessions, call).flow_step
