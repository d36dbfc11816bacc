"""<Dial><Number> for the Twilio simulator: the child leg, the Dial's outcome, its recording.

A <Dial> places a second call (the child leg: direction outbound-dial, parent_call_sid set) to
the number it names. That number answers, or not, as its Persona says (pickups count per number,
creates and legs alike), and once answered talks for `Persona.talk_s`, then hangs up. Twilio's
rules, from its <Dial> reference:

- timeout (default 30 s, at least 5, at most 600) is how long it rings, and Twilio adds a 5 s
  buffer: an unanswered Dial ends no-answer after timeout + 5 s. timeLimit (default 14400 s)
  caps the bridged time.
- With `action`, the parent requests it (method, default POST) when the Dial ends, with the
  standard fields plus DialCallStatus, DialCallSid, DialCallDuration, DialBridged and, when the
  Dial records, RecordingUrl; the document that comes back takes over. Without it the verbs after
  <Dial> run. DialCallStatus is completed, busy, no-answer or failed here: `answered` is only
  for a conference, `canceled` only for a REST cancel before the answer.
- record: do-not-record (default), record-from-answer, record-from-ringing and their -dual
  forms; true and false are aliases of record-from-answer and do-not-record. A dual recording
  has the parent in channel 1, the child in channel 2. The recordingStatusCallback (default
  event `completed`) carries AccountSid, CallSid (always the parent leg), RecordingSid,
  RecordingUrl, RecordingStatus, RecordingDuration, RecordingChannels, RecordingStartTime and
  RecordingSource=DialVerb. It is sent once the parent call is over, like the call's own
  recording: the recording is processed after the Dial's action request, never before it.
- <Number statusCallback> gets the leg's progress (statusCallbackEvent: initiated, ringing,
  answered, completed; default completed): the call fields of the leg, ParentCallSid, Timestamp,
  CallbackSource, SequenceNumber, and on completed CallDuration (and the Recording* fields when
  the Dial recorded). They are sent as the Dial runs, duplicated and held back out of order under
  the simulator's duplicate_rate and reorder_rate, like the parent's status callbacks.

Not simulated: several <Number>s ringing at once (only the first rings), <Number url> whispers,
sendDigits and machineDetection, <Client> / <Sip> / <Conference> / <Queue>, hangupOnStar,
answerOnBridge, and the in-progress and absent recording events.
"""

from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from werkzeug.datastructures import MultiDict

from ivr.telephony.sim_calls import SimCall, SimRecording
from ivr.telephony.sim_format import API_VERSION, geography, int_or, new_sid, rfc2822

if TYPE_CHECKING:
    from ivr.telephony.simulator import Simulator

DIAL_S = 1.0  # from initiated to ringing
RING_S = 4.0  # an answering callee picks up after this much ringing
BUSY_S = 2.0
TIMEOUT_BUFFER_S = 5.0  # Twilio's, added to every <Dial> timeout
DEFAULT_TIMEOUT_S, MIN_TIMEOUT_S, MAX_TIMEOUT_S = 30, 5, 600
DEFAULT_TIME_LIMIT_S = 14400
RECORD_ALIASES = {"true": "record-from-answer", "false": "do-not-record"}
RECORD_MODES = (
    "do-not-record",
    "record-from-answer",
    "record-from-ringing",
    "record-from-answer-dual",
    "record-from-ringing-dual",
)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
UNSUPPORTED_NOUNS = ("Client", "Sip", "Conference", "Queue", "Application", "WhatsApp")

# (kind, url, method, fields, idempotency token): CallRun's signed delivery, duplicates included
Send = Callable[[str, str, str | None, Mapping[str, str], str], None]


@dataclass(frozen=True)
class DialOutcome:
    """What a <Dial> did to the parent call: time spent, and what is requested next."""

    spent_s: float  # call time the Dial took: ringing plus bridged talk
    action: tuple[str, str] | None  # (url, method) to request; None: go on with the next verb
    fields: Mapping[str, str] = field(default_factory=dict)  # DialCallStatus and the rest
    events: Sequence[str] = ()


@dataclass(frozen=True)
class _Callback:
    url: str
    method: str
    fields: Mapping[str, str]


class Dialer:
    """Runs the <Dial>s of one call (the parent) and keeps their recordings' callbacks."""

    def __init__(
        self,
        sim: Simulator,
        parent: SimCall,
        rng: random.Random,
        answered_at: datetime,
        send: Send,
    ) -> None:
        self.sim, self.parent, self.rng, self.answered_at = sim, parent, rng, answered_at
        self.send = send
        self._callbacks: list[_Callback] = []

    def dial(self, verb: ET.Element, doc_url: str, at_s: float, left_s: float) -> DialOutcome:
        """Run one <Dial> starting at_s after the parent's answer, with left_s of its time left."""
        noun, number, events = _target(verb)
        if number is None:
            return DialOutcome(0.0, None, {}, [*events, "<Dial> with nothing to dial skipped"])
        timeout_s = min(
            MAX_TIMEOUT_S, max(MIN_TIMEOUT_S, int_or(verb.get("timeout"), DEFAULT_TIMEOUT_S))
        )
        time_limit_s = max(1, int_or(verb.get("timeLimit"), DEFAULT_TIME_LIMIT_S))
        record = verb.get("record", "do-not-record")
        record = RECORD_ALIASES.get(record, record)
        if record not in RECORD_MODES:
            events.append(f"record={record!r} is not Twilio's: not recorded")
            record = "do-not-record"
        leg, status, ring_s = self._place(number, verb.get("callerId"), at_s, timeout_s)
        talk_s = 0.0
        if status == "completed":
            persona = self.sim.personas(leg.to)
            talk_s = max(0.0, min(persona.talk_s, time_limit_s, left_s - ring_s))
        self._end(leg, status, at_s + ring_s, talk_s)
        events.append(
            f"dial {leg.to} ({leg.sid}): {status} after {ring_s:g} s ringing, {talk_s:g} s bridged"
        )
        fields = {
            "DialCallStatus": status,
            "DialCallSid": leg.sid,
            "DialCallDuration": str(leg.duration_s),
            "DialBridged": "true" if status == "completed" else "false",
        }
        recording = None
        if status == "completed" and record != "do-not-record":
            # Ringing starts once the leg is initiated; the answer, ring_s after the Dial began.
            start_s = at_s + (DIAL_S if "ringing" in record else ring_s)
            recording = self._record(verb, doc_url, record, start_s, at_s + ring_s + talk_s)
            fields["RecordingUrl"] = self.sim.recording_url(recording.sid)
            events.append(f"dial recording {recording.sid}: {recording.duration_s} s")
        if noun is not None and (noun.get("statusCallback") or "").strip():
            self._progress(noun, doc_url, leg, (at_s, ring_s, talk_s), recording)
        action = (verb.get("action") or "").strip()
        if not action:
            return DialOutcome(ring_s + talk_s, None, fields, events)
        method = verb.get("method", "POST").upper()
        target = (urljoin(doc_url, action), method if method in ("GET", "POST") else "POST")
        return DialOutcome(ring_s + talk_s, target, fields, events)

    def deliver(self) -> None:
        """Send the recordings' status callbacks (once the parent call is over)."""
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            token = new_sid("", self.rng)
            self.send("recording", callback.url, callback.method, callback.fields, token)

    def _progress(
        self,
        noun: ET.Element,
        doc_url: str,
        leg: SimCall,
        times: tuple[float, float, float],
        recording: SimRecording | None,
    ) -> None:
        """The leg's status callbacks, each stamped with the call time of its event."""
        at_s, ring_s, talk_s = times
        url = urljoin(doc_url, (noun.get("statusCallback") or "").strip())
        method = noun.get("statusCallbackMethod", "POST").upper()
        wanted = (noun.get("statusCallbackEvent") or "completed").split()
        steps = [("initiated", "initiated", at_s)]
        if leg.status != "failed":  # a number Twilio cannot route never rings
            steps.append(("ringing", "ringing", at_s + DIAL_S))
        if leg.status == "completed":
            steps.append(("answered", "in-progress", at_s + ring_s))
        steps.append(("completed", leg.status, at_s + ring_s + talk_s))
        held: list[tuple[dict[str, str], str]] = []
        sequence = 0
        for event, call_status, event_s in steps:
            if event not in wanted:
                continue
            fields = self._leg_fields(leg, call_status)
            fields |= {
                "Timestamp": rfc2822(self._at(event_s)),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(sequence),
            }
            sequence += 1
            if event == "completed":
                fields["CallDuration"] = str(leg.duration_s)
                if recording is not None:
                    fields["RecordingUrl"] = self.sim.recording_url(recording.sid)
                    fields["RecordingSid"] = recording.sid
                    fields["RecordingDuration"] = str(recording.duration_s)
            token = new_sid("", self.rng)
            # Separate requests, as Twilio makes them: a progress one may arrive after the end.
            if event != "completed" and self.rng.random() < self.sim.reorder_rate:
                held.append((fields, token))
                continue
            self.send("dial-status", url, method, fields, token)
        for fields, token in held:
            self.send("dial-status", url, method, fields, token)

    def _leg_fields(self, leg: SimCall, call_status: str) -> dict[str, str]:
        fields = {
            "AccountSid": self.sim.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": leg.sid,
            "CallStatus": call_status,
            "Called": leg.to,
            "Caller": leg.from_,
            "Direction": "outbound-dial",
            "From": leg.from_,
            "To": leg.to,
            "ParentCallSid": self.parent.sid,
        }
        for prefix in ("Called", "Caller", "From", "To"):
            fields |= geography(prefix, leg.to if prefix in ("Called", "To") else leg.from_)
        return fields

    def _at(self, at_s: float) -> datetime:
        return self.answered_at + timedelta(seconds=at_s)

    def _place(
        self, number: str, caller_id: str | None, at_s: float, timeout_s: int
    ) -> tuple[SimCall, str, float]:
        """Create the child leg; its status (as DialCallStatus) and how long it rang."""
        to = _e164(number)
        from_ = (caller_id or "").strip() or self.parent.from_
        started_at = self._at(at_s)
        params = MultiDict([("To", to or number), ("From", from_)])
        leg = SimCall(
            new_sid("CA", self.rng),
            to or number,
            from_,
            params,
            started_at,
            status="initiated",
            started_at=started_at,
            direction="outbound-dial",
            parent_sid=self.parent.sid,
        )
        pickup = self.sim.add_leg(leg)
        if to is None or self.sim.personas(leg.to).invalid_number:
            pickup = "failed"  # Twilio could not route it: a non-existent or malformed number
        if pickup == "failed":
            return leg, "failed", DIAL_S
        if pickup == "busy":
            return leg, "busy", DIAL_S + BUSY_S
        if pickup == "no-answer":
            return leg, "no-answer", DIAL_S + timeout_s + TIMEOUT_BUFFER_S
        return leg, "completed", DIAL_S + min(RING_S, timeout_s + TIMEOUT_BUFFER_S)

    def _end(self, leg: SimCall, status: str, answered_s: float, talk_s: float) -> None:
        # CallDuration counts from the answer, whole seconds, at least 1 once answered.
        leg.duration_s = max(1, math.ceil(talk_s - 1e-9)) if status == "completed" else 0
        leg.ended_at = self._at(answered_s + talk_s)
        leg.events.append(f"placed by the <Dial> of {self.parent.sid}; ended {status}")
        leg.status = status
        leg.done.set()

    def _record(
        self, verb: ET.Element, doc_url: str, record: str, start_s: float, end_s: float
    ) -> SimRecording:
        span_s = max(0.0, end_s - start_s)
        recording = SimRecording(
            sid=new_sid("RE", self.rng),
            call_sid=self.parent.sid,  # Twilio: always the parent leg of a two-leg call
            duration_s=math.ceil(span_s - 1e-9),
            channels=2 if record.endswith("-dual") else 1,
            started_at=self._at(start_s),
            created_at=self._at(end_s),
            span_s=span_s,
            source="DialVerb",
        )
        self.sim.keep(recording)
        url = (verb.get("recordingStatusCallback") or "").strip()
        events = (verb.get("recordingStatusCallbackEvent") or "completed").split()
        if url and "completed" in events:
            fields = {
                "AccountSid": self.sim.account_sid,
                "CallSid": self.parent.sid,
                "RecordingSid": recording.sid,
                "RecordingUrl": self.sim.recording_url(recording.sid),
                "RecordingStatus": "completed",
                "RecordingDuration": str(recording.duration_s),
                "RecordingChannels": str(recording.channels),
                "RecordingStartTime": rfc2822(recording.started_at),
                "RecordingSource": "DialVerb",
            }
            method = verb.get("recordingStatusCallbackMethod", "POST").upper()
            self._callbacks.append(_Callback(urljoin(doc_url, url), method, fields))
        return recording


def _target(verb: ET.Element) -> tuple[ET.Element | None, str | None, list[str]]:
    """What a <Dial> rings: its first <Number> (None: its text), the number, notes on the rest."""
    events: list[str] = []
    numbers = [child for child in verb if child.tag == "Number"]
    for child in verb:
        if child.tag in UNSUPPORTED_NOUNS:
            events.append(f"unsupported <{child.tag}> in <Dial> skipped")
    if len(numbers) > 1:
        events.append(f"{len(numbers)} <Number>s: only the first rings in the simulator")
    noun = numbers[0] if numbers else None
    text = (verb.text if noun is None else noun.text) or ""
    return noun, (text.strip() or None), events


def _e164(number: str) -> str | None:
    """The number in E.164; Twilio also takes unformatted US numbers such as 415-123-4567."""
    compact = re.sub(r"[\s().-]", "", number)
    if E164.match(compact):
        return compact
    if re.fullmatch(r"1?\d{10}", compact):
        return f"+1{compact[-10:]}"
    return None
