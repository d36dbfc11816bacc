"""Twilio adapter for the telephony port: the one place Twilio's failures become TelephonyError.

Any endpoint that speaks Twilio's 2010-04-01 REST API works (a local simulator, SignalWire,
Somleng, ...): point ``api_base_url`` at it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from ivr.privacy import redact_phones
from ivr.telephony.port import (
    CallRequest,
    PlacedCall,
    RecordingNotLiveError,
    SentMessage,
    SmsRequest,
    TelephonyError,
)

T = TypeVar("T")

# Codes that mean this number cannot be called as given, so retrying the attempt changes nothing:
# 21211 invalid 'To' number, 21214 'To' cannot be reached, 21215 geo permissions forbid the
# destination, 21216 number blocked by Twilio, 21217 number does not appear valid, 21401 invalid
# phone number, 21610 recipient unsubscribed, 13223 not E.164, 13224 not a callable number.
PERMANENT_NUMBER_CODES = frozenset({13223, 13224, 21211, 21214, 21215, 21216, 21217, 21401, 21610})

# Codes that mean this number can never get a text message from us, so the SMS fallback should
# move on to the next channel (checked against twilio.com/docs/api/errors/<code>): 21211 invalid
# 'To' number, 21610 the recipient replied STOP (blocked until they send START), 21614 'To' is
# not a valid mobile number (a landline, say), 21635 'To' is a landline where Twilio does not try.
# Not here: 21401, 21606 and kin are about our own sender, which no retry of this case can fix.
PERMANENT_SMS_CODES = frozenset({21211, 21610, 21614, 21635})
# A From that starts with this is a Messaging Service, sent as MessagingServiceSid.
MESSAGING_SERVICE_PREFIX = "MG"

TOO_MANY_REQUESTS = 429
TOO_MANY_REQUESTS_CODE = 20429
BACKOFF_429_BASE_S = 1.0  # 1, 2, 4, 8 s with the default four retries
DOWNLOAD_RETRIES = 2
DOWNLOAD_BACKOFF_BASE_S = 0.5

# Recording updates are made from inside a webhook handler, and Twilio waits 15 s for a webhook's
# answer by default: two retries (1 + 2 s of backoff) still leave time to answer it.
RECORDING_UPDATE_429_RETRIES = 2
# The call's active recording, whatever its sid (Twilio's documented alias).
CURRENT_RECORDING = "Twilio.CURRENT"
# 21220 "Invalid call state": a realtime operation on a call that is no longer in progress.
CALL_NOT_IN_PROGRESS_CODE = 21220

CALL_PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
RECORDING_EVENTS = ("completed", "absent")

_TwilioError: TypeAlias = TwilioRestException | TwilioServiceException
_TWILIO_ERRORS = (TwilioRestException, TwilioServiceException)


@dataclass(frozen=True)
class _Kind:
    """How errors name one kind of create (a call or a message)."""

    noun: str
    done: str  # "placed" / "sent"
    refused: str  # "call this number"
    failed: str  # "place the call"
    permanent_codes: frozenset[int]


_CALL = _Kind("call", "placed", "call this number", "place the call", PERMANENT_NUMBER_CODES)
_MESSAGE = _Kind("message", "sent", "text this number", "send the message", PERMANENT_SMS_CODES)


class TwilioTelephony:
    """Places calls, sends texts and handles recordings through Twilio's REST API (or a mimic)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base_url: str = "https://api.twilio.com",
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        max_429_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if max_429_retries < 0:
            raise ValueError("max_429_retries must be zero or more")
        self._auth = (account_sid, auth_token)
        self._timeout = (connect_timeout, read_timeout)
        self._max_429_retries = max_429_retries
        self._sleep = sleep

        http_client = TwilioHttpClient(timeout=read_timeout)
        # The library's default is no timeout at all, and its constructor takes a single number
        # (it compares it with 0). requests wants (connect, read): a short connect timeout is what
        # tells "never sent" from "sent, answer lost", so set the pair after construction.
        http_client.timeout = self._timeout
        self._client = Client(account_sid, auth_token, http_client=http_client)
        # api_base_url is the whole truth: TWILIO_EDGE / TWILIO_REGION in the environment would
        # otherwise make the client rewrite its host (127.0.0.1 becomes 127.dublin.ie1.0.1).
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = api_base_url.rstrip("/")
        self._session = requests.Session()

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Ask Twilio to place the call; raise TelephonyError, never naming the number."""
        call = self._create(
            lambda: self._client.calls.create(
                to=request.to,
                from_=request.from_,
                url=request.voice_url,
                method="POST",
                status_callback=request.status_callback_url,
                status_callback_method="POST",
                # A list: the library sends one StatusCallbackEvent field per event. With
                # none, Twilio only reports `completed`.
                status_callback_event=list(CALL_PROGRESS_EVENTS),
                record=request.record,
                trim="do-not-trim",  # the default trims silence; evidence must not be cut
                recording_status_callback=request.recording_callback_url,
                recording_status_callback_method="POST",
                recording_status_callback_event=list(RECORDING_EVENTS),
                machine_detection="Enable",
                async_amd="true",
                async_amd_status_callback=request.amd_callback_url,
                async_amd_status_callback_method="POST",
                timeout=request.ring_timeout_s,
                time_limit=request.time_limit_s,
            ),
            _CALL,
            (request.to, request.from_),
        )
        return PlacedCall(call_sid=str(call.sid), status=str(call.status or "queued"))

    def send_sms(self, request: SmsRequest) -> SentMessage:
        """Ask Twilio to send a text message; raise TelephonyError, never naming the number."""
        sender: dict[str, str] = (
            {"messaging_service_sid": request.from_}
            if request.from_.startswith(MESSAGING_SERVICE_PREFIX)
            else {"from_": request.from_}
        )
        callback: dict[str, str] = (
            {"status_callback": request.status_callback_url} if request.status_callback_url else {}
        )
        message = self._create(
            lambda: self._client.messages.create(
                to=request.to, body=request.body, **sender, **callback
            ),
            _MESSAGE,
            (request.to, request.from_),
        )
        return SentMessage(message_sid=str(message.sid), status=str(message.status or "queued"))

    def _create(self, send: Callable[[], T], kind: _Kind, numbers: tuple[str, ...]) -> T:
        """Run a create (429s retried) and map every failure to TelephonyError."""
        noun = kind.noun
        try:
            created = self._retry_429(send)
        except _TWILIO_ERRORS as exc:
            # `from None`: the library's exception carries Twilio's message, number included.
            raise self._create_error(exc, kind, numbers) from None
        except requests.RequestException as exc:
            if _nothing_sent(exc):
                raise TelephonyError(
                    f"Twilio could not be reached, nothing was sent ({type(exc).__name__})"
                ) from exc
            # The request left: Twilio may have created it and the answer got lost.
            raise TelephonyError(
                f"Twilio's answer to the create was lost ({type(exc).__name__}); "
                f"the {noun} may have been {kind.done}",
                maybe_placed=True,
            ) from exc
        except json.JSONDecodeError:
            raise TelephonyError(
                "Twilio answered the create with a body that is not JSON; "
                f"the {noun} may have been {kind.done}",
                maybe_placed=True,
            ) from None
        if not getattr(created, "sid", None):
            raise TelephonyError(
                f"Twilio answered the create without a {noun} SID; "
                f"the {noun} may have been {kind.done}",
                maybe_placed=True,
            )
        return created

    def download_recording(self, media_url: str) -> tuple[bytes, str]:
        """Return the recording as WAV bytes and its content type; 404 means not ready yet."""
        url = _wav_url(media_url)
        response = self._get(url)
        status = response.status_code
        if status == 404:
            raise TelephonyError(
                f"recording media not ready yet (HTTP 404): {url}", http_status=404
            )
        if status == 401:
            raise TelephonyError(
                "Twilio refused the credentials for recording media (HTTP 401): check "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN belong to the account that made the call",
                http_status=401,
                permanent=True,
            )
        if not 200 <= status < 300:
            raise TelephonyError(
                f"recording download failed (HTTP {status}): {url}", http_status=status
            )
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return response.content, content_type

    def delete_recording(self, recording_sid: str) -> None:
        """Delete Twilio's copy of a recording; one already gone (404) counts as deleted."""
        try:
            self._retry_429(lambda: self._client.recordings(recording_sid).delete())
        except _TWILIO_ERRORS as exc:
            if exc.status == 404:
                return
            raise _twilio_error(exc, f"delete recording {recording_sid}", ()) from None
        except requests.RequestException as exc:
            raise TelephonyError(
                f"could not delete recording {recording_sid} ({type(exc).__name__})"
            ) from exc

    def pause_recording(self, call_sid: str) -> None:
        """Pause the call's active recording; the paused span stays in it as silence."""
        # silence, not skip: the kept audio still lasts as long as the call, so a listener (or a
        # dispute) sees where and for how long the recording was paused.
        self._update_recording(call_sid, "paused", pause_behavior="silence")

    def resume_recording(self, call_sid: str) -> None:
        """Resume the call's paused recording."""
        self._update_recording(call_sid, "in-progress")

    def _update_recording(self, call_sid: str, status: str, **fields: str) -> None:
        """POST Calls/{call_sid}/Recordings/Twilio.CURRENT.json with Status (and PauseBehavior)."""
        action = f"set the recording of call {call_sid} to {status}"
        recording = self._client.calls(call_sid).recordings(CURRENT_RECORDING)
        try:
            self._retry_429(
                lambda: recording.update(status=status, **fields),
                retries=min(self._max_429_retries, RECORDING_UPDATE_429_RETRIES),
            )
        except _TWILIO_ERRORS as exc:
            if exc.status == 404 or exc.code == CALL_NOT_IN_PROGRESS_CODE:
                error = _twilio_error(exc, action, ())
                raise RecordingNotLiveError(
                    str(error), code=exc.code, http_status=exc.status
                ) from None
            raise _twilio_error(exc, action, ()) from None
        except requests.RequestException as exc:
            raise TelephonyError(f"could not {action} ({type(exc).__name__})") from exc
        except json.JSONDecodeError:
            raise TelephonyError(f"could not {action}: the answer is not JSON") from None

    def _retry_429(self, send: Callable[[], T], *, retries: int | None = None) -> T:
        """Run a REST request, retrying Twilio's 429 with exponential backoff."""
        # A 429 is refused before any processing, so even a create is safe to repeat.
        limit = self._max_429_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return send()
            except _TWILIO_ERRORS as exc:
                if not _is_429(exc) or attempt >= limit:
                    raise
            self._sleep(BACKOFF_429_BASE_S * 2**attempt)
            attempt += 1

    def _create_error(
        self, exc: _TwilioError, kind: _Kind, numbers: Iterable[str]
    ) -> TelephonyError:
        """Map a refused create to TelephonyError: bad number, throttled, maybe done or other."""
        if exc.code in kind.permanent_codes:
            return _twilio_error(exc, kind.refused, numbers, permanent=True)
        if _is_429(exc):
            tries = self._max_429_retries + 1
            return TelephonyError(
                f"Twilio answered 429 (too many requests) {tries} times; "
                f"no {kind.noun} was {kind.done}",
                code=exc.code,
                http_status=exc.status,
            )
        if exc.status >= 500:
            # Do not retry: Twilio may have created it (rung the person, sent the text) first.
            return _twilio_error(exc, kind.failed, numbers, maybe_placed=True)
        return _twilio_error(exc, kind.failed, numbers)

    def _get(self, url: str) -> requests.Response:
        """GET with the account's credentials, retrying connection failures (GET is safe)."""
        attempt = 0
        while True:
            try:
                # requests drops the Authorization header if the media redirects to another host.
                return self._session.get(url, auth=self._auth, timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= DOWNLOAD_RETRIES:
                    raise TelephonyError(
                        f"recording download failed after {attempt + 1} tries "
                        f"({type(exc).__name__}): {url}"
                    ) from exc
            self._sleep(DOWNLOAD_BACKOFF_BASE_S * 2**attempt)
            attempt += 1


def _twilio_error(
    exc: _TwilioError,
    action: str,
    numbers: Iterable[str],
    *,
    permanent: bool = False,
    maybe_placed: bool = False,
) -> TelephonyError:
    """Build a TelephonyError from Twilio's error, with every phone number masked."""
    detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    return TelephonyError(
        f"Twilio refused to {action} (HTTP {exc.status}, code {exc.code}): "
        f"{redact_phones(str(detail), numbers)}",
        code=exc.code,
        http_status=exc.status,
        permanent=permanent,
        maybe_placed=maybe_placed,
    )


def _is_429(exc: _TwilioError) -> bool:
    """Tell whether Twilio refused the request as too many (never processed)."""
    return bool(exc.status == TOO_MANY_REQUESTS or exc.code == TOO_MANY_REQUESTS_CODE)


def _nothing_sent(exc: requests.RequestException) -> bool:
    """Tell whether the request failed while connecting, so Twilio never saw it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # Refused connections and DNS failures arrive as ConnectionError(MaxRetryError(reason=
    # NewConnectionError)), a ConnectTimeoutError subclass: urllib3's "server did not receive
    # the request". A dropped connection after sending is a ProtocolError instead.
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, ConnectTimeoutError)


def _wav_url(media_url: str) -> str:
    """Return the WAV URL for a RecordingUrl, which comes without an extension."""
    for extension in (".wav", ".mp3"):
        if media_url.endswith(extension):
            media_url = media_url.removesuffix(extension)
    return media_url + ".wav"
