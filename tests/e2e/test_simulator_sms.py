"""Text messages through the Twilio simulator: the real client and adapter, signed callbacks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from ivr.telephony.port import SmsRequest, TelephonyError
from ivr.telephony.sim_messages import SERVICE_SENDER
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from tests.e2e.test_simulator import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CLOCK_AT,
    FROM,
    Hit,
    Webhooks,
    client_for,
)

pytestmark = pytest.mark.e2e

MOBILE = "+12025550201"
LANDLINE = "+12025550202"
OPTED_OUT = "+12025550203"
PHONE_OFF = "+12025550204"
BLOCKED = "+12025550205"
WRONG = "+12025550206"
PERSONAS = {
    MOBILE: Persona(),
    LANDLINE: Persona(sms=False),
    OPTED_OUT: Persona(sms_opted_out=True),
    PHONE_OFF: Persona(sms_delivery="undelivered"),
    BLOCKED: Persona(sms_delivery="failed", sms_error_code=30002),
    WRONG: Persona(invalid_number=True),
}
BODY = "We could not reach you about your care service. Reply 1 and we will call you back."
SERVICE_SID = "MG" + "ffeeddccbbaa99887766554433221100"
CALLBACK_FIELDS = {
    "AccountSid",
    "ApiVersion",
    "From",
    "To",
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
}


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    """Our webhook server on 127.0.0.1, checking signatures."""
    server = Webhooks()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator that knows the SMS personas."""
    with Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        personas=lambda to: PERSONAS.get(to, Persona()),
        clock=lambda: CLOCK_AT,
    ) as simulator:
        yield simulator


@pytest.fixture
def telephony(sim: Simulator) -> TwilioTelephony:
    """The product's adapter pointed at the simulator."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=sim.base_url
    )


def reports(webhooks: Webhooks, message_sid: str) -> list[Hit]:
    """The status callbacks received for one message, in arrival order."""
    return [hit for hit in webhooks.hits if hit.params.get("MessageSid") == message_sid]


def send(sim: Simulator, webhooks: Webhooks, to: str, **extra: Any) -> str:
    """Send one text through the twilio library, wait for its reports, return its sid."""
    options: dict[str, Any] = {"from_": FROM, "status_callback": webhooks.url("/sms")} | extra
    message = client_for(sim).messages.create(to=to, body=BODY, **options)
    sim.drain(timeout=30)
    return str(message.sid)


def test_create_answers_a_queued_message_resource_the_client_parses(sim: Simulator) -> None:
    """The 201 parses into a queued outbound-api message with an SM sid, kept by the simulator."""
    message = client_for(sim).messages.create(to=MOBILE, from_=FROM, body=BODY)
    sim.drain()

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid or "")
    assert ("queued", "outbound-api", MOBILE, FROM, BODY, CLOCK_AT) == (
        message.status,
        message.direction,
        message.to,
        message.from_,
        message.body,
        message.date_created,
    )
    [kept] = sim.messages
    assert (message.sid, MOBILE, BODY, "delivered", CLOCK_AT) == (
        kept.sid,
        kept.to,
        kept.body,
        kept.status,
        kept.created_at,
    )


def test_the_adapter_sends_through_the_simulator(
    sim: Simulator, telephony: TwilioTelephony, webhooks: Webhooks
) -> None:
    """send_sms returns the simulator's sid and Twilio's initial status, queued."""
    sent = telephony.send_sms(SmsRequest(MOBILE, FROM, BODY, webhooks.url("/sms")))
    sim.drain()

    assert (sim.messages[0].sid, "queued") == (sent.message_sid, sent.status)


def test_a_delivered_message_reports_sent_then_delivered_signed(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Two signed POSTs, no callback for the initial queued; the receipt date on delivered."""
    sid = send(sim, webhooks, MOBILE)

    sent, delivered = reports(webhooks, sid)
    assert [("POST", "/sms", True)] * 2 == [(h.method, h.path, h.signed) for h in (sent, delivered)]
    assert CALLBACK_FIELDS == set(sent.params)
    assert CALLBACK_FIELDS | {"RawDlrDoneDate"} == set(delivered.params)
    expected = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "To": MOBILE,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "RawDlrDoneDate": "3001070900",  # YYMMDDhhmm
    }
    assert expected == delivered.params
    assert "sent" == sent.params["MessageStatus"]
    assert sent.idempotency_token != delivered.idempotency_token


def test_an_unreachable_handset_reports_undelivered_with_its_error_code(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Sent, then undelivered with ErrorCode 30003; the simulator keeps the code too."""
    sid = send(sim, webhooks, PHONE_OFF)

    statuses = [
        (h.params["MessageStatus"], h.params.get("ErrorCode")) for h in reports(webhooks, sid)
    ]
    assert [("sent", None), ("undelivered", "30003")] == statuses
    assert ("undelivered", 30003) == (sim.message(sid).status, sim.message(sid).error_code)


def test_a_message_that_never_left_reports_failed_alone(sim: Simulator, webhooks: Webhooks) -> None:
    """A failed message is never sent: one callback, failed, with the persona's error code."""
    sid = send(sim, webhooks, BLOCKED)

    [failed] = reports(webhooks, sid)
    assert ("failed", "30002") == (failed.params["MessageStatus"], failed.params["ErrorCode"])
    assert "RawDlrDoneDate" not in failed.params


def test_a_messaging_service_accepts_then_queues_and_picks_the_sender(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """With MessagingServiceSid: accepted at create, then queued, sent, delivered, naming it."""
    message = client_for(sim).messages.create(
        to=MOBILE,
        messaging_service_sid=SERVICE_SID,
        body=BODY,
        status_callback=webhooks.url("/sms"),
    )
    sim.drain()

    assert "accepted" == message.status
    hits = reports(webhooks, str(message.sid))
    assert ["queued", "sent", "delivered"] == [h.params["MessageStatus"] for h in hits]
    assert {(SERVICE_SID, SERVICE_SENDER)} == {
        (h.params["MessagingServiceSid"], h.params["From"]) for h in hits
    }


def test_without_a_status_callback_nothing_is_posted_but_the_message_is_delivered(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """No StatusCallback, no requests; the fetched resource still shows the final status."""
    message = client_for(sim).messages.create(to=MOBILE, from_=FROM, body=BODY)
    sim.drain()

    fetched = client_for(sim).messages(str(message.sid)).fetch()
    sent_at = CLOCK_AT + timedelta(seconds=1)  # simulated: sent a second after the create
    assert ([], "delivered", sent_at) == (webhooks.hits, fetched.status, fetched.date_sent)


@pytest.mark.parametrize(
    ("to", "code"),
    [(WRONG, 21211), (LANDLINE, 21614), (OPTED_OUT, 21610), ("12025550201", 21211)],
)
def test_a_number_that_cannot_get_sms_is_a_permanent_error_and_nothing_is_sent(
    to: str, code: int, sim: Simulator, telephony: TwilioTelephony, webhooks: Webhooks
) -> None:
    """Invalid, not a mobile, unsubscribed, not E.164: 400 with Twilio's code, no message kept."""
    with pytest.raises(TelephonyError) as caught:
        telephony.send_sms(SmsRequest(to, FROM, BODY, webhooks.url("/sms")))
    sim.drain()

    assert (True, code, 400) == (
        caught.value.permanent,
        caught.value.code,
        caught.value.http_status,
    )
    assert to.removeprefix("+") not in str(caught.value)
    assert ([], []) == (sim.messages, webhooks.hits)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": FROM, "Body": BODY}, 21604),
        ({"To": MOBILE, "Body": BODY}, 21603),
        ({"To": MOBILE, "From": FROM}, 21602),
        ({"To": MOBILE, "From": FROM, "Body": BODY, "StatusCallback": "ftp://x"}, 21609),
    ],
)
def test_an_incomplete_create_is_refused_with_twilio_s_code(
    fields: dict[str, str], code: int, sim: Simulator
) -> None:
    """No To, no sender, no Body, a callback that is not http(s): 400 and the matching code."""
    url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    response = requests.post(url, data=fields, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)

    assert (400, code) == (response.status_code, response.json()["code"])
    assert [] == sim.messages


def test_wrong_credentials_get_401_with_error_20003(sim: Simulator) -> None:
    """The Messages endpoint is behind the same basic auth as the rest."""
    with pytest.raises(TwilioRestException) as caught:
        client_for(sim, auth_token="wrong").messages.create(to=MOBILE, from_=FROM, body=BODY)
    assert (401, 20003, []) == (caught.value.status, caught.value.code, sim.messages)


def test_sends_run_on_the_workers_alongside_and_drain_waits_for_them(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Ten texts to mixed personas all reach their final status before drain returns."""
    client = client_for(sim)
    numbers = [MOBILE, PHONE_OFF, BLOCKED] * 3 + [MOBILE]
    for to in numbers:
        client.messages.create(to=to, from_=FROM, body=BODY, status_callback=webhooks.url("/sms"))
    sim.drain(timeout=30)

    final: Callable[[str], str] = {
        MOBILE: "delivered",
        PHONE_OFF: "undelivered",
        BLOCKED: "failed",
    }.__getitem__
    assert [final(to) for to in numbers] == [message.status for message in sim.messages]
    assert all(message.done.is_set() for message in sim.messages)
