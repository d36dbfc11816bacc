"""A local Twilio: the REST subset the product uses, and the webhooks Twilio would send.

The product's real Twilio adapter places calls against it (the twilio library with its base URL
pointed here) and the product's real webhooks receive form-encoded, signed requests exactly as
Twilio sends them. Who answers and what they press comes from a `Persona` per dialled number.

Served (HTTP basic auth AccountSid:AuthToken, else 401 / 20003):
    POST   /2010-04-01/Accounts/{AC}/Calls.json                 create a call (201, queued)
    GET    /2010-04-01/Accounts/{AC}/Calls/{CA}.json            the call resource
    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}[.wav]      media (audio/x-wav)
    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}.json       recording metadata
    DELETE /2010-04-01/Accounts/{AC}/Recordings/{RE}.json       204

Time is simulated: fields such as Timestamp are `clock()` at the call's start plus computed
offsets (ringing, prompts, gathers); nothing sleeps. Randomness (sids, duplicated and reordered
callbacks) comes from the seed, split into one generator per call in creation order, so that a
run repeats whatever order the worker threads take.
"""

from __future__ import annotations

import hmac
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ivr.telephony.sim_media import recording_wav
from ivr.telephony.sim_twiml import Callee, Fetched, TwimlRunner

API_VERSION = "2010-04-01"
ACCOUNT = f"/{API_VERSION}/Accounts/<account>"
PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
RING_S = 4.0  # an answering callee picks up after this much ringing
DIAL_S = 1.0  # from initiated to ringing
BUSY_S = 2.0
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SIP_CODES = {"completed": "200", "busy": "486", "no-answer": "487", "failed": "503"}
COUNTRIES = {"+1": "US", "+44": "GB", "+49": "DE", "+81": "JP", "+852": "HK", "+86": "CN"}
AMD_MS = {"human": "2400"}  # MachineDetectionDuration; machines take longer to classify
Json = dict[str, Any]


@dataclass(frozen=True)
class Persona:
    """Who answers a number, and how they behave on the call."""

    pickups: Sequence[str] = ("answer",)  # per attempt: answer | no-answer | busy | failed
    keys: Sequence[str] = ()  # pressed at each <Gather> in order; "" = silence
    hangup_after_gathers: int | None = None  # hang up on reaching Gather N+1 (0 = the first)
    invalid_number: bool = False  # the create is refused with 21211
    answered_by: str = "human"  # AMD result: human | machine_start | machine_end_beep | fax ...


@dataclass(frozen=True)
class Exchange:
    """One webhook request the simulator made, and how it was answered."""

    kind: str  # voice | gather | redirect | status | amd | recording
    method: str
    url: str  # as requested (and signed), query string included
    form: Mapping[str, str]  # the parameters (in the body for POST, the query for GET)
    status: int | None  # None: no answer (connection failed or timed out)
    body: str = ""
    error: str = ""


@dataclass
class SimRecording:
    """A call recording held by the simulator until deleted."""

    sid: str
    call_sid: str
    duration_s: int
    channels: int
    started_at: datetime
    created_at: datetime
    media_requests: int = 0


@dataclass
class SimCall:
    """One call: what was asked for and what happened, for tests to inspect."""

    sid: str
    to: str
    from_: str
    params: MultiDict[str, str]  # the create request's form
    created_at: datetime
    status: str = "queued"
    answered_by: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int = 0
    pressed: list[str] = field(default_factory=list)  # Digits of each Gather, "" = none
    said: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    http: list[Exchange] = field(default_factory=list)
    recording_sid: str | None = None
    error_code: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def requests_of(self, kind: str) -> list[Exchange]:
        """The webhook requests of one kind, in the order they were made."""
        return [exchange for exchange in self.http if exchange.kind == kind]


class Simulator:
    """A Twilio stand-in on 127.0.0.1 that places simulated calls on worker threads."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        personas: Callable[[str], Persona],
        clock: Callable[[], datetime],
        workers: int = 8,
        duplicate_rate: float = 0.0,
        reorder_rate: float = 0.0,
        media_not_ready: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.personas = personas
        self.duplicate_rate = duplicate_rate
        self.reorder_rate = reorder_rate
        self.media_not_ready = media_not_ready
        self.calls: list[SimCall] = []
        self.stored_recordings: dict[str, SimRecording] = {}
        self.deleted_recordings: list[str] = []
        self.validator = RequestValidator(auth_token)
        self._clock = clock
        self._workers = workers
        self._host, self._port = host, port
        # One generator for sids and faults; the lock keeps draws whole across threads.
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._futures: dict[str, Future[None]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._urls = Map(
            [
                Rule(f"{ACCOUNT}/Calls.json", endpoint="create_call", methods=["POST"]),
                Rule(f"{ACCOUNT}/Calls/<sid>.json", endpoint="fetch_call", methods=["GET"]),
                Rule(
                    f"{ACCOUNT}/Recordings/<name>", endpoint="recording", methods=["GET", "DELETE"]
                ),
            ]
        )

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST base URL, e.g. http://127.0.0.1:PORT (once started)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> None:
        """Serve HTTP on a daemon thread and open the call workers."""
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="twilio-sim-call")
        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll
            name="twilio-sim-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; calls not yet started are canceled."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for call in self.calls:
                if self._futures[call.sid].cancelled():
                    call.status = "canceled"
                    call.done.set()

    def drain(self, timeout: float = 60.0) -> None:
        """Block until every call created so far has finished, callbacks included."""
        deadline = time.monotonic() + timeout
        with self._lock:
            calls = list(self.calls)
        for call in calls:
            if not call.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"call {call.sid} still running after {timeout} s")

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def call(self, sid: str) -> SimCall:
        """The call with this sid (KeyError if unknown)."""
        with self._lock:
            for call in self.calls:
                if call.sid == sid:
                    return call
        raise KeyError(sid)

    # -- shared helpers for the call runs -------------------------------------------------------

    def now(self) -> datetime:
        """The clock's current time as an aware UTC datetime."""
        current = self._clock()
        return current.replace(tzinfo=UTC) if current.tzinfo is None else current.astimezone(UTC)

    def keep(self, recording: SimRecording) -> None:
        """Store a finished call's recording until it is deleted."""
        with self._lock:
            self.stored_recordings[recording.sid] = recording

    def recording_url(self, sid: str) -> str:
        """RecordingUrl as Twilio sends it: no extension."""
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    # -- REST API -------------------------------------------------------------------------------

    def _wsgi(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, matched = self._urls.bind_to_environ(environ).match()
            args = dict(matched)
            if not self._authorized(request) or args.pop("account") != self.account_sid:
                response = _error(401, 20003, "Authenticate")
                response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            else:
                response = getattr(self, f"_{endpoint}")(request, **args)
        except HTTPException as exc:
            response = _error(exc.code or 500, 20000 + (exc.code or 500), exc.description or "")
        except Exception as exc:  # a simulator bug answers like Twilio's 500, not a traceback
            response = _error(500, 20500, f"Internal Server Error: {exc!r}")
        return response(environ, start_response)

    def _authorized(self, request: Request) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        return hmac.compare_digest(auth.username or "", self.account_sid) and hmac.compare_digest(
            auth.password or "", self.auth_token
        )

    def _create_call(self, request: Request) -> Response:
        if self._executor is None:
            raise RuntimeError("the simulator is not started")
        form = request.form
        to, from_, url = (form.get(name, "").strip() for name in ("To", "From", "Url"))
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not url:
            return _error(400, 21205, "Url parameter is required.")
        for name, code in (("Url", 21205), ("StatusCallback", 21609)):
            if form.get(name) and urlsplit(form[name]).scheme not in ("http", "https"):
                return _error(400, code, f"{name} is not a valid URL: {form[name]}")
        bad = [
            event for event in form.getlist("StatusCallbackEvent") if event not in PROGRESS_EVENTS
        ]
        if bad:
            return _error(400, 21626, f"Invalid 'StatusCallbackEvent': {' '.join(bad)}")
        if not E164.match(to) or self.personas(to).invalid_number:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        persona = self.personas(to)
        created_at = self.now()
        with self._lock:
            # Each call draws from its own generator, seeded in creation order, so its faults
            # repeat run after run whatever order the worker threads happen to run in.
            call_rng = random.Random(self._rng.getrandbits(64))
            call = SimCall(_sid("CA", call_rng), to, from_, form.copy(), created_at)
            attempt = self._attempts.get(to, 0)
            self._attempts[to] = attempt + 1
            self.calls.append(call)
            pickups = persona.pickups or ("answer",)
            pickup = pickups[min(attempt, len(pickups) - 1)]
            resource = self._call_resource(call)  # before the worker moves it on
            run = _CallRun(self, call, persona, pickup, call_rng)
            self._futures[call.sid] = self._executor.submit(run.run)
        return _json(201, resource)

    def _fetch_call(self, request: Request, sid: str) -> Response:
        try:
            return _json(200, self._call_resource(self.call(sid)))
        except KeyError:
            return _not_found(request)

    def _call_resource(self, call: SimCall) -> Json:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}"
        ended = call.done.is_set()
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "to": call.to,
            "to_formatted": _formatted(call.to),
            "from": call.from_,
            "from_formatted": _formatted(call.from_),
            "status": call.status,
            "direction": "outbound-api",
            "date_created": _rfc2822(call.created_at),
            "date_updated": _rfc2822(call.ended_at or call.started_at or call.created_at),
            "start_time": _rfc2822(call.started_at) if call.started_at else None,
            "end_time": _rfc2822(call.ended_at) if ended and call.ended_at else None,
            "duration": str(call.duration_s) if ended else None,
            "answered_by": call.answered_by,
            "price": None,
            "price_unit": "USD",
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "queue_time": "0",
            "trunk_sid": None,
            "annotation": None,
            "uri": f"{base}.json",
            "subresource_uris": {
                "recordings": f"{base}/Recordings.json",
                "notifications": f"{base}/Notifications.json",
                "events": f"{base}/Events.json",
            },
        }

    def _recording(self, request: Request, name: str) -> Response:
        sid, _, extension = name.partition(".")
        with self._lock:
            recording = self.stored_recordings.get(sid)
            if recording is not None and request.method == "GET" and extension != "json":
                recording.media_requests += 1
        if recording is None:
            return _not_found(request)
        if request.method == "DELETE":
            with self._lock:
                del self.stored_recordings[sid]
                self.deleted_recordings.append(sid)
            return Response(status=204)
        if extension == "json":
            return _json(200, self._recording_resource(recording))
        if recording.media_requests <= self.media_not_ready:
            return _not_found(request)  # Twilio's media can 404 briefly after the callback
        if extension not in ("", "wav"):
            return _error(415, 20415, f"Unsupported media format: .{extension}")
        body = recording_wav(recording.duration_s, channels=recording.channels)
        return Response(body, status=200, mimetype="audio/x-wav")

    def _recording_resource(self, recording: SimRecording) -> Json:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording.sid}"
        return {
            "sid": recording.sid,
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": _rfc2822(recording.created_at),
            "date_updated": _rfc2822(recording.created_at),
            "start_time": _rfc2822(recording.started_at),
            "duration": str(recording.duration_s),
            "channels": recording.channels,
            "source": "OutboundAPI",
            "status": "completed",
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "media_url": f"{self.base_url}{uri}",
            "uri": f"{uri}.json",
            "subresource_uris": {"transcriptions": f"{uri}/Transcriptions.json"},
        }


class _CallRun:
    """One call's life on a worker thread: progress, TwiML, AMD, recording, callbacks."""

    def __init__(
        self, sim: Simulator, call: SimCall, persona: Persona, pickup: str, rng: random.Random
    ) -> None:
        self.sim, self.call, self.persona, self.pickup, self.rng = sim, call, persona, pickup, rng
        self.params = call.params
        self.http = requests.Session()
        self.http.trust_env = False  # webhooks go where the URL says, never via an env proxy
        self.sequence = 0
        self.held: list[tuple[Mapping[str, str], str]] = []
        self.started_at = call.created_at  # until a worker takes the call
        self.offset_s = 0.0
        self.fetches = 0
        events = self.params.getlist("StatusCallbackEvent")
        self.events = set(events) if events else {"completed"}

    def run(self) -> None:
        """Run the call to its end; whatever happens, mark it done so drain() returns."""
        try:
            self._run()
        except Exception as exc:  # a simulator bug must not leave drain() waiting forever
            self.call.events.append(f"simulator error: {exc!r}")
        finally:
            self.http.close()
            self.call.done.set()

    def _at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.offset_s)

    def _run(self) -> None:
        call, params = self.call, self.params
        self.started_at = call.started_at = self.sim.now()
        self._progress("initiated", "initiated")
        if self.pickup == "failed":
            return self._finish("failed")
        self.offset_s += DIAL_S
        self._progress("ringing", "ringing")
        ring_timeout = min(600, _int(params.get("Timeout"), 60))
        if self.pickup == "busy":
            self.offset_s += BUSY_S
            return self._finish("busy")
        if self.pickup == "no-answer":
            self.offset_s += ring_timeout
            return self._finish("no-answer")
        self.offset_s += min(RING_S, ring_timeout)
        answered_at = self._at()
        if params.get("MachineDetection") in ("Enable", "DetectMessageEnd"):
            call.answered_by = self.persona.answered_by
        self._progress("answered", "in-progress")
        callee = Callee(self.persona.keys, self.persona.hangup_after_gathers)
        runner = TwimlRunner(
            self._fetch_twiml,
            callee,
            time_limit_s=_int(params.get("TimeLimit"), 14400),
            on_first_document=self._amd,
        )
        session = runner.run(params["Url"], params.get("Method", "POST"))
        call.pressed, call.said, call.error_code = session.pressed, session.said, session.error_code
        call.events.extend(session.events)
        call.events.append(f"ended by {session.ended_by}")
        self.offset_s += session.duration_s
        self._finish("completed", session.duration_s)
        if params.get("Record", "").lower() == "true":
            self._record(answered_at, session.duration_s)

    def _base_fields(self, status: str) -> dict[str, str]:
        call = self.call
        fields = {
            "AccountSid": self.sim.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        for prefix in ("Called", "Caller", "From", "To"):
            fields |= _geography(prefix, call.to if prefix in ("Called", "To") else call.from_)
        return fields

    def _progress(self, event: str, status: str) -> None:
        self.call.status = status
        if event in self.events:
            self._status_callback(self._status_fields(status), final=False)

    def _finish(self, status: str, duration_s: int = 0) -> None:
        self.call.status, self.call.duration_s, self.call.ended_at = status, duration_s, self._at()
        if "completed" in self.events:
            fields = self._status_fields(status)
            fields["CallDuration"] = str(duration_s)
            fields["Duration"] = str(math.ceil(duration_s / 60))  # billed minutes
            fields["SipResponseCode"] = SIP_CODES[status]
            self._status_callback(fields, final=True)
        self._release_held()

    def _status_fields(self, status: str) -> dict[str, str]:
        fields = self._base_fields(status)
        fields["Timestamp"] = _rfc2822(self._at())
        fields["CallbackSource"] = "call-progress-events"
        fields["SequenceNumber"] = str(self.sequence)
        self.sequence += 1
        return fields

    def _status_callback(self, fields: Mapping[str, str], *, final: bool) -> None:
        url = self.params.get("StatusCallback")
        if not url:
            return
        token = _sid("", self.rng)
        # Twilio sends each callback as its own request: a progress one can arrive late.
        if not final and self.rng.random() < self.sim.reorder_rate:
            self.held.append((fields, token))
            self.call.events.append(f"holding back status {fields['CallStatus']}")
            return
        self._send_twice_maybe(
            "status", url, self.params.get("StatusCallbackMethod"), fields, token
        )
        self._release_held()

    def _release_held(self) -> None:
        url = self.params.get("StatusCallback", "")
        method = self.params.get("StatusCallbackMethod")
        held, self.held = self.held, []
        for fields, token in held:
            self._send_twice_maybe("status", url, method, fields, token)

    def _send_twice_maybe(
        self, kind: str, url: str, method: str | None, fields: Mapping[str, str], token: str
    ) -> None:
        self._deliver(kind, url, method or "POST", fields, token)
        if self.rng.random() < self.sim.duplicate_rate:
            self.call.events.append(f"delivering {kind} {fields.get('CallStatus', '')} again")
            self._deliver(kind, url, method or "POST", fields, token)

    def _fetch_twiml(self, method: str, url: str, extra: Mapping[str, str]) -> Fetched:
        self.fetches += 1
        kind = "voice" if self.fetches == 1 else "gather" if "Digits" in extra else "redirect"
        fields = self._base_fields("in-progress")
        amd = self.params.get("MachineDetection")
        if amd and self.params.get("AsyncAmd", "").lower() != "true":
            fields["AnsweredBy"] = self.persona.answered_by  # synchronous AMD
        return self._deliver(kind, url, method, fields | dict(extra), _sid("", self.rng))

    def _amd(self) -> None:
        params = self.params
        url = params.get("AsyncAmdStatusCallback")
        if not (params.get("MachineDetection") and params.get("AsyncAmd", "").lower() == "true"):
            return
        if url:
            fields = {
                "AccountSid": self.sim.account_sid,
                "CallSid": self.call.sid,
                "AnsweredBy": self.persona.answered_by,
                "MachineDetectionDuration": AMD_MS.get(self.persona.answered_by, "4100"),
            }
            method = params.get("AsyncAmdStatusCallbackMethod", "POST")
            self._deliver("amd", url, method, fields, _sid("", self.rng))

    def _record(self, answered_at: datetime, duration_s: int) -> None:
        sim, call, params = self.sim, self.call, self.params
        recording = SimRecording(
            sid=_sid("RE", self.rng),
            call_sid=call.sid,
            duration_s=duration_s,
            channels=2 if params.get("RecordingChannels") == "dual" else 1,
            started_at=answered_at,
            created_at=self._at(),
        )
        sim.keep(recording)
        call.recording_sid = recording.sid
        url = params.get("RecordingStatusCallback")
        events = params.getlist("RecordingStatusCallbackEvent") or ["completed"]
        if not url or "completed" not in " ".join(events).split():
            return
        fields = {
            "AccountSid": sim.account_sid,
            "CallSid": call.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": sim.recording_url(recording.sid),
            "RecordingStatus": "completed",
            "RecordingDuration": str(duration_s),
            "RecordingChannels": str(recording.channels),
            "RecordingSource": "OutboundAPI",
            "RecordingStartTime": _rfc2822(answered_at),
            "ErrorCode": "0",
        }
        method = params.get("RecordingStatusCallbackMethod")
        self._send_twice_maybe("recording", url, method, fields, _sid("", self.rng))

    def _deliver(
        self, kind: str, url: str, method: str, fields: Mapping[str, str], token: str
    ) -> Fetched:
        """Make one webhook request the way Twilio does: signed, with its timeouts and retry."""
        target, _, fragment = url.partition("#")
        # Connection overrides (#ct=..&rt=..&rc=..) are Twilio's; the fragment is never sent.
        overrides = dict(parse_qsl(fragment))
        connect_s = _int(overrides.get("ct"), 5000) / 1000
        read_s = _int(overrides.get("rt"), 15000) / 1000
        retries = _int(overrides.get("rc"), 1)
        method = method.upper()
        if method == "GET":
            query = urlencode(fields)
            target = f"{target}{'&' if urlsplit(target).query else '?'}{query}"
            prepared = requests.Request("GET", target).prepare()
            signed: Mapping[str, str] = {}
        else:
            prepared = requests.Request("POST", target, data=dict(fields)).prepare()
            signed = fields
        assert prepared.url is not None
        prepared.headers["X-Twilio-Signature"] = self.sim.validator.compute_signature(
            prepared.url, signed
        )
        prepared.headers["I-Twilio-Idempotency-Token"] = token
        prepared.headers["User-Agent"] = "TwilioProxy/1.1"
        prepared.headers["Accept"] = "*/*"
        for _ in range(1 + retries):
            try:
                response = self.http.send(prepared, timeout=(connect_s, read_s))
            except requests.ConnectionError as exc:  # not connected: Twilio retries
                self._log(kind, method, prepared.url, fields, None, error=repr(exc))
                continue
            except requests.RequestException as exc:  # read timeout and kin: no retry
                self._log(kind, method, prepared.url, fields, None, error=repr(exc))
                return Fetched(None)
            self._log(kind, method, prepared.url, fields, response.status_code, response.text)
            return Fetched(response.status_code, response.text)
        return Fetched(None)

    def _log(
        self,
        kind: str,
        method: str,
        url: str,
        fields: Mapping[str, str],
        status: int | None,
        body: str = "",
        error: str = "",
    ) -> None:
        exchange = Exchange(kind, method, url, dict(fields), status, body, error)
        self.call.http.append(exchange)
        if status is None or not 200 <= status < 300:
            self.call.events.append(f"{kind} webhook {url} answered {status or error}")


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _json(status: int, payload: Json) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(status: int, code: int, message: str) -> Response:
    """An error body the way Twilio's REST API writes it."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return _json(
        status, {"code": code, "message": message, "more_info": more_info, "status": status}
    )


def _not_found(request: Request) -> Response:
    return _error(404, 20404, f"The requested resource {request.path} was not found")


def _sid(prefix: str, rng: random.Random) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits (no prefix: a delivery token)."""
    return f"{prefix}{rng.getrandbits(128):032x}"


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _formatted(number: str) -> str:
    """Twilio's national format for NANP numbers, the number itself otherwise."""
    if re.fullmatch(r"\+1\d{10}", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def _geography(prefix: str, number: str) -> dict[str, str]:
    """Twilio's geographic fields; the simulator knows only the country."""
    country = next((c for code, c in COUNTRIES.items() if number.startswith(code)), "")
    return {
        f"{prefix}City": "",
        f"{prefix}State": "",
        f"{prefix}Zip": "",
        f"{prefix}Country": country,
    }
