"""An agent's callback end to end over real HTTP: the product asks the simulator to ring the agent,
the agent presses 1, the <Dial> bridges the customer, and the recording is linked and fetched."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import (
    AgentCallback,
    AgentCallbackStatus,
    Evidence,
    EvidenceKind,
    Recording,
    RecordingStatus,
    StaffRole,
)
from ivr.queue.access import acting_user
from ivr.queue.actions import claim
from ivr.queue.callback import request_callback
from ivr.services import Services
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from recordings.fetch import fetch_due
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.integration.test_queue_actions import add_campaign, add_escalation, add_user

pytestmark = pytest.mark.e2e

CUSTOMER = factories.FICTIONAL_PHONES[0]  # the case's contact, as factories.case makes it
AGENT = factories.FICTIONAL_PHONES[60]
TALK_S = 140.0
PERSONAS = {AGENT: Persona(keys=("1",)), CUSTOMER: Persona(talk_s=TALK_S)}


@dataclass(frozen=True)
class Stack:
    """The simulator, and the product's services whose webhooks it calls over HTTP."""

    sim: Simulator
    services: Services


@pytest.fixture
def stack(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Iterator[Stack]:
    """create_app on 127.0.0.1 with the real Twilio adapter pointed at the simulator."""
    sim = Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        personas=lambda to: PERSONAS.get(to, Persona()),
        clock=clock,
    )
    sim.start()
    apps: list[Any] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # The port is known only once the socket is bound; the app is built right after.
        return apps[0](environ, start_response)  # type: ignore[no-any-return]

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=sim.base_url
    )
    services = Services(public, sessions, telephony=telephony, clock=clock)
    apps.append(create_app(public, services=services))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Stack(sim, services)
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()
        sim.stop()


def claimed_escalation(services: Services, clock: FakeClock) -> int:
    """An escalation of a post-discharge case, claimed by agent ann whose phone is AGENT."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now)
        add_user(session, clock.now, "ann", StaffRole.AGENT).phone = AGENT
        escalation_id = add_escalation(session, campaign, clock.now)
    with services.sessions.begin() as session:
        assert claim(session, services, escalation_id, acting_user(session, "ann")).won
    return escalation_id


def test_a_callback_rings_the_agent_bridges_the_customer_and_keeps_the_recording_as_evidence(
    stack: Stack, clock: FakeClock
) -> None:
    """Agent presses 1, the customer answers: COMPLETED, and the Dial's recording is evidence."""
    services, sim = stack.services, stack.sim
    escalation_id = claimed_escalation(services, clock)
    with services.sessions() as session:
        ann = acting_user(session, "ann")
    result = request_callback(services, escalation_id, ann)
    assert AgentCallbackStatus.CALLING_AGENT == result.status
    sim.drain(timeout=30)

    [leg] = [call for call in sim.calls if call.parent_sid == result.call_sid]
    assert (CUSTOMER, "completed") == (leg.to, leg.status)
    with services.sessions() as session:
        callback = session.get(AgentCallback, result.callback_id)
        assert callback is not None
        assert (AgentCallbackStatus.COMPLETED, "completed", leg.sid, int(TALK_S)) == (
            callback.status,
            callback.dial_status,
            callback.dial_call_sid,
            callback.dial_duration_s,
        )
        recording = session.scalars(
            select(Recording).where(Recording.callback_id == result.callback_id)
        ).one()
        assert (result.call_sid, 2, int(TALK_S)) == (
            recording.call_sid,
            recording.channels,
            recording.duration_s,
        )
        evidence = session.scalars(
            select(Evidence).where(Evidence.escalation_id == escalation_id)
        ).one()
        assert (EvidenceKind.RECORDING, recording.id) == (evidence.kind, evidence.recording_id)

    report = fetch_due(services)  # the same fetch job as automated calls' recordings
    assert 1 == report.stored, report
    with services.sessions() as session:
        stored = session.get(Recording, recording.id)
        assert stored is not None
        assert RecordingStatus.STORED == stored.status
