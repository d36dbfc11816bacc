"""Twilio adapter for the telephony port: the one place Twilio's failures become TelephonyError.

Any endpoint that speaks Twilio's 2010-04-01 REST API works (a local simulator, SignalWire,
Telnyx TeXML, Somleng, ...): point ``api_base_url`` at it.

Retries, by what is safe: a 429 is never processed, so any request (a create included) is
repeated after an exponential backoff with full jitter, a bounded number of times. A GET is
always safe, so it is also repeated after a 5xx or a lost connection. A create that got a 5xx or
lost its answer after sending is never repeated: it is reported maybe_placed, for find_call.
Every HTTP request (creates, GETs, media, deletes, recording updates) takes one of
``max_in_flight`` slots first, since Twilio answers 429 to too many concurrent requests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import requests
from twilio.rest import Client

from ivr.telephony.port import (
    CallRequest,
    PlacedCall,
    ProviderCall,
    RecordingNotLiveError,
    SentMessage,
    SmsRequest,
    TelephonyError,
)
from ivr.telephony.twilio_calls import list_queries, parse_call, parse_queue_time, pick_call
from ivr.telephony.twilio_errors import (
    CALL,
    MESSAGE,
    TWILIO_ERRORS,
    Kind,
    TwilioError,
    full_jitter,
    is_429,
    nothing_sent,
    twilio_error,
)
from ivr.telephony.twilio_http import CappedHttpClient, RestSession

log = logging.getLogger(__name__)

T = TypeVar("T")

API_VERSION = "2010-04-01"
# A From that starts with this is a Messaging Service, sent as MessagingServiceSid.
MESSAGING_SERVICE_PREFIX = "MG"

BACKOFF_429_BASE_S = 1.0  # ceilings of 1, 2, 4, 8 s with the default four retries
QUEUE_TIME_WARNING_S = 1.0  # a queued call may start after its calling window has closed
LIST_PAGE_SIZE = 50
MAX_LIST_PAGES = 10  # calls to one number from one caller id since one day: a few, not pages

# Recording updates are made from inside a webhook handler, and Twilio waits 15 s for a webhook's
# answer by default: two retries (ceilings of 1 + 2 s) still leave time to answer it.
RECORDING_UPDATE_429_RETRIES = 2
# The call's active recording, whatever its sid (Twilio's documented alias).
CURRENT_RECORDING = "Twilio.CURRENT"
# 21220 "Invalid call state": a realtime operation on a call that is no longer in progress.
CALL_NOT_IN_PROGRESS_CODE = 21220

CALL_PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
RECORDING_EVENTS = ("completed", "absent")


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
        max_in_flight: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
        if max_429_retries < 0:
            raise ValueError("max_429_retries must be zero or more")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        timeout = (connect_timeout, read_timeout)
        self._max_429_retries = max_429_retries
        self._base_url = api_base_url.rstrip("/")
        self._calls_url = f"{self._base_url}/{API_VERSION}/Accounts/{account_sid}/Calls"
        # One cap for the library's requests and ours: it is the account's concurrency we spare.
        slots = threading.BoundedSemaphore(max_in_flight)
        self._http = RestSession(
            auth=(account_sid, auth_token), timeout=timeout, slots=slots, sleep=sleep, jitter=jitter
        )

        http_client = CappedHttpClient(slots, timeout=read_timeout)
        # The library's default is no timeout at all, and its constructor takes a single number
        # (it compares it with 0). requests wants (connect, read): a short connect timeout is what
        # tells "never sent" from "sent, answer lost", so set the pair after construction.
        http_client.timeout = timeout
        self._client = Client(account_sid, auth_token, http_client=http_client)
        # api_base_url is the whole truth: TWILIO_EDGE / TWILIO_REGION in the environment would
        # otherwise make the client rewrite its host (127.0.0.1 becomes 127.dublin.ie1.0.1).
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = self._base_url

    # -- calls ----------------------------------------------------------------------------------

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Ask Twilio to place the call; raise TelephonyError, never naming the number."""
        # An agent's callback leg asks for neither: its recording comes from the <Dial>, and
        # AMD would only delay the agent hearing the prompt.
        recording: dict[str, Any] = (
            {}
            if request.recording_callback_url is None
            else {
                "recording_status_callback": request.recording_callback_url,
                "recording_status_callback_method": "POST",
                "recording_status_callback_event": list(RECORDING_EVENTS),
            }
        )
        amd: dict[str, Any] = (
            {}
            if request.amd_callback_url is None
            else {
                # DetectMessageEnd waits for the greeting's beep, so a message said after it
                # lands on the voicemail; Enable tells sooner, for a plain hang-up.
                "machine_detection": "DetectMessageEnd" if request.detect_message_end else "Enable",
                "async_amd": "true",
                "async_amd_status_callback": request.amd_callback_url,
                "async_amd_status_callback_method": "POST",
            }
        )
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
                **recording,
                **amd,
                timeout=request.ring_timeout_s,
                time_limit=request.time_limit_s,
            ),
            CALL,
            (request.to, request.from_),
        )
        queue_time_s = parse_queue_time(getattr(call, "queue_time", None))
        if queue_time_s is not None and queue_time_s > QUEUE_TIME_WARNING_S:
            # Over the account's calls-per-second rate Twilio queues rather than refuses: this
            # call rings later than planned, perhaps after its calling window has closed.
            log.warning(
                "call queued by the provider for %.1f s",
                queue_time_s,
                extra={
                    "action": "call.queued_long",
                    "attempt_id": request.attempt_id,
                    "callback_id": request.callback_id,
                    "queue_time_s": queue_time_s,
                },
            )
        return PlacedCall(
            call_sid=str(call.sid),
            status=str(call.status or "queued"),
            queue_time_s=queue_time_s,
        )

    def find_call(
        self, request: CallRequest, since: datetime, *, taken: Collection[str] = ()
    ) -> ProviderCall | None:
        """The call this request created at or after since (by To, From, date_created), or None.

        Calls in `taken` are other attempts' calls to the same number, never this one's.
        """
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        found: list[ProviderCall] = []
        for query in list_queries(request.to, request.from_, since):
            found.extend(self._list_calls(query, attempt_id=request.attempt_id))
        return pick_call(found, since, taken=taken)

    def fetch_call(self, call_sid: str) -> ProviderCall:
        """The call as Twilio knows it now; TelephonyError(http_status=404) if it does not exist."""
        url = f"{self._calls_url}/{call_sid}.json"
        payload = self._http.get_json(url, {}, f"fetch call {call_sid}")
        try:
            return parse_call(payload)
        except ValueError as exc:
            raise TelephonyError(
                f"Twilio's answer for call {call_sid} is not a call: {exc}"
            ) from None

    def _list_calls(
        self, query: Mapping[str, str], *, attempt_id: int | None
    ) -> list[ProviderCall]:
        """Every call the list endpoint returns for this query, following next_page_uri."""
        params = {**query, "PageSize": str(LIST_PAGE_SIZE)}
        action = f"list the calls of attempt {attempt_id}"
        calls: list[ProviderCall] = []
        pages = self._http.get_pages(
            self._base_url, f"{self._calls_url}.json", params, action, MAX_LIST_PAGES
        )
        for page in pages:
            for resource in page.get("calls") or []:
                try:
                    calls.append(parse_call(resource))
                except ValueError:
                    continue  # a record we cannot date cannot be matched; the others still can
        return calls

    # -- messages -------------------------------------------------------------------------------

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
            MESSAGE,
            (request.to, request.from_),
        )
        return SentMessage(message_sid=str(message.sid), status=str(message.status or "queued"))

    def _create(self, send: Callable[[], T], kind: Kind, numbers: tuple[str, ...]) -> T:
        """Run a create (429s retried) and map every failure to TelephonyError."""
        noun = kind.noun
        try:
            created = self._retry_429(send)
        except TWILIO_ERRORS as exc:
            # `from None`: the library's exception carries Twilio's message, number included.
            raise self._create_error(exc, kind, numbers) from None
        except requests.RequestException as exc:
            if nothing_sent(exc):
                # Safe to send again later; many in a row mean the provider is down.
                raise TelephonyError(
                    f"Twilio could not be reached, nothing was sent ({type(exc).__name__})",
                    unavailable=True,
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

    def _create_error(self, exc: TwilioError, kind: Kind, numbers: Iterable[str]) -> TelephonyError:
        """Map a refused create to TelephonyError: bad number, throttled, maybe done or other."""
        if exc.code in kind.permanent_codes:
            return twilio_error(exc, kind.refused, numbers, permanent=True)
        if is_429(exc):
            tries = self._max_429_retries + 1
            return TelephonyError(
                f"Twilio answered 429 (too many requests) {tries} times; "
                f"no {kind.noun} was {kind.done}",
                code=exc.code,
                http_status=exc.status,
            )
        if exc.status >= 500:
            # Do not retry: Twilio may have created it (rung the person, sent the text) first.
            return twilio_error(exc, kind.failed, numbers, maybe_placed=True)
        return twilio_error(exc, kind.failed, numbers)

    # -- recordings -----------------------------------------------------------------------------

    def download_recording(self, media_url: str) -> tuple[bytes, str]:
        """Return the recording as WAV bytes and its content type; 404 means not ready yet."""
        url = _wav_url(media_url)
        response = self._http.get_media(url)
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
        except TWILIO_ERRORS as exc:
            if exc.status == 404:
                return
            raise twilio_error(exc, f"delete recording {recording_sid}", ()) from None
        except requests.RequestException as exc:
            raise TelephonyError(
                f"could not delete recording {recording_sid} ({type(exc).__name__})",
                unavailable=nothing_sent(exc),
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
        except TWILIO_ERRORS as exc:
            if exc.status == 404 or exc.code == CALL_NOT_IN_PROGRESS_CODE:
                error = twilio_error(exc, action, ())
                raise RecordingNotLiveError(
                    str(error), code=exc.code, http_status=exc.status
                ) from None
            raise twilio_error(exc, action, ()) from None
        except requests.RequestException as exc:
            raise TelephonyError(f"could not {action} ({type(exc).__name__})") from exc
        except json.JSONDecodeError:
            raise TelephonyError(f"could not {action}: the answer is not JSON") from None

    def _retry_429(self, send: Callable[[], T], *, retries: int | None = None) -> T:
        """Run a library request, retrying Twilio's 429 (backoff with full jitter)."""
        limit = self._max_429_retries if retries is None else retries
        return self._http.retry_429(send, retries=limit, base_s=BACKOFF_429_BASE_S)


def _wav_url(media_url: str) -> str:
    """Return the WAV URL for a RecordingUrl, which comes without an extension."""
    for extension in (".wav", ".mp3"):
        if media_url.endswith(extension):
            media_url = media_url.removesuffix(extension)
    return media_url + ".wav"
