"""One simulated call's life on a worker thread: progress, TwiML, AMD, recording, callbacks.

The recording starts when the call is answered and can be paused, resumed or stopped from the
REST API while the call runs (`update_recording`). Those requests come from another thread, in
practice from a webhook handler while this call waits for that webhook's answer; the moment they
take effect is the call time the TwiML runner has reached, so a pause requested while answering
a Gather's action covers exactly what the next document makes the callee hear and press.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from ivr.telephony.sim_calls import (
    Exchange,
    LiveRecording,
    Persona,
    RecordingUpdate,
    SimCall,
    SimRecording,
)
from ivr.telephony.sim_dial import Dialer
from ivr.telephony.sim_format import API_VERSION, geography, int_or, new_sid, rfc2822
from ivr.telephony.sim_twiml import Callee, Fetched, TwimlRunner

if TYPE_CHECKING:
    from ivr.telephony.simulator import Simulator

RING_S = 4.0  # an answering callee picks up after this much ringing
DIAL_S = 1.0  # from initiated to ringing
BUSY_S = 2.0
SIP_CODES = {"completed": "200", "busy": "486", "no-answer": "487", "failed": "503"}
# MachineDetectionDuration (ms): a person says "hello?" and stops; a machine is told by its long
# greeting, and with DetectMessageEnd only once the greeting has ended. Async AMD listens from the
# answer while the voice URL's TwiML plays, so its callback is sent at this call time.
AMD_MS = {"human": "2400", "machine_start": "3600", "fax": "2800"}
GREETING_MS = "11800"  # machine_end_*: a voicemail greeting, up to its beep
CURRENT_RECORDING = "Twilio.CURRENT"  # the REST API's name for a call's active recording


class CallRun:
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
        # The REST API's threads read and change the live recording; this lock keeps them and
        # the call's own thread from seeing it half changed (never held across a request).
        self.lock = threading.Lock()
        self.runner: TwimlRunner | None = None
        self.live: LiveRecording | None = None
        self.answered_offset_s = 0.0

    def update_recording(
        self, sid: str, status: str, pause_behavior: str = "silence"
    ) -> LiveRecording | None:
        """Set the running recording (its sid or Twilio.CURRENT) to status; None if none runs."""
        with self.lock:
            live, runner = self.live, self.runner
            if live is None or runner is None or live.status == "stopped":
                return None
            if sid not in (CURRENT_RECORDING, self._live_sid(live)):
                return None
            # The call's time is where the runner has got to: a webhook handler that makes this
            # request holds the runner waiting for its answer, so the moment is exact.
            at_s = runner.session.elapsed_s
            if live.update(status, at_s, skip=pause_behavior == "skip"):
                offset_s = self.answered_offset_s + at_s
                behavior = pause_behavior if status == "paused" else ""
                self.call.recording_updates.append(RecordingUpdate(status, offset_s, behavior))
                word = {"in-progress": "resumed"}.get(status, status)
                detail = f" ({behavior})" if behavior else ""
                runner.session.events.append(f"recording {word}{detail} at {offset_s:.2f} s")
            return replace(live, closed=list(live.closed))

    def answered_at(self) -> datetime:
        """When the call was answered, so when its recording started."""
        return self.started_at + timedelta(seconds=self.answered_offset_s)

    def _live_sid(self, live: LiveRecording) -> str:
        # Drawn on first use (call lock held), so that calls whose recording is never addressed
        # during the call draw their random numbers exactly as before.
        if not live.sid:
            live.sid = new_sid("RE", self.rng)
        return live.sid

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
        ring_timeout = min(600, int_or(params.get("Timeout"), 60))
        if self.pickup == "busy":
            self.offset_s += BUSY_S
            return self._finish("busy")
        if self.pickup == "no-answer":
            self.offset_s += ring_timeout
            return self._finish("no-answer")
        self.offset_s += min(RING_S, ring_timeout)
        answered_at = self._at()
        self.answered_offset_s = self.offset_s
        if params.get("MachineDetection") in ("Enable", "DetectMessageEnd"):
            call.answered_by = self._answered_by()
        self._progress("answered", "in-progress")
        # A machine presses no keys, whatever the persona lists: it only records.
        machine = machine_answer(self.persona.answered_by)
        keys = () if machine else self.persona.keys
        callee = Callee(keys, None if machine else self.persona.hangup_after_gathers)
        dialer = Dialer(self.sim, call, self.rng, answered_at, self._send_twice_maybe)
        runner = TwimlRunner(
            self._fetch_twiml,
            callee,
            time_limit_s=int_or(params.get("TimeLimit"), 14400),
            at=self._amd_at(),
            dial=dialer.dial,
        )
        with self.lock:
            self.runner = runner
            if params.get("Record", "").lower() == "true":
                self.live = LiveRecording()  # Record=true records from answer to hang-up
        session = runner.run(params["Url"], params.get("Method", "POST"))
        with self.lock:  # hung up: from now on the REST API finds no live recording
            live, self.live = self.live, None
        call.pressed, call.said, call.error_code = session.pressed, session.said, session.error_code
        call.events.extend(session.events)
        call.events.append(f"ended by {session.ended_by}")
        self.offset_s += session.duration_s
        self._finish("completed", session.duration_s)
        if live is not None:
            self._record(live, answered_at, session.duration_s)
        dialer.deliver()

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
            fields |= geography(prefix, call.to if prefix in ("Called", "To") else call.from_)
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
        fields["Timestamp"] = rfc2822(self._at())
        fields["CallbackSource"] = "call-progress-events"
        fields["SequenceNumber"] = str(self.sequence)
        self.sequence += 1
        return fields

    def _status_callback(self, fields: Mapping[str, str], *, final: bool) -> None:
        url = self.params.get("StatusCallback")
        if not url:
            return
        token = new_sid("", self.rng)
        if self.sim.fault_rate and self.rng.random() < self.sim.fault_rate:
            # Lost on the way (Twilio does not retry a status callback that timed out): the
            # final state must then come from the reconciler asking the provider.
            self.call.events.append(f"losing status {fields['CallStatus']}")
            return
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
        kind = "dial" if "DialCallStatus" in extra else kind
        fields = self._base_fields("in-progress")
        amd = self.params.get("MachineDetection")
        if amd and self.params.get("AsyncAmd", "").lower() != "true":
            fields["AnsweredBy"] = self._answered_by()  # synchronous AMD
        return self._deliver(kind, url, method, fields | dict(extra), new_sid("", self.rng))

    def _amd_at(self) -> tuple[float, Callable[[], None]] | None:
        """When (seconds after the answer) and how the async AMD callback is sent, if it is."""
        params = self.params
        url = params.get("AsyncAmdStatusCallback")
        if not (params.get("MachineDetection") and params.get("AsyncAmd", "").lower() == "true"):
            return None
        if not url:
            return None
        answered_by = self._answered_by()
        duration_ms = GREETING_MS if answered_by.startswith("machine_end") else None
        fields = {
            "AccountSid": self.sim.account_sid,
            "CallSid": self.call.sid,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": duration_ms or AMD_MS.get(answered_by, "4100"),
        }
        method = params.get("AsyncAmdStatusCallbackMethod", "POST")

        def send() -> None:
            self._deliver("amd", url, method, fields, new_sid("", self.rng))

        return int(fields["MachineDetectionDuration"]) / 1000, send

    def _answered_by(self) -> str:
        """AnsweredBy as Twilio reports it for this persona under this MachineDetection mode."""
        own = self.persona.answered_by
        if not machine_answer(own) or own == "fax":
            return own
        if self.params.get("MachineDetection") == "DetectMessageEnd":
            # It waits for the end of the greeting: a beep, silence, or something else.
            return own if own.startswith("machine_end") else "machine_end_beep"
        return "machine_start"  # Enable answers as soon as it hears a machine

    def _record(self, live: LiveRecording, answered_at: datetime, call_s: int) -> None:
        sim, call, params = self.sim, self.call, self.params
        span_s = float(call_s) if live.stopped_at_s is None else live.stopped_at_s
        paused = live.paused_spans(span_s)
        kept_s = span_s - sum(span.end_s - span.start_s for span in paused if span.skip)
        duration_s = math.ceil(kept_s - 1e-9)  # whole seconds, as CallDuration
        recording = SimRecording(
            sid=self._live_sid(live),
            call_sid=call.sid,
            duration_s=duration_s,
            channels=2 if params.get("RecordingChannels") == "dual" else 1,
            started_at=answered_at,
            created_at=self._at(),
            span_s=span_s,
            paused=paused,
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
            "RecordingStartTime": rfc2822(answered_at),
            "ErrorCode": "0",
        }
        method = params.get("RecordingStatusCallbackMethod")
        self._send_twice_maybe("recording", url, method, fields, new_sid("", self.rng))

    def _deliver(
        self, kind: str, url: str, method: str, fields: Mapping[str, str], token: str
    ) -> Fetched:
        """Make one webhook request the way Twilio does: signed, with its timeouts and retry."""
        target, _, fragment = url.partition("#")
        # Connection overrides (#ct=..&rt=..&rc=..) are Twilio's; the fragment is never sent.
        overrides = dict(parse_qsl(fragment))
        connect_s = int_or(overrides.get("ct"), 5000) / 1000
        read_s = int_or(overrides.get("rt"), 15000) / 1000
        retries = int_or(overrides.get("rc"), 1)
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


def machine_answer(answered_by: str) -> bool:
    """Tell whether a persona's AnsweredBy is a machine or a fax (neither presses keys)."""
    return answered_by.startswith("machine") or answered_by == "fax"
