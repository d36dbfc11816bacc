"""An agent's callback: who may ask, the windows, the provider's create, then each webhook step.

Twilio's REST API is faked at the HTTP level with `responses`; the webhooks are posted signed
through the Flask test client, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ivr.app import create_app
from ivr.audit.log import verify_chain
from ivr.config import Settings
from ivr.consent.dnc import add_number
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    AuditEntry,
    DncSource,
    Escalation,
    EscalationEvent,
    StaffRole,
    StaffScope,
    StaffUser,
)
from ivr.queue.access import acting_user
from ivr.queue.actions import claim, reassign, release
from ivr.queue.callback import CallbackResult, request_callback
from ivr.queue.errors import (
    CallbackError,
    DoNotCallError,
    NoPhoneError,
    NotAllowedError,
    OutsideWindowError,
)
from ivr.queue.history import history_of
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PUBLIC_BASE_URL, FakeClock
from tests.integration.test_queue_actions import add_campaign, add_escalation, add_user
from tests.webhook_client import signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

S = AgentCallbackStatus
API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CALLS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
AGENT_SID = "CA" + "a1" * 16
DIAL_SID = "CA" + "d2" * 16
CUSTOMER = factories.FICTIONAL_PHONES[0]
ANN_PHONE = factories.FICTIONAL_PHONES[50]
SUE_PHONE = factories.FICTIONAL_PHONES[51]
BOB_PHONE = factories.FICTIONAL_PHONES[52]
# Monday 2030-01-07, 12:00 in Asia/Shanghai: between post-discharge's 08-11 and 14-17 windows.
LUNCHTIME = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Desk:
    """An escalation claimed by agent ann; bob (agent), sue (supervisor), cat (no phone)."""

    escalation_id: int
    case_id: int


def created_call(sid: str = AGENT_SID) -> dict[str, Any]:
    """A create answer shaped like Twilio's (the fields the adapter reads)."""
    return {"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued"}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; a request no test expected fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def with_twilio(services: Services) -> Services:
    """The services with the real Twilio adapter, its REST API faked by `responses`."""
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _s: None
    )
    return services


@pytest.fixture
def calling(services: Services) -> Services:
    return with_twilio(services)


@pytest.fixture
def app(settings: Settings, calling: Services) -> Flask:
    return create_app(settings, services=calling)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_desk(services: Services, now: datetime, **campaign_options: str) -> Desk:
    """A post-discharge campaign, an escalation of a case of it claimed by ann, and the staff."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, now, **campaign_options)
        for name, role, phone in (
            ("ann", StaffRole.AGENT, ANN_PHONE),
            ("bob", StaffRole.AGENT, BOB_PHONE),
            ("sue", StaffRole.SUPERVISOR, SUE_PHONE),
            ("cat", StaffRole.AGENT, None),
        ):
            add_user(session, now, name, role).phone = phone
        escalation_id = add_escalation(session, campaign, now)
        escalation = session.get(Escalation, escalation_id)
        assert escalation is not None
        case_id = escalation.case_id
    with services.sessions.begin() as session:
        assert claim(session, services, escalation_id, acting_user(session, "ann")).won
    return Desk(escalation_id, case_id)


@pytest.fixture
def desk(calling: Services, clock: FakeClock) -> Desk:
    return make_desk(calling, clock.now)


def user(services: Services, name: str) -> StaffUser:
    with services.sessions() as session:
        return acting_user(session, name)


def call_back(services: Services, desk: Desk, name: str = "ann", **kw: Any) -> CallbackResult:
    return request_callback(services, desk.escalation_id, user(services, name), **kw)


def callback_row(services: Services, callback_id: int) -> AgentCallback:
    with services.sessions() as session:
        row = session.get(AgentCallback, callback_id)
        assert row is not None
        return row


def callback_count(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(AgentCallback)) or 0


def actions(services: Services, desk: Desk) -> list[str]:
    with services.sessions() as session:
        return [e.action for e in history_of(session, desk.escalation_id)]


def placed(services: Services, desk: Desk, mocked: responses.RequestsMock) -> int:
    """A callback whose create Twilio accepted: ann's phone is ringing. Its id."""
    mocked.post(CALLS_URL, json=created_call(), status=201)
    result = call_back(services, desk)
    assert S.CALLING_AGENT == result.status
    return result.callback_id


def post(
    client: FlaskClient, step: str, callback_id: int, call_sid: str = AGENT_SID, **fields: str
) -> Any:
    """A signed webhook of the agent's leg, as Twilio sends it."""
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": FROM_NUMBER,
        "To": ANN_PHONE,
        "Direction": "outbound-api",
        **fields,
    }
    return signed_post(client, f"/twilio/agent/{step}?callback={callback_id}", form)


def twiml(response: Any) -> ET.Element:
    assert 200 == response.status_code
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_data(as_text=True))


def tags(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


# --- the request --------------------------------------------------------------------------------


def test_callback_rings_the_agent_first_unrecorded_and_without_amd(
    calling: Services, desk: Desk, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The create rings ann's phone with our answer and status URLs; no recording, no AMD."""
    clock.advance(minutes=5)
    callback_id = placed(calling, desk, mocked)

    body = mocked.calls[0].request.body
    assert isinstance(body, str)
    sent = parse_qs(body, strict_parsing=True)
    base = f"{PUBLIC_BASE_URL}/twilio/agent"
    assert [ANN_PHONE] == sent["To"]
    assert [FROM_NUMBER] == sent["From"]
    assert [f"{base}/answer?callback={callback_id}"] == sent["Url"]
    assert [f"{base}/status?callback={callback_id}"] == sent["StatusCallback"]
    assert ["initiated", "ringing", "answered", "completed"] == sent["StatusCallbackEvent"]
    assert ["false"] == sent["Record"]
    for absent in ("MachineDetection", "AsyncAmd", "RecordingStatusCallback"):
        assert absent not in sent
    row = callback_row(calling, callback_id)
    assert (S.CALLING_AGENT, AGENT_SID, False) == (row.status, row.call_sid, row.window_override)
    assert clock.now == row.placed_at
    assert "callback_requested" in actions(calling, desk)
    with calling.sessions() as session:
        escalation = session.get(Escalation, desk.escalation_id)
        assert escalation is not None
        assert clock.now == escalation.touched_at  # calling back keeps the claim alive


def test_the_row_is_committed_before_the_provider_is_asked(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """When the create reaches Twilio, another connection already sees the REQUESTED row."""
    seen: list[tuple[S, str | None]] = []

    def create(_request: Any) -> tuple[int, dict[str, str], str]:
        with calling.sessions() as session:
            row = session.scalars(select(AgentCallback)).one()
            seen.append((row.status, row.call_sid))
        return 201, {}, json.dumps(created_call())

    mocked.add_callback(responses.POST, CALLS_URL, callback=create)

    call_back(calling, desk)

    assert [(S.REQUESTED, None)] == seen


def test_a_provider_refusal_is_stored_as_failed_without_the_number(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """Twilio's 21211 leaves a FAILED row with its code; the message names no number."""
    error = {"code": 21211, "message": f"The 'To' number {ANN_PHONE} is not valid.", "status": 400}
    mocked.post(CALLS_URL, json=error, status=400)

    result = call_back(calling, desk)

    row = callback_row(calling, result.callback_id)
    assert (S.FAILED, 21211) == (row.status, row.error_code)
    assert ANN_PHONE not in (row.error_message or "")
    assert row.ended_at is not None
    assert "failed" in result.message()
    assert ["callback_requested", "callback_failed"] == actions(calling, desk)[-2:]


def test_only_the_holder_or_a_supervisor_calls_back(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """bob does not hold the claim: refused, nothing written; sue, a supervisor, may call."""
    with pytest.raises(NotAllowedError, match="claim escalation"):
        call_back(calling, desk, "bob")
    assert 0 == callback_count(calling)
    assert 0 == len(mocked.calls)

    mocked.post(CALLS_URL, json=created_call(), status=201)
    result = call_back(calling, desk, "sue")

    assert S.CALLING_AGENT == result.status
    body = mocked.calls[0].request.body
    assert isinstance(body, str)
    assert [SUE_PHONE] == parse_qs(body)["To"]


def test_a_holder_outside_the_cases_scope_may_not_call_back(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """ann's scope narrowed to another department after her claim: the scope rule still holds."""
    with calling.sessions.begin() as session:
        session.add(StaffScope(user_id=acting_user(session, "ann").id, department="Oncology"))

    with pytest.raises(NotAllowedError, match="outside the scope of ann"):
        call_back(calling, desk)

    assert (0, 0) == (callback_count(calling), len(mocked.calls))


def test_an_open_escalation_must_be_claimed_by_an_agent_first(
    calling: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """Nobody holds it: an agent is told to claim it; no row, no call."""
    desk = make_desk(calling, clock.now)
    with calling.sessions.begin() as session:
        release(session, calling, desk.escalation_id, acting_user(session, "ann"))

    with pytest.raises(NotAllowedError):
        call_back(calling, desk, "ann")

    assert (0, 0) == (callback_count(calling), len(mocked.calls))


def test_an_agent_without_a_phone_is_told_how_to_set_one(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """cat holds the escalation but has no phone: the error names the command that sets it."""
    with calling.sessions.begin() as session:
        sue = acting_user(session, "sue")
        reassign(session, calling, desk.escalation_id, sue, to=acting_user(session, "cat"))

    with pytest.raises(NoPhoneError, match=r"ivr users phone cat \+E164"):
        call_back(calling, desk, "cat")
    assert 0 == callback_count(calling)


def test_a_number_on_the_do_not_call_list_is_not_called_back(
    calling: Services, desk: Desk, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """The customer asked to be left alone: refused before any row or call."""
    with calling.sessions.begin() as session:
        add_number(session, CUSTOMER, now=clock.now, source=DncSource.CLI)

    with pytest.raises(DoNotCallError, match="do-not-call"):
        call_back(calling, desk)

    assert (0, 0) == (callback_count(calling), len(mocked.calls))


def test_outside_the_windows_the_request_names_when_the_next_one_opens(
    calling: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """At 12:00 in Shanghai the next post-discharge window opens at 14:00 local, 06:00 UTC."""
    clock.now = LUNCHTIME
    desk = make_desk(calling, clock.now)

    with pytest.raises(OutsideWindowError) as refused:
        call_back(calling, desk)

    assert datetime(2030, 1, 7, 6, 0, tzinfo=UTC) == refused.value.opens_at
    message = str(refused.value)
    assert "2030-01-07 14:00 Asia/Shanghai (2030-01-07 06:00 UTC)" in message
    assert "--override-window" in message
    assert (0, 0) == (callback_count(calling), len(mocked.calls))


def test_a_blackout_date_closes_every_window_of_the_day(
    calling: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """09:00 on a blacked-out Monday: refused, the next window is Tuesday 08:00 local."""
    desk = make_desk(calling, clock.now, blackout="2030-01-07")

    with pytest.raises(OutsideWindowError, match="2030-01-08 08:00 Asia/Shanghai"):
        call_back(calling, desk)


def test_an_override_with_a_reason_calls_and_is_audited(
    calling: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """Outside the windows with a reason: the call goes, and the log and history keep why."""
    clock.now = LUNCHTIME
    desk = make_desk(calling, clock.now)
    mocked.post(CALLS_URL, json=created_call(), status=201)

    result = call_back(
        calling, desk, override_window=True, override_reason="family asked for a call at noon"
    )

    assert (S.CALLING_AGENT, True) == (result.status, result.window_override)
    assert "override logged" in result.message()
    row = callback_row(calling, result.callback_id)
    assert (True, "family asked for a call at noon") == (row.window_override, row.override_reason)
    with calling.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "callback.window_override")
        ).one()
        assert ("ann", "escalation", str(desk.escalation_id)) == (
            entry.actor,
            entry.object_kind,
            entry.object_id,
        )
        assert {
            "callback_id": result.callback_id,
            "reason": "family asked for a call at noon",
            "timezone": "Asia/Shanghai",
            "next_window_at": "2030-01-07T06:00:00+00:00",
        } == entry.detail
        assert verify_chain(session, calling) is None
        events = session.scalars(
            select(EscalationEvent).where(EscalationEvent.action == "window_override")
        ).all()
        assert [f"callback {result.callback_id} outside the calling windows"] == [
            (e.detail or "").split(":")[0] for e in events
        ]


def test_an_override_needs_a_reason(
    calling: Services, mocked: responses.RequestsMock, clock: FakeClock
) -> None:
    """--override-window alone is refused: the reason is what the log keeps."""
    clock.now = LUNCHTIME
    desk = make_desk(calling, clock.now)

    with pytest.raises(CallbackError, match="needs a reason"):
        call_back(calling, desk, override_window=True, override_reason="  ")


def test_inside_the_windows_an_override_is_not_recorded(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """At 09:00 local the override was not needed: nothing is logged as overridden."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    result = call_back(calling, desk, override_window=True, override_reason="just in case")

    assert not result.window_override
    with calling.sessions() as session:
        assert [] == list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "callback.window_override")
            )
        )


def test_a_second_request_while_one_is_under_way_is_refused(
    calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """Pressing call back twice rings the agent once."""
    first = placed(calling, desk, mocked)

    with pytest.raises(CallbackError, match=f"callback {first} .* still under way"):
        call_back(calling, desk)
    assert 1 == len(mocked.calls)


# --- the webhooks -------------------------------------------------------------------------------


def test_an_unsigned_request_is_refused_with_403(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """No signature, no change: the callback stays as it was."""
    callback_id = placed(calling, desk, mocked)

    response = client.post(
        f"/twilio/agent/answer?callback={callback_id}", data={"CallSid": AGENT_SID}
    )

    assert 403 == response.status_code
    assert S.CALLING_AGENT == callback_row(calling, callback_id).status


def test_the_agent_answering_hears_the_escalation_and_is_asked_to_press_1(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
) -> None:
    """/answer: AGENT_ANSWERED and a Gather of one key posting to /connect."""
    callback_id = placed(calling, desk, mocked)
    clock.advance(seconds=8)

    root = twiml(post(client, "answer", callback_id, CallStatus="in-progress"))

    assert ["Gather", "Say", "Hangup"] == tags(root)
    gather = root[0]
    connect = f"{PUBLIC_BASE_URL}/twilio/agent/connect?callback={callback_id}"
    assert {"numDigits": "1", "timeout": "10", "action": connect} == gather.attrib
    say = gather.find("Say")
    assert say is not None
    assert {"voice": "Polly.Zhiyu", "language": "zh-CN"} == say.attrib
    assert str(desk.escalation_id) in (say.text or "")
    row = callback_row(calling, callback_id)
    assert (S.AGENT_ANSWERED, clock.now) == (row.status, row.answered_at)


def test_an_unknown_callback_or_another_call_is_hung_up_on(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """A callback id that does not exist, or a CallSid that is not its call: Hangup, no change."""
    callback_id = placed(calling, desk, mocked)

    assert ["Hangup"] == tags(twiml(post(client, "answer", callback_id + 99)))
    assert ["Hangup"] == tags(twiml(post(client, "answer", callback_id, "CA" + "ee" * 16)))
    assert S.CALLING_AGENT == callback_row(calling, callback_id).status


def answered(client: FlaskClient, calling: Services, desk: Desk, mocked: Any) -> int:
    callback_id = placed(calling, desk, mocked)
    twiml(post(client, "answer", callback_id))
    return callback_id


def test_pressing_1_bridges_the_customer_with_a_recorded_dial(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """/connect with 1: BRIDGING and the <Dial> of the contract; a repeat gets the same Dial."""
    callback_id = answered(client, calling, desk, mocked)

    response = post(client, "connect", callback_id, Digits="1")
    root = twiml(response)

    assert ["Dial"] == tags(root)
    dial = root[0]
    base = f"{PUBLIC_BASE_URL}/twilio/agent"
    assert {
        "callerId": FROM_NUMBER,
        "timeout": "30",  # post-discharge's ring_timeout
        "timeLimit": "3600",
        "record": "record-from-answer-dual",
        "recordingStatusCallback": f"{base}/recording?callback={callback_id}",
        "recordingStatusCallbackEvent": "completed",
        "action": f"{base}/dialed?callback={callback_id}",
    } == dial.attrib
    assert [("Number", CUSTOMER)] == [(n.tag, n.text) for n in dial]
    assert S.BRIDGING == callback_row(calling, callback_id).status
    again = post(client, "connect", callback_id, Digits="1")
    assert response.get_data() == again.get_data()


def test_any_other_key_ends_the_call_as_agent_unreached(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """A 2 (or a voicemail's tones) is not a yes: hang up, the customer is never rung."""
    callback_id = answered(client, calling, desk, mocked)

    assert ["Hangup"] == tags(twiml(post(client, "connect", callback_id, Digits="2")))

    assert S.AGENT_UNREACHED == callback_row(calling, callback_id).status
    assert ["Hangup"] == tags(twiml(post(client, "connect", callback_id, Digits="1")))
    assert S.AGENT_UNREACHED == callback_row(calling, callback_id).status


def test_a_customer_listed_since_the_request_is_not_dialled(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
) -> None:
    """The list is read again at the key press: the agent is told, nobody is dialled."""
    callback_id = answered(client, calling, desk, mocked)
    with calling.sessions.begin() as session:
        add_number(session, CUSTOMER, now=clock.now, source=DncSource.KEYPRESS)

    root = twiml(post(client, "connect", callback_id, Digits="1"))

    assert ["Say", "Hangup"] == tags(root)
    assert S.FAILED == callback_row(calling, callback_id).status


def bridging(client: FlaskClient, calling: Services, desk: Desk, mocked: Any) -> int:
    callback_id = answered(client, calling, desk, mocked)
    twiml(post(client, "connect", callback_id, Digits="1"))
    return callback_id


@pytest.mark.parametrize(
    ("dial_status", "duration", "expected"),
    [
        ("completed", "95", S.COMPLETED),
        ("answered", "12", S.COMPLETED),
        ("busy", "0", S.CUSTOMER_UNREACHED),
        ("no-answer", "0", S.CUSTOMER_UNREACHED),
        ("failed", "0", S.CUSTOMER_UNREACHED),
        ("canceled", "0", S.CUSTOMER_UNREACHED),
    ],
)
def test_the_dial_action_settles_the_callback(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
    dial_status: str,
    duration: str,
    expected: AgentCallbackStatus,
) -> None:
    """DialCallStatus, DialCallSid and DialCallDuration are kept; a repeat changes nothing."""
    callback_id = bridging(client, calling, desk, mocked)
    clock.advance(minutes=2)
    fields = {"DialCallStatus": dial_status, "DialCallSid": DIAL_SID, "DialCallDuration": duration}

    assert ["Hangup"] == tags(twiml(post(client, "dialed", callback_id, **fields)))
    again = {**fields, "DialCallStatus": "busy", "DialCallDuration": "0"}
    assert ["Hangup"] == tags(twiml(post(client, "dialed", callback_id, **again)))

    row = callback_row(calling, callback_id)
    assert (expected, dial_status, DIAL_SID, int(duration)) == (
        row.status,
        row.dial_status,
        row.dial_call_sid,
        row.dial_duration_s,
    )
    bridged_at = clock.now - timedelta(seconds=int(duration))
    assert (bridged_at if expected == S.COMPLETED else None) == row.bridged_at
    assert 1 == actions(calling, desk).count("callback_ended")


def test_the_agent_not_answering_is_agent_unreached_and_late_events_change_nothing(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
    clock: FakeClock,
) -> None:
    """no-answer, then a duplicate and a late ringing: AGENT_UNREACHED once, ended_at kept."""
    callback_id = placed(calling, desk, mocked)
    assert 204 == post(client, "status", callback_id, CallStatus="initiated").status_code
    clock.advance(seconds=30)
    assert 204 == post(client, "status", callback_id, CallStatus="no-answer").status_code
    ended_at = clock.now
    clock.advance(seconds=5)
    for late in ("no-answer", "ringing", "in-progress"):
        assert 204 == post(client, "status", callback_id, CallStatus=late).status_code

    row = callback_row(calling, callback_id)
    assert (S.AGENT_UNREACHED, ended_at) == (row.status, row.ended_at)
    assert 1 == actions(calling, desk).count("callback_ended")
    assert ["Hangup"] == tags(twiml(post(client, "answer", callback_id)))


def test_webhooks_before_the_create_answer_bind_the_call_and_move_it_on(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """Twilio can call back before the create's answer is stored: the webhook binds the call,
    and storing the answer later neither replaces the sid nor moves the callback back."""
    bound: list[S] = []

    def create(_request: Any) -> tuple[int, dict[str, str], str]:
        assert 204 == post(client, "status", callback_id(), CallStatus="ringing").status_code
        twiml(post(client, "answer", callback_id()))
        bound.append(callback_row(calling, callback_id()).status)
        return 201, {}, json.dumps(created_call())

    def callback_id() -> int:
        with calling.sessions() as session:
            return session.scalars(select(AgentCallback.id)).one()

    mocked.add_callback(responses.POST, CALLS_URL, callback=create)

    result = call_back(calling, desk)

    assert [S.AGENT_ANSWERED] == bound
    assert S.AGENT_ANSWERED == result.status
    row = callback_row(calling, result.callback_id)
    assert (S.AGENT_ANSWERED, AGENT_SID) == (row.status, row.call_sid)


def test_the_agent_hanging_up_while_the_customer_rings_waits_for_the_dial_action(
    client: FlaskClient,
    calling: Services,
    desk: Desk,
    mocked: responses.RequestsMock,
) -> None:
    """The agent leg's completed may come before the Dial's action: the action settles it."""
    callback_id = bridging(client, calling, desk, mocked)

    assert 204 == post(client, "status", callback_id, CallStatus="completed").status_code
    row = callback_row(calling, callback_id)
    assert (S.BRIDGING, True) == (row.status, row.ended_at is not None)

    fields = {"DialCallStatus": "no-answer", "DialCallSid": DIAL_SID, "DialCallDuration": "0"}
    twiml(post(client, "dialed", callback_id, **fields))

    assert S.CUSTOMER_UNREACHED == callback_row(calling, callback_id).status


def test_hanging_up_before_pressing_1_is_agent_unreached(
    client: FlaskClient, calling: Services, desk: Desk, mocked: responses.RequestsMock
) -> None:
    """Answered (perhaps by voicemail) and ended without a key: the customer is never rung."""
    callback_id = answered(client, calling, desk, mocked)

    post(client, "status", callback_id, CallStatus="completed", CallDuration="14")

    assert S.AGENT_UNREACHED == callback_row(calling, callback_id).status
    with calling.sessions() as session:
        details = [e.detail for e in history_of(session, desk.escalation_id)]
    assert f"callback {callback_id}: hung up before pressing 1" in details


def test_a_bad_callback_parameter_is_a_400(
    client: FlaskClient, calling: Services, desk: Desk
) -> None:
    """A signed request with no number for the callback changes nothing."""
    form = {"CallSid": AGENT_SID, "CallStatus": "completed"}

    assert 400 == signed_post(client, "/twilio/agent/status?callback=x", form).status_code
