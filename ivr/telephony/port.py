"""The telephony port: what the product needs from a voice and SMS provider, nothing more.

Exceptions::

    TelephonyError            provider said no or could not be reached
        permanent=True        never retry: this number cannot get this channel (a bad number for
                              calls; for SMS also a landline or a recipient who replied STOP)
        maybe_placed=True     the call or message may exist anyway (a 5xx or timeout after the
                              create): do not send it again blindly
        RecordingNotLiveError the call has ended or records nothing now: nothing to pause/resume
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CallRequest:
    """One outbound call as the dispatcher asks for it."""

    attempt_id: int
    to: str  # E.164
    from_: str  # E.164 caller id
    voice_url: str
    status_callback_url: str
    recording_callback_url: str
    amd_callback_url: str
    record: bool = True
    ring_timeout_s: int = 30
    time_limit_s: int = 600


@dataclass(frozen=True)
class PlacedCall:
    """The provider's answer to a create."""

    call_sid: str
    status: str  # the provider's CallStatus, usually "queued"


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
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.permanent = permanent
        self.maybe_placed = maybe_placed


class RecordingNotLiveError(TelephonyError):
    """The call has ended, or has no recording running, so its recording cannot be changed."""


class Telephony(Protocol):
    """A provider that places calls, sends text messages and hands over recordings."""

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Ask the provider to place a call; raise TelephonyError if it refuses."""
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
