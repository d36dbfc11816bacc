"""<Dial><Number> in the Twilio simulator: an agent's bridged callback, over real HTTP.

A small Flask app on 127.0.0.1 serves the agent-callback TwiML the product serves: the agent is
called, presses 1 at a Gather, and a <Dial> bridges the customer, recorded dual-channel.
"""

from __future__ import annotations

import io
import math
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server

from ivr.telephony.sim_twiml import KEY_S, say_s
from ivr.telephony.simulator import Persona, Simulator

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC" + "d1" * 16
AUTH_TOKEN = "simulated-dial-token"
FROM = "+15005550006"
CLOCK_AT = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)

AGENT = "+12025550141"
AGENT_SILENT = "+12025550142"
CUSTOMER = "+12025550151"
CUSTOMER_BUSY = "+12025550152"
CUSTOMER_AWAY = "+12025550153"
CUSTOMER_UNROUTABLE = "+12025550154"
TALK_S = 95.0
PERSONAS = {
    AGENT: Persona(keys=("1",)),
    AGENT_SILENT: Persona(),
    CUSTOMER: Persona(talk_s=TALK_S),
    CUSTOMER_BUSY: Persona(pickups=("busy",)),
    CUSTOMER_AWAY: Persona(pickups=("no-answer",)),
    CUSTOMER_UNROUTABLE: Persona(invalid_number=True),
}
PROMPT = "You asked to call a customer back. Press 1 to call them now."
STANDARD_FIELDS = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "Direction",
    "From",
    "To",
} | {
    f"{prefix}{part}"
    for prefix in ("Called", "Caller", "From", "To")
    for part in ("City", "State", "Zip", "Country")
}
RECORDING_FIELDS = {
    "AccountSid",
    "CallSid",
    "RecordingSid",
    "RecordingUrl",
    "RecordingStatus",
    "RecordingDuration",
    "RecordingChannels",
    "RecordingStartTime",
    "RecordingSource",
}


@dataclass(frozen=True)
class Hit:
    """One request the product stand-in received."""

    path: str
    params: dict[str, str]
    signed: bool


class AgentCallbackApp:
    """The product's agent-callback webhooks, as the contract has them, on 127.0.0.1."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.customers: dict[str, str] = {}  # callback id -> the customer's number
        self._lock = threading.Lock()
        self._validator = RequestValidator(AUTH_TOKEN)
        app = Flask(__name__)
        app.add_url_rule("/<path:name>", view_func=self._handle, methods=["GET", "POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.base = f"http://127.0.0.1:{self._server.server_port}"

    def _handle(self, name: str) -> Response:
        form = request.form if request.method == "POST" else {}
        signature = request.headers.get("X-Twilio-Signature", "")
        hit = Hit(
            path=request.full_path.rstrip("?"),
            params=dict((form or request.args).items()),  # Twilio's fields, not our query
            signed=self._validator.validate(request.url, form, signature),
        )
        with self._lock:
            self.hits.append(hit)
        callback = request.args.get("callback", "")
        twiml = self._twiml(name, callback, hit.params)
        if twiml is None:
            return Response(status=204)
        return Response(f"<Response>{twiml}</Response>", mimetype="text/xml")

    def _twiml(self, name: str, callback: str, params: dict[str, str]) -> str | None:
        base, query = self.base, f"?callback={callback}"
        if name == "twilio/agent/answer":
            return (
                f'<Gather numDigits="1" timeout="10" action="{base}/twilio/agent/connect{query}">'
                f'<Say language="en-US">{PROMPT}</Say></Gather>'
                '<Say language="en-US">We did not hear you. Goodbye.</Say><Hangup/>'
            )
        if name == "twilio/agent/connect" and params.get("Digits") == "1":
            return (
                f'<Dial callerId="{FROM}" timeout="30" timeLimit="3600"'
                ' record="record-from-answer-dual"'
                f' recordingStatusCallback="{base}/twilio/agent/recording{query}"'
                ' recordingStatusCallbackEvent="completed"'
                f' action="{escape(base)}/twilio/agent/dialed{query}">'
                f"<Number>{self.customers[callback]}</Number></Dial>"
            )
        if name == "twilio/agent/dialed":
            return "<Hangup/>"
        if name == "limited-dial":
            return (
                '<Dial timeLimit="60" record="record-from-ringing-dual"'
                f' action="{base}/twilio/agent/dialed{query}">'
                f"<Number>{self.customers[callback]}</Number></Dial>"
            )
        if name == "watched-dial":
            return (
                f'<Dial><Number statusCallback="{base}/leg-status"'
                ' statusCallbackEvent="initiated ringing answered completed">'
                f"{self.customers[callback]}</Number></Dial>"
            )
        if name == "plain-dial":  # no action, a bare number as text, the legacy record="true"
            customer = self.customers[callback]
            return f'<Dial record="true">{customer}</Dial><Say>After the call.</Say>'
        return None

    def to(self, prefix: str, call_sid: str) -> list[Hit]:
        """Requests for one call whose path starts with prefix, in arrival order."""
        with self._lock:
            hits = list(self.hits)
        return [h for h in hits if h.path.startswith(prefix) and h.params["CallSid"] == call_sid]

    def start(self) -> None:
        """Serve on a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def product() -> Iterator[AgentCallbackApp]:
    """The agent-callback webhooks on 127.0.0.1."""
    app = AgentCallbackApp()
    app.start()
    yield app
    app.stop()


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with chosen options; all are stopped afterwards."""
    started: list[Simulator] = []

    def start(**options: Any) -> Simulator:
        sim = Simulator(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            personas=lambda to: PERSONAS.get(to, Persona()),
            clock=lambda: CLOCK_AT,
            **options,
        )
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(start_sim: Callable[..., Simulator]) -> Simulator:
    """A simulator without faults."""
    return start_sim()


def client_for(sim: Simulator) -> Client:
    """The real twilio client, pointed at the simulator."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = sim.base_url
    return client


def call_agent(
    sim: Simulator, product: AgentCallbackApp, customer: str, agent: str = AGENT, **extra: Any
) -> str:
    """Ring the agent for a callback to customer as the product does; wait for the call's end."""
    callback = str(len(product.customers) + 1)
    product.customers[callback] = customer
    path = extra.pop("path", "/twilio/agent/answer")
    call = client_for(sim).calls.create(
        to=agent,
        from_=FROM,
        url=f"{product.base}{path}?callback={callback}",
        status_callback=f"{product.base}/twilio/agent/status?callback={callback}",
        **extra,
    )
    sim.drain(timeout=30)
    return str(call.sid)


def test_the_agent_pressing_one_bridges_the_customer_and_the_action_reports_completed(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """The Dial action gets the call fields plus DialCallStatus completed and the child's sid."""
    sid = call_agent(sim, product, CUSTOMER)
    [connect] = product.to("/twilio/agent/connect", sid)
    [dialed] = product.to("/twilio/agent/dialed", sid)
    assert "1" == connect.params["Digits"]
    assert dialed.signed
    extra = {"DialCallStatus", "DialCallSid", "DialCallDuration", "DialBridged", "RecordingUrl"}
    assert STANDARD_FIELDS | extra == set(dialed.params)
    [leg] = [call for call in sim.calls if call.parent_sid == sid]
    expected = {
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "To": AGENT,
        "DialCallStatus": "completed",
        "DialCallSid": leg.sid,
        "DialCallDuration": str(int(TALK_S)),
        "DialBridged": "true",
    }
    assert expected == {name: dialed.params[name] for name in expected}
    assert dialed.params["RecordingUrl"].startswith(f"{sim.base_url}/2010-04-01/Accounts/")
    assert ["/twilio/agent/dialed?callback=1"] == [hit.path for hit in dialed_hits(product, sid)]


def dialed_hits(product: AgentCallbackApp, sid: str) -> list[Hit]:
    """The Dial action requests of one call."""
    return product.to("/twilio/agent/dialed", sid)


@pytest.mark.parametrize(
    ("customer", "status", "ring_s"),
    [
        (CUSTOMER_BUSY, "busy", 1 + 2),
        (CUSTOMER_AWAY, "no-answer", 1 + 30 + 5),  # Twilio adds 5 s to the Dial's timeout
        (CUSTOMER_UNROUTABLE, "failed", 1),
    ],
)
def test_an_unreached_customer_ends_the_dial_with_its_status_and_no_recording(
    sim: Simulator, product: AgentCallbackApp, customer: str, status: str, ring_s: int
) -> None:
    """Busy, no-answer and failed reach the action unbridged, with no RecordingUrl."""
    sid = call_agent(sim, product, customer)
    [dialed] = dialed_hits(product, sid)
    reported = {name: dialed.params.get(name) for name in ("DialCallStatus", "DialBridged")}
    assert {"DialCallStatus": status, "DialBridged": "false"} == reported
    assert ("0", None) == (dialed.params["DialCallDuration"], dialed.params.get("RecordingUrl"))
    assert [] == product.to("/twilio/agent/recording", sid)
    [leg] = [call for call in sim.calls if call.parent_sid == sid]
    assert (status, 0) == (leg.status, leg.duration_s)
    gather_s = say_s(PROMPT) + KEY_S
    assert math.ceil(gather_s + ring_s) == sim.call(sid).duration_s


def test_the_child_call_is_listed_with_the_parent_call_sid(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """Calls.json?ParentCallSid= finds the outbound-dial leg, which fetches with its times."""
    sid = call_agent(sim, product, CUSTOMER)
    client = client_for(sim)
    [leg] = client.calls.list(parent_call_sid=sid)
    assert (CUSTOMER, FROM, "outbound-dial", "completed") == (
        leg.to,
        leg._from,
        leg.direction,
        leg.status,
    )
    assert (sid, str(int(TALK_S))) == (leg.parent_call_sid, leg.duration)
    fetched = client.calls(leg.sid).fetch()
    answered_at = CLOCK_AT + timedelta(seconds=5)  # the agent's call: 1 s dialling, 4 s ringing
    dial_at = answered_at + timedelta(seconds=say_s(PROMPT) + KEY_S)
    ended_at = dial_at + timedelta(seconds=5 + TALK_S)
    # RFC 2822 times have whole seconds.
    assert (dial_at.replace(microsecond=0), ended_at.replace(microsecond=0)) == (
        fetched.start_time,
        fetched.end_time,
    )
    parent = client.calls(sid).fetch()
    assert (None, "outbound-api") == (parent.parent_call_sid, parent.direction)
    assert 2 == len(client.calls.list())


def test_the_parent_call_lasts_through_the_bridged_talk(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """The agent's CallDuration counts the Gather, the customer's ringing and the talk."""
    sid = call_agent(sim, product, CUSTOMER)
    [final] = product.to("/twilio/agent/status", sid)
    expected_s = math.ceil(say_s(PROMPT) + KEY_S + 1 + 4 + TALK_S)
    assert (str(expected_s), "completed") == (
        final.params["CallDuration"],
        final.params["CallStatus"],
    )
    assert expected_s == sim.call(sid).duration_s


def test_the_dial_recording_callback_reports_two_channels_from_the_dial_verb(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """The recordingStatusCallback has Twilio's Dial fields, the parent's CallSid, and is signed."""
    sid = call_agent(sim, product, CUSTOMER)
    [recorded] = product.to("/twilio/agent/recording", sid)
    assert recorded.signed
    assert RECORDING_FIELDS == set(recorded.params)
    answered_at = CLOCK_AT + timedelta(seconds=5 + say_s(PROMPT) + KEY_S + 5)
    expected = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,  # Twilio: always the parent leg of a two-leg call
        "RecordingStatus": "completed",
        "RecordingDuration": str(int(TALK_S)),
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
        "RecordingStartTime": format_datetime(answered_at),
    }
    assert expected == {name: recorded.params[name] for name in expected}
    [dialed] = dialed_hits(product, sid)
    assert dialed.params["RecordingUrl"] == recorded.params["RecordingUrl"]
    metadata = client_for(sim).recordings(recorded.params["RecordingSid"]).fetch()
    assert (sid, "DialVerb", 2) == (metadata.call_sid, metadata.source, metadata.channels)


def test_the_dial_recording_media_downloads_as_a_two_channel_wav_of_the_talk(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """RecordingUrl (no extension) with basic auth is a stereo WAV as long as the bridge."""
    sid = call_agent(sim, product, CUSTOMER)
    [recorded] = product.to("/twilio/agent/recording", sid)
    media = requests.get(
        recorded.params["RecordingUrl"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10
    )
    assert (200, "audio/x-wav") == (media.status_code, media.headers["Content-Type"])
    with wave.open(io.BytesIO(media.content)) as audio:
        shape = (audio.getnchannels(), audio.getframerate(), audio.getsampwidth())
        seconds = audio.getnframes() / audio.getframerate()
    assert ((2, 8000, 2), TALK_S) == (shape, seconds)


def test_a_dial_without_action_goes_on_with_the_next_verb_and_true_records_mono(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """A bare number is dialled; record="true" is record-from-answer (one channel)."""
    sid = call_agent(sim, product, CUSTOMER, path="/plain-dial")
    call = sim.call(sid)
    assert ["After the call."] == call.said
    assert "ended by end-of-document" == call.events[-1]
    [recording] = sim.stored_recordings.values()
    assert (1, "DialVerb", int(TALK_S), sid) == (
        recording.channels,
        recording.source,
        recording.duration_s,
        recording.call_sid,
    )


def test_an_agent_who_presses_nothing_never_dials(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """No digit at the Gather: the goodbye plays, no customer is called."""
    sid = call_agent(sim, product, CUSTOMER, agent=AGENT_SILENT)
    assert [] == product.to("/twilio/agent/connect", sid)
    assert [sid] == [call.sid for call in sim.calls]
    assert "We did not hear you. Goodbye." == sim.call(sid).said[-1]


def test_duplicates_repeat_the_recording_callback_but_never_the_dial_action(
    start_sim: Callable[..., Simulator], product: AgentCallbackApp
) -> None:
    """With duplicate_rate=1 the recording callback comes twice; the action request once."""
    sim = start_sim(duplicate_rate=1.0)
    sid = call_agent(sim, product, CUSTOMER)
    recordings = product.to("/twilio/agent/recording", sid)
    assert 2 == len(recordings)
    assert recordings[0].params == recordings[1].params
    assert 1 == len(dialed_hits(product, sid))


def test_the_second_dial_to_a_number_takes_its_next_pickup(
    sim: Simulator, product: AgentCallbackApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pickups count per number across <Dial> legs: no answer first, then an answer."""
    second_try = "+12025550155"
    monkeypatch.setitem(PERSONAS, second_try, Persona(pickups=("no-answer", "answer")))
    first = call_agent(sim, product, second_try)
    second = call_agent(sim, product, second_try)
    statuses = [dialed_hits(product, sid)[0].params["DialCallStatus"] for sid in (first, second)]
    assert ["no-answer", "completed"] == statuses


def test_time_limit_cuts_the_bridge_and_record_from_ringing_includes_the_ringing(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """timeLimit=60 hangs up on a 95 s talker; the ringing recording starts 1 s into the Dial."""
    sid = call_agent(sim, product, CUSTOMER, path="/limited-dial")
    [dialed] = dialed_hits(product, sid)
    assert ("completed", "60") == (
        dialed.params["DialCallStatus"],
        dialed.params["DialCallDuration"],
    )
    [recording] = sim.stored_recordings.values()
    dial_at = CLOCK_AT + timedelta(seconds=5)  # the document's first verb, at the answer
    assert (2, 4 + 60, dial_at + timedelta(seconds=1)) == (
        recording.channels,
        recording.duration_s,
        recording.started_at,
    )
    assert 1 + 4 + 60 == sim.call(sid).duration_s  # from the agent's answer to the hang-up


def leg_of(sim: Simulator, parent_sid: str) -> str:
    """The sid of the one leg a call's <Dial> placed."""
    [leg] = [call for call in sim.calls if call.parent_sid == parent_sid]
    return leg.sid


def test_number_status_callbacks_report_the_leg_with_its_parent(
    sim: Simulator, product: AgentCallbackApp
) -> None:
    """<Number statusCallback> gets each requested event of the leg, numbered, signed."""
    sid = call_agent(sim, product, CUSTOMER, path="/watched-dial")
    leg_sid = leg_of(sim, sid)
    events = product.to("/leg-status", leg_sid)
    statuses = [hit.params["CallStatus"] for hit in events]
    assert ["initiated", "ringing", "in-progress", "completed"] == statuses
    assert ["0", "1", "2", "3"] == [hit.params["SequenceNumber"] for hit in events]
    progress = {"ParentCallSid", "Timestamp", "CallbackSource", "SequenceNumber"}
    assert STANDARD_FIELDS | progress == set(events[0].params)
    assert STANDARD_FIELDS | progress | {"CallDuration"} == set(events[-1].params)
    assert all(hit.signed for hit in events)
    expected = {
        "ParentCallSid": sid,
        "Direction": "outbound-dial",
        "To": CUSTOMER,
        "From": FROM,  # no callerId: the parent's caller
        "CallbackSource": "call-progress-events",
        "CallDuration": str(int(TALK_S)),
    }
    assert expected == {name: events[-1].params[name] for name in expected}
    dial_at = CLOCK_AT + timedelta(seconds=5)
    assert (
        format_datetime(dial_at + timedelta(seconds=5 + TALK_S)) == (events[-1].params["Timestamp"])
    )


def test_reordered_leg_progress_arrives_after_the_completed_event(
    start_sim: Callable[..., Simulator], product: AgentCallbackApp
) -> None:
    """With reorder_rate=1 every progress event of the leg is held back behind completed."""
    sim = start_sim(reorder_rate=1.0)
    sid = call_agent(sim, product, CUSTOMER, path="/watched-dial")
    events = product.to("/leg-status", leg_of(sim, sid))
    statuses = [hit.params["CallStatus"] for hit in events]
    assert ["completed", "initiated", "ringing", "in-progress"] == statuses
