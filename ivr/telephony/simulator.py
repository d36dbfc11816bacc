"""A local Twilio: the REST subset the product uses, and the webhooks Twilio would send.

The product's real Twilio adapter places calls against it (the twilio library with its base URL
pointed here) and the product's real webhooks receive form-encoded, signed requests exactly as
Twilio sends them. Who answers and what they press comes from a `Persona` per dialled number.

Served (HTTP basic auth AccountSid:AuthToken, else 401 / 20003):
    POST   /2010-04-01/Accounts/{AC}/Calls.json                 create a call (201, queued)
    GET    /2010-04-01/Accounts/{AC}/Calls.json                 list calls: To, From, Status,
           ParentCallSid, StartTime[<>], EndTime[<>], PageSize, Page; Twilio's paging
           envelope (sim_list). A <Dial> in the TwiML places a listed child call (sim_dial)
    GET    /2010-04-01/Accounts/{AC}/Calls/{CA}.json            the call resource
    POST   /2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings/{RE}.json
           Status=paused|in-progress|stopped [PauseBehavior=silence|skip]; {RE} may be
           Twilio.CURRENT. 200 with the recording; 404 / 20404 when the call is unknown, over,
           or records nothing; 400 / 20001 for another Status or PauseBehavior
    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}[.wav]      media (audio/x-wav)
    GET    /2010-04-01/Accounts/{AC}/Recordings/{RE}.json       recording metadata
    DELETE /2010-04-01/Accounts/{AC}/Recordings/{RE}.json       204
    POST   /2010-04-01/Accounts/{AC}/Messages.json              send a text (201, queued or
           accepted); 400 with Twilio's code for a number that cannot get one (sim_messages)
    GET    /2010-04-01/Accounts/{AC}/Messages/{SM}.json         the message resource

A contact's text to our number: `send_reply` posts Twilio's signed incoming-message webhook to
`sms_url` (the number's SmsUrl) and returns the TwiML answer (sim_messages).

Faults for tests: `fail_creates` makes the next creates answer 429 unprocessed, or be processed
(the callee IS rung) and then answered 500 or not answered in time; `stop_serving` and
`serve_again` take the REST API (and nothing else) away and bring it back on the same port.
`queue_time_ms` is reported on every call, as Twilio reports its CPS queue.

Time is simulated: fields such as Timestamp are `clock()` at the call's start plus computed
offsets (ringing, prompts, gathers); nothing sleeps. A recording paused through the REST API is
silent in its media from the call time of the pause to that of the resume (with skip, that time
is cut out); `SimCall.recording_updates` and `SimCall.events` show when. Randomness (sids,
duplicated and reordered callbacks) comes from the seed, split into one generator per call in
creation order, so that a run repeats whatever order the worker threads take.
"""

from __future__ import annotations

import hmac
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ivr.telephony.sim_call_run import CallRun
from ivr.telephony.sim_calls import (
    Exchange,
    Persona,
    RecordingUpdate,
    SimCall,
    SimRecording,
)
from ivr.telephony.sim_format import (
    API_VERSION,
    Json,
    error_response,
    json_response,
    new_sid,
    not_found,
)
from ivr.telephony.sim_list import ListQueryError, call_resource, page_of, select_calls
from ivr.telephony.sim_messages import (
    InboundReply,
    MessageRun,
    SimMessage,
    deliver_inbound,
    inbound_fields,
    message_resource,
    new_message,
    refusal,
)
from ivr.telephony.sim_recordings import RecordingEndpoints

__all__ = [
    "Exchange",
    "InboundReply",
    "Persona",
    "RecordingUpdate",
    "SimCall",
    "SimMessage",
    "SimRecording",
    "Simulator",
]

ACCOUNT = f"/{API_VERSION}/Accounts/<account>"
PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
# throttle: 429, nothing done. error-after-create / timeout-after-create: the call is placed (the
# callee is rung), then the answer is a 500, or comes only after the client has stopped waiting.
CREATE_FAULTS = ("throttle", "error-after-create", "timeout-after-create")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class Simulator(RecordingEndpoints):
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
        fault_rate: float = 0.0,
        media_not_ready: int = 0,
        seed: int = 0,
        queue_time_ms: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        sms_url: str = "",
    ) -> None:
        self.account_sid = account_sid
        # Our number's incoming-message URL (its SmsUrl): where send_reply posts a contact's text.
        self.sms_url = sms_url
        self.auth_token = auth_token
        self.personas = personas
        self.duplicate_rate = duplicate_rate
        self.reorder_rate = reorder_rate
        # Each create answers 429 or a 500 after placing the call, and each status callback is
        # lost on the way, with this probability (the soak test's injected faults).
        self.fault_rate = fault_rate
        self.media_not_ready = media_not_ready
        self.queue_time_ms = queue_time_ms
        self.calls: list[SimCall] = []
        self.messages: list[SimMessage] = []
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
        self._runs: dict[str, CallRun] = {}
        self._create_faults: list[tuple[str, float]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._urls = Map(
            [
                Rule(f"{ACCOUNT}/Calls.json", endpoint="create_call", methods=["POST"]),
                Rule(f"{ACCOUNT}/Calls.json", endpoint="list_calls", methods=["GET"]),
                Rule(f"{ACCOUNT}/Calls/<sid>.json", endpoint="fetch_call", methods=["GET"]),
                Rule(
                    f"{ACCOUNT}/Calls/<call_sid>/Recordings/<sid>.json",
                    endpoint="update_call_recording",
                    methods=["POST"],
                ),
                Rule(
                    f"{ACCOUNT}/Recordings/<name>", endpoint="recording", methods=["GET", "DELETE"]
                ),
                Rule(f"{ACCOUNT}/Messages.json", endpoint="create_message", methods=["POST"]),
                Rule(f"{ACCOUNT}/Messages/<sid>.json", endpoint="fetch_message", methods=["GET"]),
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
        self._serve(self._port)

    def _serve(self, port: int) -> None:
        self._server = make_server(
            self._host, port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll
            name="twilio-sim-http",
            daemon=True,
        )
        self._thread.start()

    def _close_server(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def stop_serving(self) -> int:
        """Take the REST API away (connections are refused); calls in progress go on.

        Returns the port, which serve_again binds again.
        """
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        port = self._server.server_port
        self._close_server()
        self._port = port
        return port

    def serve_again(self) -> None:
        """Serve the REST API again on the port it had before stop_serving."""
        self._serve(self._port)

    def fail_creates(self, fault: str, count: int = 1, *, hold_s: float = 2.0) -> None:
        """Make the next `count` call creates fail with `fault` (one of CREATE_FAULTS).

        hold_s: how long a timeout-after-create keeps its answer back (longer than the
        client's read timeout, so that the client gives up first).
        """
        if fault not in CREATE_FAULTS:
            raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(CREATE_FAULTS)}")
        with self._lock:
            self._create_faults.extend([(fault, hold_s)] * count)

    def stop(self) -> None:
        """Stop serving; calls not yet started are canceled."""
        self._close_server()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for call in self.calls:
                future = self._futures.get(call.sid)  # a <Dial> leg has none: its parent runs it
                if future is not None and future.cancelled():
                    call.status = "canceled"
                    call.done.set()
            for message in self.messages:
                if self._futures[message.sid].cancelled():
                    message.done.set()  # never reported: it stays in its initial status

    def drain(self, timeout: float = 60.0) -> None:
        """Block until every call and message created so far has finished, callbacks included."""
        deadline = time.monotonic() + timeout
        with self._lock:
            runs: list[SimCall | SimMessage] = [*self.calls, *self.messages]
        for run in runs:
            if not run.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{run.sid} still running after {timeout} s")

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

    def message(self, sid: str) -> SimMessage:
        """The message with this sid (KeyError if unknown)."""
        with self._lock:
            for message in self.messages:
                if message.sid == sid:
                    return message
        raise KeyError(sid)

    def send_reply(
        self, from_: str, body: str, *, to: str = "", message_sid: str = ""
    ) -> InboundReply:
        """A contact texts our number: the signed incoming-message webhook, posted to sms_url.

        ``to`` defaults to the number that last texted ``from_`` (the contact answers it);
        ``message_sid`` repeats an earlier message's sid, as Twilio's redelivery would.
        """
        if not self.sms_url:
            raise RuntimeError("set the simulator's sms_url (the number's SmsUrl) first")
        with self._lock:
            texted = [message.from_ for message in self.messages if message.to == from_]
            rng = random.Random(self._rng.getrandbits(64))
        if not to and not texted:
            raise ValueError("nothing was texted to that number: say which number it writes to")
        fields = inbound_fields(
            account_sid=self.account_sid,
            message_sid=message_sid or new_sid("SM", rng),
            from_=from_,
            to=to or texted[-1],
            body=body,
        )
        return deliver_inbound(self.validator, self.sms_url, fields, rng)

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

    def add_leg(self, leg: SimCall) -> str:
        """List the call a <Dial> placed; return how its callee picks up on this attempt."""
        pickups = self.personas(leg.to).pickups or ("answer",)
        with self._lock:
            # Legs count as attempts on their number, as creates do, so pickups apply per call.
            attempt = self._attempts.get(leg.to, 0)
            self._attempts[leg.to] = attempt + 1
            self.calls.append(leg)
        return pickups[min(attempt, len(pickups) - 1)]

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
                response = error_response(401, 20003, "Authenticate")
                response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            else:
                response = getattr(self, f"_{endpoint}")(request, **args)
        except HTTPException as exc:
            status = exc.code or 500
            response = error_response(status, 20000 + status, exc.description or "")
        except Exception as exc:  # a simulator bug answers like Twilio's 500, not a traceback
            response = error_response(500, 20500, f"Internal Server Error: {exc!r}")
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
            return error_response(400, 21201, "No 'To' number is specified")
        if not from_:
            return error_response(400, 21603, "A 'From' phone number is required.")
        if not url:
            return error_response(400, 21205, "Url parameter is required.")
        for name, code in (("Url", 21205), ("StatusCallback", 21609)):
            if form.get(name) and urlsplit(form[name]).scheme not in ("http", "https"):
                return error_response(400, code, f"{name} is not a valid URL: {form[name]}")
        bad = [
            event for event in form.getlist("StatusCallbackEvent") if event not in PROGRESS_EVENTS
        ]
        if bad:
            return error_response(400, 21626, f"Invalid 'StatusCallbackEvent': {' '.join(bad)}")
        if not E164.match(to) or self.personas(to).invalid_number:
            return error_response(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        with self._lock:
            fault, hold_s = self._create_faults.pop(0) if self._create_faults else ("", 0.0)
            if not fault and self.fault_rate and self._rng.random() < self.fault_rate:
                # Not timeout-after-create: it holds a thread for longer than the client waits.
                fault = self._rng.choice(("throttle", "error-after-create"))
        if fault == "throttle":
            return error_response(429, 20429, "Too Many Requests")
        response = self._place(form, to, from_)
        if fault == "error-after-create":
            # The call exists and rings; only its answer is lost (Twilio's ambiguous 500).
            return error_response(500, 20500, "Internal Server Error")
        if fault == "timeout-after-create":
            time.sleep(hold_s)
        return response

    def _place(self, form: Any, to: str, from_: str) -> Response:
        """Create the call and hand it to a worker; the 201 answer."""
        assert self._executor is not None
        persona = self.personas(to)
        created_at = self.now()
        with self._lock:
            # Each call draws from its own generator, seeded in creation order, so its faults
            # repeat run after run whatever order the worker threads happen to run in.
            call_rng = random.Random(self._rng.getrandbits(64))
            call = SimCall(new_sid("CA", call_rng), to, from_, form.copy(), created_at)
            attempt = self._attempts.get(to, 0)
            self._attempts[to] = attempt + 1
            self.calls.append(call)
            pickups = persona.pickups or ("answer",)
            pickup = pickups[min(attempt, len(pickups) - 1)]
            resource = self._call_resource(call)  # before the worker moves it on
            run = CallRun(self, call, persona, pickup, call_rng)
            self._runs[call.sid] = run
            self._futures[call.sid] = self._executor.submit(run.run)
        return json_response(201, resource)

    def _create_message(self, request: Request) -> Response:
        if self._executor is None:
            raise RuntimeError("the simulator is not started")
        form = request.form
        to = form.get("To", "").strip()
        persona = self.personas(to)
        refused = refusal(form, persona, e164=bool(E164.match(to)))
        if refused is not None:
            return refused
        created_at = self.now()
        with self._lock:
            # Its own generator, as for calls: sids and tokens repeat whatever the thread order.
            rng = random.Random(self._rng.getrandbits(64))
            message = new_message(form, created_at, rng)
            self.messages.append(message)
            resource = message_resource(self.account_sid, message)  # before the worker runs
            run = MessageRun(self, message, persona, rng)
            self._futures[message.sid] = self._executor.submit(run.run)
        return json_response(201, resource)

    def _fetch_message(self, request: Request, sid: str) -> Response:
        try:
            return json_response(200, message_resource(self.account_sid, self.message(sid)))
        except KeyError:
            return not_found(request)

    def _list_calls(self, request: Request) -> Response:
        with self._lock:
            calls = list(self.calls)
        try:
            chosen = select_calls(calls, request.args)
            payload = page_of(self.account_sid, chosen, request.args, self.queue_time_ms)
        except ListQueryError as exc:
            return error_response(400, 20001, str(exc))
        return json_response(200, payload)

    def _fetch_call(self, request: Request, sid: str) -> Response:
        try:
            return json_response(200, self._call_resource(self.call(sid)))
        except KeyError:
            return not_found(request)

    def _call_resource(self, call: SimCall) -> Json:
        return call_resource(self.account_sid, call, self.queue_time_ms)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
