"""The telephony port: what the product needs from a voice and SMS provider, nothing more.

Exceptions::

    TelephonyError            provider said no or could not be reached
        permanent=True        never retry: this number cannot get this channel (a bad number for
                              calls; for SMS also a landline or a recipient who replied STOP)
        maybe_placed=True     the call or message may exist anyway (a 5xx or timeout after the
                              create): do not send it again blindly; find_call tells
        unavailable=True      the provider could not be reached and nothing was sent (refused
                              connection, DNS failure, connect timeout): safe to try again later,
                              and the dialler should pause rather than fail case after case
        RecordingNotLiveError the call has ended or records nothing now: nothing to pause/resume
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# AnsweredBy values that mean no person picked up (Twilio's AMD; "unknown" is not one of them:
# AMD could not tell, and a person who keeps silent is still a person).
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)


def is_machine(answered_by: str | None) -> bool:
    """Tell whether an AMD result means a machine (or a fax) answered, not a person."""
    return answered_by in MACHINE_ANSWERS


@dataclass(frozen=True)
class CallRequest:
    """One outbound call as the dispatcher (or an agent's callback) asks for it."""

    attempt_id: int | None  # None: not an automated attempt (an agent's callback, callback_id)
    to: str  # E.164
    from_: str  # E.164 caller id
    voice_url: str
    status_callback_url: str
    recording_callback_url: str | None  # None: no recording callback is asked for
    amd_callback_url: str | None  # None: no answering-machine detection
    record: bool = True
    ring_timeout_s: int = 30
    time_limit_s: int = 600
    # False: AMD answers as soon as it can tell (machine_start), and the call is hung up. True:
    # it waits for the greeting to end (machine_end_beep) so that a message can be left.
    detect_message_end: bool = False
    callback_id: int | None = None  # the agent's callback this call rings the agent for


@dataclass(frozen=True)
class PlacedCall:
    """The provider's answer to a create."""

    call_sid: str
    status: str  # the provider's CallStatus, usually "queued"
    # The provider's estimate of how long the call waits in its queue before it is dialled
    # (calls over the account's calls-per-second rate are queued, for up to 24 h, not refused).
    queue_time_s: float | None = None


@dataclass(frozen=True)
class ProviderCall:
    """A call as the provider knows it: what reconciling an attempt needs."""

    call_sid: str
    status: str  # queued | initiated | ringing | in-progress | completed | busy | no-answer | ...
    created_at: datetime
    started_at: datetime | None = None  # None while queued: it has not been dialled yet
    ended_at: datetime | None = None
    duration_s: int | None = None
    answered_by: str | None = None

    @property
    def final(self) -> bool:
        """True once the call is over: its status will not change again."""
        return self.status in FINAL_CALL_STATUSES


FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class SmsRequest:
    """One outbound text message (the fallback when a case cannot be reached by phone)."""

    to: str  # E.164
    from_: str  # E.164 sender, or a Messaging Service SID (MG...) that picks one
    body: str
    status_callback_url: str | None = None  # delivery reports (sent, delivered, undelivered)


@dataclass(frozen=True)
class SentMessage:
    """The provider's answer to a message create: accepted, not yet delivered."""

    message_sid: str  # SM...
    status: str  # the provider's initial status: "queued" ("accepted" via a Messaging Service)


class TelephonyError(Exception):
    """The provider refused or failed a request."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        permanent: bool = False,
        maybe_placed: bool = False,
        unavailable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.permanent = permanent
        self.maybe_placed = maybe_placed
        self.unavailable = unavailable


class RecordingNotLiveError(TelephonyError):
    """The call has ended, or has no recording running, so its recording cannot be changed."""


class Telephony(Protocol):
    """A provider that places calls, sends text messages and hands over recordings."""

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Ask the provider to place a call; raise TelephonyError if it refuses."""
        ...

    def find_call(
        self, request: CallRequest, since: datetime, *, taken: Collection[str] = ()
    ) -> ProviderCall | None:
        """The call this request created at or after since, or None if there is none.

        What to do after a create answered maybe_placed: look before dialling again. Calls in
        `taken` belong to other attempts to the same number and are never the answer.
        """
        ...

    def fetch_call(self, call_sid: str) -> ProviderCall:
        """The call as the provider knows it now; TelephonyError(http_status=404) if unknown."""
        ...

    def send_sms(self, request: SmsRequest) -> SentMessage:
        """Ask the provider to send a text message; raise TelephonyError if it refuses.

        permanent=True: this number can never get one (invalid, not a mobile, unsubscribed).
        maybe_placed=True: the answer was lost after sending, so the message may go out anyway.
        Delivery itself is reported later, to status_callback_url.
        """
        ...

    def download_recording(self, media_url: str) -> tuple[bytes, str]:
        """Return the recording's bytes and content type; TelephonyError if not ready (404)."""
        ...

    def delete_recording(self, recording_sid: str) -> None:
        """Delete the provider's copy; a copy already gone is not an error."""
        ...

    def pause_recording(self, call_sid: str) -> None:
        """Pause the call's running recording; the paused span is kept as silence.

        Raise RecordingNotLiveError if the call has ended or records nothing (safe to ignore:
        nothing is being recorded), TelephonyError for any other failure (the recording may
        still be running).
        """
        ...

    def resume_recording(self, call_sid: str) -> None:
        """Resume the call's paused recording; errors as for pause_recording."""
        ...
