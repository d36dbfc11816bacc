"""What the Twilio simulator knows about calls: personas, calls, webhook exchanges, recordings."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from werkzeug.datastructures import MultiDict

from ivr.telephony.sim_media import PausedSpan

RECORDING_STATUSES = ("in-progress", "paused", "stopped")  # what a live recording can be set to
PAUSE_BEHAVIORS = ("silence", "skip")


@dataclass(frozen=True)
class Persona:
    """Who answers a number, and how they behave on the call."""

    pickups: Sequence[str] = ("answer",)  # per attempt: answer | no-answer | busy | failed
    keys: Sequence[str] = ()  # pressed at each <Gather> in order; "" = silence
    hangup_after_gathers: int | None = None  # hang up on reaching Gather N+1 (0 = the first)
    invalid_number: bool = False  # the create is refused with 21211
    # Who picks up, as AMD would tell: human | machine_start | machine_end_beep | fax ... A machine
    # (or fax) presses no keys; Enable reports any machine as machine_start, DetectMessageEnd as
    # machine_end_beep unless a machine_end_* is given here.
    answered_by: str = "human"
    sms: bool = True  # False: a landline or the like, text messages are refused with 21614
    sms_opted_out: bool = False  # replied STOP earlier: text messages are refused with 21610
    sms_delivery: str = "delivered"  # what a text accepted for them becomes: | undelivered | failed
    sms_error_code: int = 30003  # ErrorCode when undelivered or failed (unreachable handset)
    talk_s: float = 45.0  # dialled by a <Dial> and answering: talks this long, then hangs up


@dataclass(frozen=True)
class Exchange:
    """One webhook request the simulator made, and how it was answered."""

    kind: str  # voice | gather | redirect | dial | status | dial-status | amd | recording
    method: str
    url: str  # as requested (and signed), query string included
    form: Mapping[str, str]  # the parameters (in the body for POST, the query for GET)
    status: int | None  # None: no answer (connection failed or timed out)
    body: str = ""
    error: str = ""


@dataclass(frozen=True)
class RecordingUpdate:
    """A change of a call's recording made through the REST API while the call ran."""

    status: str  # paused | in-progress | stopped
    offset_s: float  # simulated seconds since the call started (the `initiated` Timestamp)
    pause_behavior: str = ""  # silence | skip, for a pause


@dataclass
class LiveRecording:
    """A call's recording while the call runs: what the REST API pauses, resumes or stops.

    Times are simulated seconds since the recording started (the call was answered).
    """

    sid: str = ""  # drawn when first needed, so calls that never touch it draw as before
    status: str = "in-progress"  # in-progress | paused | stopped
    stopped_at_s: float | None = None
    closed: list[PausedSpan] = field(default_factory=list)
    paused_at_s: float | None = None
    skip: bool = False

    def update(self, status: str, at_s: float, *, skip: bool = False) -> bool:
        """Move to status at at_s; False if it already was (Twilio answers it all the same)."""
        if status == self.status:
            return False
        if self.paused_at_s is not None:  # resumed or stopped while paused: the span ends
            self.closed.append(PausedSpan(self.paused_at_s, at_s, self.skip))
            self.paused_at_s = None
        if status == "paused":
            self.paused_at_s, self.skip = at_s, skip
        elif status == "stopped":
            self.stopped_at_s = at_s
        self.status = status
        return True

    def paused_spans(self, end_s: float) -> tuple[PausedSpan, ...]:
        """The paused spans of a recording that ended at end_s; a pause still open ends there."""
        spans = list(self.closed)
        if self.paused_at_s is not None:
            spans.append(PausedSpan(self.paused_at_s, end_s, self.skip))
        return tuple(
            PausedSpan(span.start_s, min(span.end_s, end_s), span.skip)
            for span in spans
            if span.start_s < end_s
        )


@dataclass
class SimRecording:
    """A call recording held by the simulator until deleted."""

    sid: str
    call_sid: str
    duration_s: int  # RecordingDuration: what was kept (a skipped pause is not)
    channels: int
    started_at: datetime
    created_at: datetime
    span_s: float  # how long the recording ran, paused time included
    paused: tuple[PausedSpan, ...] = ()
    media_requests: int = 0
    source: str = "OutboundAPI"  # RecordingSource: OutboundAPI (calls.create) | DialVerb


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
    recording_updates: list[RecordingUpdate] = field(default_factory=list)
    error_code: int | None = None
    done: threading.Event = field(default_factory=threading.Event)
    direction: str = "outbound-api"  # outbound-dial for the leg a <Dial> places
    parent_sid: str | None = None  # the call whose <Dial> placed this one

    def requests_of(self, kind: str) -> list[Exchange]:
        """The webhook requests of one kind, in the order they were made."""
        return [exchange for exchange in self.http if exchange.kind == kind]
