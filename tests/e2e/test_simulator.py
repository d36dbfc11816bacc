"""The Twilio simulator against the real twilio library and a real Flask server on 127.0.0.1."""

from __future__ import annotations

import io
import math
import re
import socket
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from pydub import AudioSegment
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import make_server

from ivr.telephony.port import RecordingNotLiveError
from ivr.telephony.simulator import Persona, RecordingUpdate, Simulator
from ivr.telephony.twilio import TwilioTelephony

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "simulated-auth-token"
FROM = "+15005550006"
CLOCK_AT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]

SURVEY = "+12025550101"
SILENT = "+12025550102"
BUSY = "+12025550103"
NO_ANSWER = "+12025550104"
INVALID = "+12025550105"
HANGS_UP = "+12025550106"
MACHINE = "+12025550107"
SECOND_TRY = "+12025550108"
PIN = "+12025550109"
IDENTITY = "+12025550110"
PERSONAS = {
    SURVEY: Persona(keys=("1", "5")),
    SILENT: Persona(),
    BUSY: Persona(pickups=("busy",)),
    NO_ANSWER: Persona(pickups=("no-answer",)),
    INVALID: Persona(invalid_number=True),
    HANGS_UP: Persona(keys=("1", "5"), hangup_after_gathers=1),
    MACHINE: Persona(keys=("3",), answered_by="machine_start"),
    SECOND_TRY: Persona(pickups=("no-answer", "answer"), keys=("2",)),
    PIN: Persona(keys=("4321#",)),
    IDENTITY: Persona(keys=("1", "19800102#")),
}

TWIML = {
    "/voice": """<Response>
        <Gather numDigits="1" timeout="4" action="answer?q=1">
            <Say>Question one. Press 1 to 5.</Say>
        </Gather>
        <Say>We did not hear you.</Say>
    </Response>""",
    "/answer?q=1": """<Response>
        <Gather numDigits="1" action="answer?q=2"><Say>Question two.</Say></Gather>
        <Say>Goodbye.</Say>
    </Response>""",
    "/answer?q=2": "<Response><Say>Thank you.</Say><Hangup/></Response>",
    "/voice-empty": """<Response>
        <Gather numDigits="1" timeout="3" action="/empty" actionOnEmptyResult="true">
            <Say>Press a key.</Say>
        </Gather>
        <Say>Not reached.</Say>
    </Response>""",
    "/empty": "<Response><Say>Noted.</Say></Response>",
    "/voice-get": """<Response>
        <Gather numDigits="1" method="GET" action="answer-get?q=1"><Say>Hi.</Say></Gather>
    </Response>""",
    "/answer-get?q=1": "<Response><Hangup/></Response>",
    "/voice-pin": """<Response>
        <Gather action="/pin"><Say>Enter your PIN, then the hash key.</Say></Gather>
    </Response>""",
    "/pin": "<Response><Say>Thanks.</Say></Response>",
    # Identity check: the product pauses the recording while answering /id-start, whose Gather
    # takes the digits, and resumes it while answering /id-done.
    "/voice-id": """<Response>
        <Gather numDigits="1" action="/id-start"><Say>Press 1 if you are Anna.</Say></Gather>
    </Response>""",
    "/id-start": """<Response>
        <Gather action="/id-done"><Say>Key in your date of birth then hash.</Say></Gather>
    </Response>""",
    "/id-done": "<Response><Say>Thank you, Anna. Your identity is now confirmed.</Say></Response>",
}


@dataclass(frozen=True)
class Hit:
    """One request our webhook server received."""

    path: str  # with the query string, as Flask saw it
    method: str
    params: dict[str, str]
    signed: bool
    idempotency_token: str


class Webhooks:
    """A tiny product stand-in: serves TwiML, records every request, checks signatures."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        # path -> what the product does before answering it (a REST request, say)
        self.actions: dict[str, Callable[[Hit], None]] = {}
        self.errors: list[Exception] = []
        self._lock = threading.Lock()
        self._validator = RequestValidator(AUTH_TOKEN)
        app = Flask(__name__)
        app.add_url_rule("/<path:name>", view_func=self._handle, methods=["GET", "POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _handle(self, name: str) -> Response:
        form = request.form if request.method == "POST" else {}
        signature = request.headers.get("X-Twilio-Signature", "")
        path = request.full_path.rstrip("?")
        hit = Hit(
            path=path,
            method=request.method,
            params=dict(request.values.items()),
            signed=self._validator.validate(request.url, form, signature),
            idempotency_token=request.headers.get("I-Twilio-Idempotency-Token", ""),
        )
        with self._lock:
            self.hits.append(hit)
        if name == "voice-broken":
            return Response("boom", status=500)
        if request.path in self.actions:
            try:
                self.actions[request.path](hit)
            except Exception as exc:  # kept for the test to see, answered as the product would
                self.errors.append(exc)
                return Response(status=500)
        twiml_key = path.split("&")[0] if request.method == "GET" else path
        if twiml_key in TWIML:
            return Response(TWIML[twiml_key], mimetype="text/xml")
        return Response(status=204)

    def url(self, path: str) -> str:
        """The absolute URL of one of our webhooks."""
        return f"http://127.0.0.1:{self._server.server_port}{path}"

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
def webhooks() -> Iterator[Webhooks]:
    """Our webhook server on 127.0.0.1."""
    server = Webhooks()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with chosen fault rates; all are stopped afterwards."""
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


def client_for(sim: Simulator, auth_token: str = AUTH_TOKEN) -> Client:
    """The real twilio client, pointed at the simulator."""
    client = Client(ACCOUNT_SID, auth_token)
    client.api.base_url = sim.base_url
    return client


def place(sim: Simulator, webhooks: Webhooks, to: str, path: str = "/voice", **extra: Any) -> str:
    """Place one call through the twilio library, wait for it to finish, return its sid."""
    options: dict[str, Any] = {"status_callback": webhooks.url("/status")} | extra
    call = client_for(sim).calls.create(to=to, from_=FROM, url=webhooks.url(path), **options)
    sim.drain(timeout=30)
    return str(call.sid)


def rfc2822(moment: datetime) -> str:
    """A datetime as Twilio writes it."""
    return format_datetime(moment)


def test_create_answers_a_queued_call_resource_the_client_parses(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """The create response parses into a queued outbound-api call with a Twilio-shaped sid."""
    call = client_for(sim).calls.create(to=SURVEY, from_=FROM, url=webhooks.url("/voice"))
    sim.drain()
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid or "")
    assert ("queued", "outbound-api", "2010-04-01") == (
        call.status,
        call.direction,
        call.api_version,
    )
    assert (SURVEY, FROM, CLOCK_AT) == (call.to, call._from, call.date_created)
    assert "completed" == sim.call(call.sid or "").status


def test_fetched_call_reports_the_final_status_and_duration(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """GET Calls/{sid}.json through the client shows the finished call."""
    sid = place(sim, webhooks, SILENT)
    fetched = client_for(sim).calls(sid).fetch()
    assert ("completed", "8", CLOCK_AT) == (fetched.status, fetched.duration, fetched.start_time)


def test_concurrent_calls_all_finish_on_a_few_workers(
    start_sim: Callable[..., Simulator], webhooks: Webhooks
) -> None:
    """Twelve calls on three workers all run to completion with their own answers."""
    sim = start_sim(workers=3)
    client = client_for(sim)
    for _ in range(12):
        client.calls.create(to=SURVEY, from_=FROM, url=webhooks.url("/voice"))
    sim.drain(timeout=30)
    assert 12 * [["1", "5"]] == [call.pressed for call in sim.calls]
    assert 12 == len({call.sid for call in sim.calls})


def test_the_same_seed_gives_the_same_sids(
    start_sim: Callable[..., Simulator], webhooks: Webhooks
) -> None:
    """Two simulators with one seed hand out the same call sids."""
    first, second = start_sim(seed=7), start_sim(seed=7)
    sids = [place(sim, webhooks, SURVEY) for sim in (first, second)]
    assert sids[0] == sids[1]


def test_voice_request_carries_twilio_fields_and_a_valid_signature(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """The voice URL gets Twilio's form fields, signed with the auth token."""
    sid = place(sim, webhooks, SURVEY)
    [voice] = webhooks.to("/voice", sid)
    geography = {
        f"{prefix}{part}"
        for prefix in ("Called", "Caller", "From", "To")
        for part in ("City", "State", "Zip", "Country")
    }
    base = {"AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "Caller"}
    assert base | {"Direction", "From", "To"} | geography == set(voice.params)
    assert voice.signed
    assert voice.idempotency_token
    expected = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": FROM,
        "Caller": FROM,
        "To": SURVEY,
        "Called": SURVEY,
        "ToCountry": "US",
    }
    assert expected == {name: voice.params[name] for name in expected}


def test_digits_follow_the_persona_keys_through_relative_gather_actions(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Each Gather posts the next key to its action, resolved against the document URL."""
    sid = place(sim, webhooks, SURVEY)
    answers = webhooks.to("/answer", sid)
    assert ["/answer?q=1", "/answer?q=2"] == [hit.path for hit in answers]
    assert ["1", "5"] == [hit.params["Digits"] for hit in answers]
    assert all(hit.signed for hit in answers)
    assert {"FinishedOnKey": "", "msg": "Gather End", "CallStatus": "in-progress"}.items() <= (
        answers[0].params.items()
    )
    call = sim.call(sid)
    assert ["1", "5"] == call.pressed
    assert "Thank you." == call.said[-1]


def test_finish_on_key_ends_the_gather_and_is_reported(sim: Simulator, webhooks: Webhooks) -> None:
    """Keys up to the finishOnKey are the Digits; the key itself comes as FinishedOnKey."""
    sid = place(sim, webhooks, PIN, "/voice-pin")
    [pin] = webhooks.to("/pin", sid)
    assert ("4321", "#") == (pin.params["Digits"], pin.params["FinishedOnKey"])


def test_gather_without_input_falls_through_to_the_next_verb(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Silence without actionOnEmptyResult runs the next verb and requests no action."""
    sid = place(sim, webhooks, SILENT)
    assert [] == webhooks.to("/answer", sid)
    call = sim.call(sid)
    assert [""] == call.pressed
    assert "We did not hear you." == call.said[-1]


def test_action_on_empty_result_posts_empty_digits(sim: Simulator, webhooks: Webhooks) -> None:
    """With actionOnEmptyResult="true" silence still requests the action, with Digits empty."""
    sid = place(sim, webhooks, SILENT, "/voice-empty")
    [empty] = webhooks.to("/empty", sid)
    assert "" == empty.params["Digits"]
    assert "Not reached." not in sim.call(sid).said


def test_gather_action_with_get_sends_signed_query_parameters(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """A GET action carries the fields in its query string, and the signature covers it."""
    sid = place(sim, webhooks, SURVEY, "/voice-get")
    [answer] = webhooks.to("/answer-get", sid)
    assert ("GET", "1", True) == (answer.method, answer.params["Digits"], answer.signed)
    assert answer.path.startswith("/answer-get?q=1&")


def test_status_callbacks_cover_requested_events_with_increasing_sequence_numbers(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Every requested event is called back in order, numbered from 0, timed by the clock."""
    sid = place(sim, webhooks, SILENT, status_callback_event=ALL_EVENTS)
    statuses = webhooks.to("/status", sid)
    assert ["initiated", "ringing", "in-progress", "completed"] == [
        hit.params["CallStatus"] for hit in statuses
    ]
    assert ["0", "1", "2", "3"] == [hit.params["SequenceNumber"] for hit in statuses]
    assert {"call-progress-events"} == {hit.params["CallbackSource"] for hit in statuses}
    assert all(hit.signed for hit in statuses)
    completed = statuses[-1].params
    # 1 s dialling + 4 s ringing; then "Question one. Press 1 to 5." (27 chars / 12 = 2.25 s),
    # a 4 s silent Gather and "We did not hear you." (20 / 12 = 1.67 s): 7.92 s -> 8 s.
    assert ("8", "1") == (completed["CallDuration"], completed["Duration"])
    assert rfc2822(CLOCK_AT) == statuses[0].params["Timestamp"]
    assert rfc2822(CLOCK_AT + timedelta(seconds=13)) == completed["Timestamp"]


def test_only_the_final_status_callback_is_sent_when_no_events_are_requested(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Without StatusCallbackEvent Twilio sends only the completed callback."""
    sid = place(sim, webhooks, SURVEY)
    [final] = webhooks.to("/status", sid)
    assert ("completed", "0") == (final.params["CallStatus"], final.params["SequenceNumber"])


def test_simulated_time_is_computed_not_slept(sim: Simulator, webhooks: Webhooks) -> None:
    """A call of several simulated seconds finishes in far less real time."""
    began = time.monotonic()
    sid = place(sim, webhooks, SILENT)
    assert time.monotonic() - began < 5
    assert 8 == sim.call(sid).duration_s


@pytest.mark.parametrize(("number", "final"), [(BUSY, "busy"), (NO_ANSWER, "no-answer")])
def test_unanswered_personas_end_without_a_voice_request(
    sim: Simulator, webhooks: Webhooks, number: str, final: str
) -> None:
    """Busy and no-answer calls never fetch TwiML and report a zero duration."""
    sid = place(sim, webhooks, number, status_callback_event=ALL_EVENTS)
    statuses = webhooks.to("/status", sid)
    assert ["initiated", "ringing", final] == [hit.params["CallStatus"] for hit in statuses]
    assert "0" == statuses[-1].params["CallDuration"]
    assert [] == webhooks.to("/voice", sid)
    assert final == sim.call(sid).status


def test_pickups_apply_per_attempt_to_the_same_number(sim: Simulator, webhooks: Webhooks) -> None:
    """The first attempt rings out, the second is answered."""
    first = place(sim, webhooks, SECOND_TRY)
    second = place(sim, webhooks, SECOND_TRY)
    assert ("no-answer", "completed") == (sim.call(first).status, sim.call(second).status)
    assert ["2", ""] == sim.call(second).pressed  # the second question meets silence


def test_callee_hangs_up_at_the_configured_gather(sim: Simulator, webhooks: Webhooks) -> None:
    """hangup_after_gathers=1 answers the first question and hangs up at the second."""
    sid = place(sim, webhooks, HANGS_UP)
    assert ["/answer?q=1"] == [hit.path for hit in webhooks.to("/answer", sid)]
    call = sim.call(sid)
    assert (["1"], "completed") == (call.pressed, call.status)


def test_voice_url_error_ends_the_call_with_an_application_error(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """A 500 on the voice URL is logged and the call hangs up, as Twilio does."""
    sid = place(sim, webhooks, SURVEY, "/voice-broken")
    call = sim.call(sid)
    assert [500] == [exchange.status for exchange in call.requests_of("voice")]
    assert (11200, [], "completed") == (call.error_code, call.pressed, call.status)


def test_invalid_number_is_refused_with_error_21211(sim: Simulator, webhooks: Webhooks) -> None:
    """The twilio client raises TwilioRestException 21211 and no call is placed."""
    with pytest.raises(TwilioRestException) as refused:
        client_for(sim).calls.create(to=INVALID, from_=FROM, url=webhooks.url("/voice"))
    assert (400, 21211) == (refused.value.status, refused.value.code)
    assert [] == sim.calls


def test_missing_url_is_refused_with_error_21205(sim: Simulator) -> None:
    """A create without Url is a 400 with Twilio's error body."""
    with pytest.raises(TwilioRestException) as refused:
        client_for(sim).calls.create(to=SURVEY, from_=FROM)
    assert (400, 21205) == (refused.value.status, refused.value.code)


def test_space_joined_status_callback_events_are_refused_with_error_21626(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """StatusCallbackEvent is a repeated parameter; one space-joined string is invalid."""
    with pytest.raises(TwilioRestException) as refused:
        client_for(sim).calls.create(
            to=SURVEY,
            from_=FROM,
            url=webhooks.url("/voice"),
            status_callback=webhooks.url("/status"),
            status_callback_event=["initiated ringing answered completed"],
        )
    assert (400, 21626) == (refused.value.status, refused.value.code)


def test_wrong_credentials_get_401_with_error_20003(sim: Simulator, webhooks: Webhooks) -> None:
    """A wrong auth token is refused like Twilio refuses it."""
    with pytest.raises(TwilioRestException) as refused:
        client_for(sim, "wrong-token").calls.create(to=SURVEY, from_=FROM, url=webhooks.url("/v"))
    assert (401, 20003) == (refused.value.status, refused.value.code)


def test_duplicate_rate_one_delivers_each_status_callback_twice(
    start_sim: Callable[..., Simulator], webhooks: Webhooks
) -> None:
    """Every callback arrives twice with the same sequence number and idempotency token."""
    sim = start_sim(duplicate_rate=1.0)
    sid = place(sim, webhooks, SURVEY, status_callback_event=ALL_EVENTS)
    statuses = webhooks.to("/status", sid)
    assert ["0", "0", "1", "1", "2", "2", "3", "3"] == [
        h.params["SequenceNumber"] for h in statuses
    ]
    assert statuses[0].idempotency_token == statuses[1].idempotency_token


def test_reorder_rate_one_delivers_progress_callbacks_after_completed(
    start_sim: Callable[..., Simulator], webhooks: Webhooks
) -> None:
    """Held-back progress callbacks arrive after the final one, none is lost."""
    sim = start_sim(reorder_rate=1.0)
    sid = place(sim, webhooks, SURVEY, status_callback_event=ALL_EVENTS)
    arrived = [hit.params["CallStatus"] for hit in webhooks.to("/status", sid)]
    assert "completed" == arrived[0]
    assert ["completed", "in-progress", "initiated", "ringing"] == sorted(arrived)


def test_webhook_delivery_retries_once_when_the_connection_fails(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """An unreachable status callback URL is tried twice, then given up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sid = place(sim, webhooks, SURVEY, status_callback=f"http://127.0.0.1:{closed_port}/status")
    call = sim.call(sid)
    assert [None, None] == [exchange.status for exchange in call.requests_of("status")]
    assert "completed" == call.status


def test_async_amd_result_arrives_before_the_first_gather_action(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """AsyncAmdStatusCallback gets AnsweredBy shortly after answer, before any Digits."""
    sid = place(
        sim,
        webhooks,
        MACHINE,
        machine_detection="Enable",
        async_amd="true",
        async_amd_status_callback=webhooks.url("/amd"),
    )
    [amd] = webhooks.to("/amd", sid)
    assert {"AccountSid", "CallSid", "AnsweredBy", "MachineDetectionDuration"} == set(amd.params)
    assert ("machine_start", True) == (amd.params["AnsweredBy"], amd.signed)
    order = [hit.path.split("?")[0] for hit in webhooks.hits if hit.params["CallSid"] == sid]
    # A machine presses none of the persona's keys: the Gather times out with no action.
    assert ["/voice", "/amd"] == [path for path in order if path in ("/voice", "/amd", "/answer")]
    assert ("machine_start", [""]) == (sim.call(sid).answered_by, sim.call(sid).pressed)


def record_a_call(sim: Simulator, webhooks: Webhooks) -> Hit:
    """Place a recorded call and return its recording status callback."""
    sid = place(
        sim,
        webhooks,
        SURVEY,
        record=True,
        trim="do-not-trim",
        recording_status_callback=webhooks.url("/recording"),
        recording_status_callback_event=["completed"],
    )
    [callback] = webhooks.to("/recording", sid)
    return callback


def test_recording_callback_points_at_media_that_needs_basic_auth(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """The callback carries Twilio's fields; the media answers 401 without credentials."""
    callback = record_a_call(sim, webhooks)
    fields = callback.params
    assert re.fullmatch(r"RE[0-9a-f]{32}", fields["RecordingSid"])
    expected_url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
    assert expected_url + fields["RecordingSid"] == fields["RecordingUrl"]
    expected = {
        "RecordingStatus": "completed",
        "RecordingChannels": "1",
        "RecordingSource": "OutboundAPI",
        "RecordingStartTime": rfc2822(CLOCK_AT + timedelta(seconds=5)),
        "ErrorCode": "0",
    }
    assert expected == {name: fields[name] for name in expected}
    assert callback.signed
    anonymous = requests.get(fields["RecordingUrl"], timeout=10)
    assert (401, 20003) == (anonymous.status_code, anonymous.json()["code"])


def test_media_answers_404_until_ready_then_a_wav_of_the_reported_duration(
    start_sim: Callable[..., Simulator], webhooks: Webhooks
) -> None:
    """The first media_not_ready GETs are 404; then a mono 8 kHz 16-bit WAV of that length."""
    sim = start_sim(media_not_ready=2)
    fields = record_a_call(sim, webhooks).params
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    early = [requests.get(fields["RecordingUrl"], auth=auth, timeout=10) for _ in range(2)]
    assert [(404, 20404), (404, 20404)] == [(r.status_code, r.json()["code"]) for r in early]
    media = requests.get(fields["RecordingUrl"] + ".wav", auth=auth, timeout=10)
    assert (200, "audio/x-wav") == (media.status_code, media.headers["Content-Type"])
    assert (b"RIFF", b"WAVE") == (media.content[:4], media.content[8:12])
    with wave.open(io.BytesIO(media.content)) as audio:
        shape = (audio.getnchannels(), audio.getframerate(), audio.getsampwidth())
        seconds = audio.getnframes() / audio.getframerate()
    assert (1, 8000, 2) == shape
    assert abs(seconds - int(fields["RecordingDuration"])) < 1


def test_recording_metadata_parses_in_the_client(sim: Simulator, webhooks: Webhooks) -> None:
    """Recordings/{sid}.json reads back through the twilio client."""
    fields = record_a_call(sim, webhooks).params
    recording = client_for(sim).recordings(fields["RecordingSid"]).fetch()
    assert (fields["CallSid"], fields["RecordingDuration"], "OutboundAPI") == (
        recording.call_sid,
        recording.duration,
        recording.source,
    )
    mp3 = requests.get(fields["RecordingUrl"] + ".mp3", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert 415 == mp3.status_code


def test_deleted_recording_answers_404(sim: Simulator, webhooks: Webhooks) -> None:
    """After a delete through the client the media and a second delete are 404."""
    fields = record_a_call(sim, webhooks).params
    client = client_for(sim)
    assert client.recordings(fields["RecordingSid"]).delete()
    gone = requests.get(fields["RecordingUrl"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert (404, 20404) == (gone.status_code, gone.json()["code"])
    with pytest.raises(TwilioRestException) as again:
        client.recordings(fields["RecordingSid"]).delete()
    assert 404 == again.value.status
    assert [fields["RecordingSid"]] == sim.deleted_recordings


# --- pausing the recording while identity digits are keyed ---------------------------------------
#
# /voice-id's call, timed by the simulator: answered 5 s after the start (1 s dialling, 4 s
# ringing). "Press 1 if you are Anna." (24 chars / 12 = 2 s) and the key 1 (0.5 s): /id-start is
# requested 2.5 s into the recording, 7.5 s into the call, and pauses it. "Key in your date of
# birth then hash." (36 / 12 = 3 s) and nine keys "19800102#" (4.5 s): /id-done is requested at
# 10 s (call 15 s) and resumes it. "Thank you, Anna. Your identity is now confirmed." (48 / 12 =
# 4 s) ends the call at 14 s.
PAUSED_AT_S, RESUMED_AT_S, RECORDING_S = 2.5, 10.0, 14.0
ANSWERED_AFTER_S = 5.0


def telephony_for(sim: Simulator) -> TwilioTelephony:
    """The product's adapter, pointed at the simulator."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=sim.base_url
    )


def record_identity_call(sim: Simulator, webhooks: Webhooks, **extra: Any) -> Hit:
    """Place the recorded identity call and return its recording status callback."""
    sid = place(
        sim,
        webhooks,
        IDENTITY,
        "/voice-id",
        record=True,
        recording_status_callback=webhooks.url("/recording"),
        **extra,
    )
    assert [] == webhooks.errors
    [callback] = webhooks.to("/recording", sid)
    return callback


def pause_and_resume_with(webhooks: Webhooks, telephony: TwilioTelephony) -> None:
    """Pause while answering /id-start and resume while answering /id-done, as the shell will."""
    webhooks.actions["/id-start"] = lambda hit: telephony.pause_recording(hit.params["CallSid"])
    webhooks.actions["/id-done"] = lambda hit: telephony.resume_recording(hit.params["CallSid"])


def download(sim: Simulator, callback: Hit) -> AudioSegment:
    """The recording's media, through the adapter, as a pydub segment."""
    body, _ = telephony_for(sim).download_recording(callback.params["RecordingUrl"])
    return AudioSegment.from_wav(io.BytesIO(body))


def is_silent(audio: AudioSegment) -> bool:
    """Digital silence (pydub's dBFS of all-zero samples is -inf)."""
    return bool(audio.dBFS == -math.inf)


def is_tone(audio: AudioSegment) -> bool:
    """The simulator's quiet tone (about -43 dBFS), nowhere near silence."""
    return bool(-50 < audio.dBFS < -30)


def test_the_call_timeline_shows_the_recording_paused_around_the_identity_gather(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Pause and resume land at the call times of the gathers around the keyed digits."""
    pause_and_resume_with(webhooks, telephony_for(sim))

    call = sim.call(record_identity_call(sim, webhooks).params["CallSid"])

    assert [
        RecordingUpdate("paused", ANSWERED_AFTER_S + PAUSED_AT_S, "silence"),
        RecordingUpdate("in-progress", ANSWERED_AFTER_S + RESUMED_AT_S),
    ] == call.recording_updates
    expected_order = [
        "gather: 1",
        "recording paused (silence) at 7.50 s",
        "say: Key in your date of birth then hash.",
        "gather: 19800102",
        "recording resumed at 15.00 s",
        "say: Thank you, Anna. Your identity is now confirmed.",
    ]
    assert expected_order == [event for event in call.events if event in expected_order]
    assert (["1", "19800102"], 14) == (call.pressed, call.duration_s)


def test_the_recording_is_silent_where_digits_were_keyed_and_tone_elsewhere(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """The WAV lasts the whole call; only the paused span (checked with pydub) is silent."""
    pause_and_resume_with(webhooks, telephony_for(sim))

    callback = record_identity_call(sim, webhooks)
    audio = download(sim, callback)

    paused_ms, resumed_ms = int(PAUSED_AT_S * 1000), int(RESUMED_AT_S * 1000)
    assert ("14", int(RECORDING_S * 1000)) == (callback.params["RecordingDuration"], len(audio))
    assert is_tone(audio[: paused_ms - 50])
    assert is_silent(audio[paused_ms + 50 : resumed_ms - 50])
    assert is_tone(audio[resumed_ms + 50 :])


def test_pause_behavior_skip_cuts_the_paused_span_out_of_the_recording(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """With PauseBehavior=skip the recording is 7.5 s shorter and has no silent stretch."""
    client, telephony = client_for(sim), telephony_for(sim)
    webhooks.actions["/id-start"] = lambda hit: (
        client.calls(hit.params["CallSid"])
        .recordings("Twilio.CURRENT")
        .update(status="paused", pause_behavior="skip")
    )
    webhooks.actions["/id-done"] = lambda hit: telephony.resume_recording(hit.params["CallSid"])

    callback = record_identity_call(sim, webhooks)
    audio = download(sim, callback)

    kept_s = RECORDING_S - (RESUMED_AT_S - PAUSED_AT_S)  # 6.5 s, reported in whole seconds
    assert ("7", int(kept_s * 1000)) == (callback.params["RecordingDuration"], len(audio))
    assert all(is_tone(audio[start : start + 500]) for start in range(0, len(audio), 500))


def test_the_update_answers_the_live_recording_which_its_own_sid_also_addresses(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """The client parses the paused recording; resuming by that sid works like Twilio.CURRENT."""
    client = client_for(sim)
    answered: list[Any] = []

    def pause(hit: Hit) -> None:
        recording = client.calls(hit.params["CallSid"]).recordings("Twilio.CURRENT")
        answered.append(recording.update(status="paused"))

    def resume(hit: Hit) -> None:
        answered.append(answered[0].update(status="in-progress"))  # by RE..., not CURRENT

    webhooks.actions.update({"/id-start": pause, "/id-done": resume})
    fields = record_identity_call(sim, webhooks).params

    paused, resumed = answered
    assert (fields["RecordingSid"], fields["CallSid"]) == (paused.sid, paused.call_sid)
    assert ("paused", "in-progress") == (paused.status, resumed.status)
    assert CLOCK_AT + timedelta(seconds=ANSWERED_AFTER_S) == paused.start_time


def test_a_stopped_recording_ends_where_it_was_stopped(sim: Simulator, webhooks: Webhooks) -> None:
    """Status=stopped while paused: the recording ends there, silent from the pause on."""
    client, telephony = client_for(sim), telephony_for(sim)
    webhooks.actions["/id-start"] = lambda hit: telephony.pause_recording(hit.params["CallSid"])
    webhooks.actions["/id-done"] = lambda hit: (
        client.calls(hit.params["CallSid"]).recordings("Twilio.CURRENT").update(status="stopped")
    )

    callback = record_identity_call(sim, webhooks)
    audio = download(sim, callback)

    assert ("10", 10_000) == (callback.params["RecordingDuration"], len(audio))
    assert is_silent(audio[int(PAUSED_AT_S * 1000) + 50 :])


def test_pausing_a_finished_call_is_a_recording_not_live_404(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """After hang-up the adapter raises RecordingNotLiveError with Twilio's 404 / 20404."""
    sid = record_identity_call(sim, webhooks).params["CallSid"]

    with pytest.raises(RecordingNotLiveError) as caught:
        telephony_for(sim).pause_recording(sid)

    assert (404, 20404) == (caught.value.http_status, caught.value.code)
    assert [] == sim.call(sid).recording_updates


def test_a_call_that_is_not_recorded_has_nothing_to_pause(
    sim: Simulator, webhooks: Webhooks
) -> None:
    """Without Record=true the live call has no current recording: 404, as for an unknown call."""
    telephony = telephony_for(sim)
    refused: list[RecordingNotLiveError] = []

    def pause(hit: Hit) -> None:
        with pytest.raises(RecordingNotLiveError) as caught:
            telephony.pause_recording(hit.params["CallSid"])
        refused.append(caught.value)

    webhooks.actions["/id-start"] = pause
    place(sim, webhooks, IDENTITY, "/voice-id")

    with pytest.raises(RecordingNotLiveError) as unknown:
        telephony.resume_recording("CA" + "0" * 32)
    assert [404, 404] == [error.http_status for error in (*refused, unknown.value)]
    assert [] == webhooks.errors


@pytest.mark.parametrize(
    ("form", "auth", "expected"),
    [
        ({"Status": "paused"}, (ACCOUNT_SID, "wrong-token"), (401, 20003)),
        ({"Status": "resumed"}, (ACCOUNT_SID, AUTH_TOKEN), (400, 20001)),
        ({"Status": "paused", "PauseBehavior": "mute"}, (ACCOUNT_SID, AUTH_TOKEN), (400, 20001)),
    ],
)
def test_a_recording_update_is_refused_without_credentials_or_with_bad_fields(
    sim: Simulator, form: dict[str, str], auth: tuple[str, str], expected: tuple[int, int]
) -> None:
    """Basic auth is checked as on every endpoint; Status and PauseBehavior take Twilio's values."""
    url = f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA{'0' * 32}"
    answer = requests.post(
        f"{url}/Recordings/Twilio.CURRENT.json", data=form, auth=auth, timeout=10
    )
    assert expected == (answer.status_code, answer.json()["code"])
