"""A contact answers the unreachable text: the simulator posts Twilio's incoming-message webhook,
signed, to the app served over real HTTP on 127.0.0.1, and reads back the TwiML answer."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.consent.dnc import listed_entry
from ivr.models import Case, CaseOutcome, CaseStatus, InboundMessage
from ivr.queue.fallback import send_due_sms
from ivr.services import Services
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeClock
from tests.fallback_cases import PHONE, escalations, inbound_count, unreachable_case

pytestmark = pytest.mark.e2e

INBOUND_FIELDS = {
    "ToCountry",
    "ToState",
    "SmsMessageSid",
    "NumMedia",
    "ToCity",
    "FromZip",
    "SmsSid",
    "FromState",
    "SmsStatus",
    "FromCity",
    "Body",
    "FromCountry",
    "To",
    "ToZip",
    "NumSegments",
    "MessageSid",
    "AccountSid",
    "From",
    "ApiVersion",
}


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    """The Twilio simulator, with the credentials the app checks signatures with."""
    with Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        personas=lambda to: Persona(),
        clock=clock,
    ) as simulator:
        yield simulator


@pytest.fixture
def services(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, sim: Simulator
) -> Iterator[Services]:
    """The app on a werkzeug server at an ephemeral port, texting through the simulator; the
    simulator's SmsUrl is the app's /twilio/sms."""
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # The port is known only once the socket is bound; the app is built right after.
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=sim.base_url
    )
    services = Services(public, sessions, telephony=telephony, clock=clock)
    apps.append(create_app(public, services=services))
    sim.sms_url = f"{public.public_base_url}/twilio/sms"
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield services
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()


def answer_of(twiml: str) -> str | None:
    """The <Message> of a TwiML answer; None for an empty <Response/>."""
    found = ET.fromstring(twiml).find("Message")
    return None if found is None else found.text


def texted(services: Services, clock: FakeClock, sim: Simulator, **options: str) -> int:
    """An unreachable care case whose text went out through the simulator; its id."""
    case_id = unreachable_case(services, clock, **options)
    assert 1 == send_due_sms(services)
    sim.drain(timeout=30)
    return case_id


def test_a_reply_1_over_http_raises_a_call_back_and_is_answered(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock, sim: Simulator
) -> None:
    """Twilio's exact fields, signed over the app's URL; the confirmation comes back as TwiML."""
    case_id = texted(services, clock, sim)

    sent = sim.send_reply(PHONE, "1")

    assert 200 == sent.exchange.status
    assert INBOUND_FIELDS == set(sent.exchange.form)
    assert (FROM_NUMBER, "received", "US") == (
        sent.exchange.form["To"],
        sent.exchange.form["SmsStatus"],
        sent.exchange.form["FromCountry"],
    )
    assert "示例保险 (demo)：已收到，我们会尽快给您回电。" == answer_of(sent.twiml)  # noqa: RUF001
    assert ("open", 1) == escalations(sessions, case_id)["callback_requested"]
    with sessions() as session:
        row = session.scalars(select(InboundMessage)).one()
        assert (sent.message_sid, case_id) == (row.message_sid, row.case_id)


def test_a_redelivery_over_http_is_answered_alike_and_stored_once(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock, sim: Simulator
) -> None:
    """The same MessageSid twice: the same answer, one row, one trigger."""
    case_id = texted(services, clock, sim)

    first = sim.send_reply(PHONE, "１")  # noqa: RUF001
    again = sim.send_reply(PHONE, "１", message_sid=first.message_sid)  # noqa: RUF001

    assert answer_of(first.twiml) == answer_of(again.twiml) is not None
    assert 1 == inbound_count(sessions)
    assert ("open", 1) == escalations(sessions, case_id)["callback_requested"]


def test_an_opt_out_over_http_closes_the_paused_case(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock, sim: Simulator
) -> None:
    """退订 from the paused contact: listed, closed as opted out, confirmed."""
    case_id = texted(services, clock, sim, after_unreachable="pause")

    sent = sim.send_reply(PHONE, "退订")

    assert "已为您退订" in (answer_of(sent.twiml) or "")
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert (CaseStatus.DONE, CaseOutcome.OPTED_OUT) == (case.status, case.outcome)
        assert listed_entry(session, PHONE, clock.now) is not None


def test_a_simulator_with_another_auth_token_is_refused(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock, sim: Simulator
) -> None:
    """Signed with a token the app does not hold: 403 and nothing stored."""
    texted(services, clock, sim)
    with Simulator(
        account_sid=ACCOUNT_SID,
        auth_token="another-accounts-token",
        personas=lambda to: Persona(),
        clock=clock,
        sms_url=sim.sms_url,
    ) as impostor:
        sent = impostor.send_reply(PHONE, "1", to=FROM_NUMBER)

    assert 403 == sent.exchange.status
    assert 0 == inbound_count(sessions)


def test_send_reply_needs_an_sms_url_and_a_number_to_write_to(
    clock: FakeClock,
) -> None:
    """Like a phone number without an SmsUrl: nothing to post to, said plainly."""
    with Simulator(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, personas=lambda to: Persona(), clock=clock
    ) as bare:
        with pytest.raises(RuntimeError, match="sms_url"):
            bare.send_reply(PHONE, "1")
        bare.sms_url = "http://127.0.0.1:9/twilio/sms"
        with pytest.raises(ValueError, match="nothing was texted"):
            bare.send_reply(PHONE, "1")
