"""TwilioTelephony against Twilio's REST API, faked at the HTTP level with `responses`."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NameResolutionError

from ivr.telephony.port import CallRequest, RecordingNotLiveError, TelephonyError
from ivr.telephony.twilio import TwilioTelephony

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fictional-auth-token"
# Nothing listens on port 9 and nothing is sent there: `responses` intercepts every request.
BASE_URL = "http://127.0.0.1:9"
ACCOUNT_URL = f"{BASE_URL}/2010-04-01/Accounts/{ACCOUNT_SID}"
CALLS_URL = f"{ACCOUNT_URL}/Calls.json"
RECORDING_SID = "RE" + "fedcba9876543210" * 2
RECORDING_URL = f"{ACCOUNT_URL}/Recordings/{RECORDING_SID}"
CALL_SID = "CA" + "00112233445566778899aabbccddeeff"
TO = "+12025550143"
FROM = "+15005550006"
BASIC_AUTH = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "

CALL_REQUEST = CallRequest(
    attempt_id=7,
    to=TO,
    from_=FROM,
    voice_url="https://ivr.example.test/voice/7",
    status_callback_url="https://ivr.example.test/status/7",
    recording_callback_url="https://ivr.example.test/recording/7",
    amd_callback_url="https://ivr.example.test/amd/7",
    ring_timeout_s=30,
    time_limit_s=600,
)


def twilio_error(code: int, status: int, message: str) -> dict[str, Any]:
    """Return an error body shaped like Twilio's."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def created_call() -> dict[str, Any]:
    """Return a create answer shaped like Twilio's (the fields the adapter reads)."""
    return {"sid": CALL_SID, "account_sid": ACCOUNT_SID, "status": "queued", "to": TO}


@pytest.fixture
def sleeps() -> list[float]:
    """Collect the adapter's backoff sleeps instead of waiting."""
    return []


def no_jitter(ceiling: float) -> float:
    """Sleep the whole backoff ceiling, so that tests can name each sleep."""
    return ceiling


@pytest.fixture
def telephony(sleeps: list[float]) -> TwilioTelephony:
    """An adapter pointed at a fake base URL, sleeping into a list, without jitter."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=BASE_URL + "/",
        sleep=sleeps.append,
        jitter=no_jitter,
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; fail on a request no test expected."""
    with responses.RequestsMock() as rsps:
        yield rsps


def place_and_fail(telephony: TwilioTelephony) -> TelephonyError:
    """Place CALL_REQUEST and return the TelephonyError it raises."""
    with pytest.raises(TelephonyError) as caught:
        telephony.place_call(CALL_REQUEST)
    return caught.value


# --- place_call -----------------------------------------------------------------------------


def test_create_sends_every_field_twilio_needs(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The create posts exactly these form fields, status events as four repeated fields."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(CALL_REQUEST)

    body = mocked.calls[0].request.body
    assert isinstance(body, str)
    expected = {
        "To": [TO],
        "From": [FROM],
        "Url": ["https://ivr.example.test/voice/7"],
        "Method": ["POST"],
        "StatusCallback": ["https://ivr.example.test/status/7"],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Record": ["true"],
        "Trim": ["do-not-trim"],
        "RecordingStatusCallback": ["https://ivr.example.test/recording/7"],
        "RecordingStatusCallbackMethod": ["POST"],
        "RecordingStatusCallbackEvent": ["completed", "absent"],
        "MachineDetection": ["Enable"],
        "AsyncAmd": ["true"],
        "AsyncAmdStatusCallback": ["https://ivr.example.test/amd/7"],
        "AsyncAmdStatusCallbackMethod": ["POST"],
        "Timeout": ["30"],
        "TimeLimit": ["600"],
    }
    assert expected == parse_qs(body, strict_parsing=True)


def test_create_returns_the_call_sid_and_status(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 201 becomes a PlacedCall with Twilio's sid and status."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    placed = telephony.place_call(CALL_REQUEST)

    assert (CALL_SID, "queued") == (placed.call_sid, placed.status)


def test_create_authenticates_with_the_account_sid_and_token(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The create carries HTTP basic auth made of the account SID and auth token."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(CALL_REQUEST)

    assert BASIC_AUTH == mocked.calls[0].request.headers["Authorization"]


def test_create_goes_to_the_configured_base_url(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The request goes to api_base_url, not api.twilio.com."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(CALL_REQUEST)

    assert CALLS_URL == mocked.calls[0].request.url


def test_edge_and_region_in_the_environment_do_not_rewrite_the_base_url(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """TWILIO_EDGE / TWILIO_REGION, which the library reads, leave api_base_url alone."""
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=sleeps.append
    )
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(CALL_REQUEST)

    assert CALLS_URL == mocked.calls[0].request.url


def test_create_is_sent_with_connect_and_read_timeouts(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The library's default waits forever; the adapter sends (connect, read) timeouts."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(CALL_REQUEST)

    assert (5.0, 15.0) == mocked.calls[0].request.req_kwargs["timeout"]


@pytest.mark.parametrize(
    "code", [21211, 21214, 21215, 21216, 21217, 21401, 21610, 13223, 13224, 13226]
)
def test_a_bad_or_unreachable_number_is_a_permanent_error(
    code: int, telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Twilio's bad-number codes become a permanent error carrying the code."""
    message = f"The 'To' number {TO} is not a valid phone number."
    mocked.post(CALLS_URL, json=twilio_error(code, 400, message), status=400)

    error = place_and_fail(telephony)

    assert (True, False, code, 400) == (
        error.permanent,
        error.maybe_placed,
        error.code,
        error.http_status,
    )


def test_an_error_message_never_contains_the_phone_number(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Twilio's message names the number; the TelephonyError keeps the text but masks it."""
    message = f"The 'To' number {TO} (or (202) 555-0143) is not a valid phone number."
    mocked.post(CALLS_URL, json=twilio_error(21211, 400, message), status=400)

    error = place_and_fail(telephony)

    text = str(error)
    assert "is not a valid phone number" in text
    assert "555" not in text
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_a_429_is_retried_with_backoff_until_it_succeeds(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """Twilio never processes a 429, so the create is repeated after growing sleeps."""
    too_many = twilio_error(20429, 429, "Too Many Requests")
    mocked.post(CALLS_URL, json=too_many, status=429)
    mocked.post(CALLS_URL, json=too_many, status=429)
    mocked.post(CALLS_URL, json=created_call(), status=201)

    placed = telephony.place_call(CALL_REQUEST)

    assert CALL_SID == placed.call_sid
    assert 3 == len(mocked.calls)
    assert [1.0, 2.0] == sleeps


def test_a_429_that_persists_is_a_temporary_error_after_the_last_retry(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """After max_429_retries the adapter gives up, sure that no call was placed."""
    mocked.post(CALLS_URL, json=twilio_error(20429, 429, "Too Many Requests"), status=429)

    error = place_and_fail(telephony)

    assert (False, False, 20429) == (error.permanent, error.maybe_placed, error.code)
    assert 5 == len(mocked.calls)
    assert [1.0, 2.0, 4.0, 8.0] == sleeps


def test_a_500_is_not_retried_and_may_have_placed_the_call(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A 5xx after a create may have rung the person: one request, maybe_placed."""
    mocked.post(CALLS_URL, json=twilio_error(20500, 500, "Internal Server Error"), status=500)

    error = place_and_fail(telephony)

    assert (False, True, 500) == (error.permanent, error.maybe_placed, error.http_status)
    assert 1 == len(mocked.calls)
    assert [] == sleeps


def test_a_connect_timeout_sent_nothing(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A connect timeout fails before the request leaves: the provider is unavailable."""
    mocked.post(CALLS_URL, body=requests.ConnectTimeout("connect timed out"))

    error = place_and_fail(telephony)

    assert (False, False, True) == (error.permanent, error.maybe_placed, error.unavailable)


def test_a_refused_connection_sent_nothing(sleeps: list[float]) -> None:
    """A real refused connection on 127.0.0.1: nothing placed, the provider unavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=f"http://127.0.0.1:{free_port}",
        sleep=sleeps.append,
    )

    error = place_and_fail(telephony)

    assert (False, False, True) == (error.permanent, error.maybe_placed, error.unavailable)
    assert [] == sleeps  # not retried inside: the dispatcher pauses and tries again later


def test_a_read_timeout_may_have_placed_the_call(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The create left but no answer came back in time: maybe_placed."""
    mocked.post(CALLS_URL, body=requests.ReadTimeout("read timed out"))

    error = place_and_fail(telephony)

    assert (False, True, False) == (error.permanent, error.maybe_placed, error.unavailable)


def test_a_connection_dropped_after_sending_may_have_placed_the_call(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A ConnectionError that does not prove the connect failed counts as maybe placed."""
    mocked.post(CALLS_URL, body=requests.ConnectionError("Connection aborted."))

    error = place_and_fail(telephony)

    assert (False, True) == (error.permanent, error.maybe_placed)


def test_a_failed_name_lookup_sent_nothing(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A DNS failure (urllib3's NameResolutionError) never reached Twilio: unavailable."""
    failure = NameResolutionError("api.twilio.test", None, socket.gaierror("no such host"))  # type: ignore[arg-type]
    refused = requests.ConnectionError(MaxRetryError(None, CALLS_URL, failure))  # type: ignore[arg-type]
    mocked.post(CALLS_URL, body=refused)

    error = place_and_fail(telephony)

    assert (False, True) == (error.maybe_placed, error.unavailable)


def test_a_500_is_not_taken_for_an_unavailable_provider(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Twilio answered, so it is up: a 5xx is maybe_placed, never unavailable."""
    mocked.post(CALLS_URL, json=twilio_error(20500, 500, "Internal Server Error"), status=500)

    error = place_and_fail(telephony)

    assert (True, False) == (error.maybe_placed, error.unavailable)


def test_429_backoff_has_full_jitter_under_a_doubling_ceiling(
    sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """With the default jitter every sleep lies in [0, 1 * 2**n] and they are not the ceilings."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=BASE_URL,
        sleep=sleeps.append,
        max_429_retries=8,
    )
    mocked.post(CALLS_URL, json=twilio_error(20429, 429, "Too Many Requests"), status=429)

    error = place_and_fail(telephony)

    assert (9, 8, 20429) == (len(mocked.calls), len(sleeps), error.code)
    ceilings = [min(30.0, 2.0**n) for n in range(8)]
    assert all(0.0 <= slept <= ceiling for slept, ceiling in zip(sleeps, ceilings, strict=True))
    assert sleeps != ceilings
    assert max(sleeps) <= 30.0  # the bound: 2**7 = 128 s is capped


def test_a_429_twice_then_201_places_the_call_once(
    sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """Two throttled creates and one accepted: three requests, two jittered sleeps, one call."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=sleeps.append
    )
    too_many = twilio_error(20429, 429, "Too Many Requests")
    mocked.post(CALLS_URL, json=too_many, status=429)
    mocked.post(CALLS_URL, json=too_many, status=429)
    mocked.post(CALLS_URL, json=created_call(), status=201)

    placed = telephony.place_call(CALL_REQUEST)

    assert (CALL_SID, 3) == (placed.call_sid, len(mocked.calls))
    assert 0.0 <= sleeps[0] <= 1.0
    assert 0.0 <= sleeps[1] <= 2.0


def test_queue_time_is_read_in_seconds_from_twilio_s_milliseconds(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """queue_time "2500" (milliseconds, per Twilio's Call resource) is 2.5 s."""
    mocked.post(CALLS_URL, json={**created_call(), "queue_time": "2500"}, status=201)

    placed = telephony.place_call(CALL_REQUEST)

    assert 2.5 == placed.queue_time_s


def test_a_queue_time_over_a_second_is_logged_as_a_warning_without_the_number(
    telephony: TwilioTelephony, mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    """call.queued_long names the attempt and the wait, never the number called."""
    mocked.post(CALLS_URL, json={**created_call(), "queue_time": "1500"}, status=201)

    with caplog.at_level(logging.WARNING, logger="ivr.telephony.twilio"):
        telephony.place_call(CALL_REQUEST)

    [record] = [r for r in caplog.records if getattr(r, "action", "") == "call.queued_long"]
    assert (logging.WARNING, 7, 1.5) == (record.levelno, record.attempt_id, record.queue_time_s)  # type: ignore[attr-defined]
    # The message and the fields the call added; the record's own timestamps may hold any digits.
    standard = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
    added = {k: v for k, v in vars(record).items() if k not in standard | {"message", "asctime"}}
    assert "555" not in record.getMessage() + repr(added)


@pytest.mark.parametrize("queue_time", ["0", "1000", None])
def test_a_queue_time_of_a_second_or_less_logs_nothing(
    queue_time: str | None,
    telephony: TwilioTelephony,
    mocked: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No warning when the call is not held back by more than a second (or no estimate)."""
    mocked.post(CALLS_URL, json={**created_call(), "queue_time": queue_time}, status=201)

    with caplog.at_level(logging.WARNING, logger="ivr.telephony.twilio"):
        placed = telephony.place_call(CALL_REQUEST)

    assert [] == [r for r in caplog.records if getattr(r, "action", "") == "call.queued_long"]
    assert (None if queue_time is None else int(queue_time) / 1000) == placed.queue_time_s


def test_leaving_a_message_asks_amd_to_wait_for_the_end_of_the_greeting(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """detect_message_end=True sends MachineDetection=DetectMessageEnd, still asynchronous."""
    mocked.post(CALLS_URL, json=created_call(), status=201)

    telephony.place_call(replace(CALL_REQUEST, detect_message_end=True))

    form = parse_qs(str(mocked.calls[0].request.body))
    assert (["DetectMessageEnd"], ["true"]) == (form["MachineDetection"], form["AsyncAmd"])


def test_another_4xx_is_a_temporary_error_with_code_and_message(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 4xx that is not about the number keeps Twilio's code and message, not permanent."""
    body = twilio_error(21205, 400, "Url is not a valid URL: not-a-url")
    mocked.post(CALLS_URL, json=body, status=400)

    error = place_and_fail(telephony)

    assert (False, False, 21205, 400) == (
        error.permanent,
        error.maybe_placed,
        error.code,
        error.http_status,
    )
    assert "Url is not a valid URL" in str(error)


# --- download_recording ---------------------------------------------------------------------


def test_download_fetches_the_wav_with_basic_auth_and_timeouts(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """RecordingUrl + .wav, with the account's credentials and (connect, read) timeouts."""
    mocked.get(RECORDING_URL + ".wav", body=WAV, content_type="audio/x-wav")

    audio, content_type = telephony.download_recording(RECORDING_URL)

    assert (WAV, "audio/x-wav") == (audio, content_type)
    request = mocked.calls[0].request
    assert BASIC_AUTH == request.headers["Authorization"]
    assert (5.0, 15.0) == request.req_kwargs["timeout"]


@pytest.mark.parametrize("extension", [".wav", ".mp3"])
def test_download_replaces_an_extension_already_present_with_wav(
    extension: str, telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A URL already ending in .wav or .mp3 is fetched once, as .wav."""
    mocked.get(RECORDING_URL + ".wav", body=WAV, content_type="audio/x-wav")

    telephony.download_recording(RECORDING_URL + extension)

    assert RECORDING_URL + ".wav" == mocked.calls[0].request.url


def test_download_of_media_not_ready_yet_is_a_404_error(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 404 right after the recording callback is temporary, marked http_status=404."""
    mocked.get(RECORDING_URL + ".wav", json=twilio_error(20404, 404, "Not Found"), status=404)

    with pytest.raises(TelephonyError) as caught:
        telephony.download_recording(RECORDING_URL)

    assert (404, False) == (caught.value.http_status, caught.value.permanent)


def test_download_refused_credentials_is_a_permanent_error_about_them(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 401 is permanent and its message says which credentials to check."""
    mocked.get(RECORDING_URL + ".wav", status=401)

    with pytest.raises(TelephonyError) as caught:
        telephony.download_recording(RECORDING_URL)

    assert (401, True) == (caught.value.http_status, caught.value.permanent)
    assert "TWILIO_AUTH_TOKEN" in str(caught.value)


def test_download_retries_connection_errors_twice(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A GET is safe to repeat: two connection failures, then the media."""
    mocked.get(RECORDING_URL + ".wav", body=requests.ConnectionError("reset"))
    mocked.get(RECORDING_URL + ".wav", body=requests.ConnectTimeout("timed out"))
    mocked.get(RECORDING_URL + ".wav", body=WAV, content_type="audio/x-wav")

    audio, _ = telephony.download_recording(RECORDING_URL)

    assert WAV == audio
    assert 3 == len(mocked.calls)
    assert [0.5, 1.0] == sleeps


def test_download_gives_up_after_three_connection_errors(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The third connection failure becomes a temporary TelephonyError."""
    mocked.get(RECORDING_URL + ".wav", body=requests.ConnectionError("reset"))

    with pytest.raises(TelephonyError) as caught:
        telephony.download_recording(RECORDING_URL)

    assert (False, None) == (caught.value.permanent, caught.value.http_status)
    assert 3 == len(mocked.calls)


def test_download_does_not_forward_credentials_to_a_redirected_host(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Media redirected to a storage host is fetched there without the account's credentials."""
    storage_url = "https://media.example.test/signed/recording.wav"
    mocked.get(RECORDING_URL + ".wav", status=302, headers={"Location": storage_url})
    mocked.get(storage_url, body=WAV, content_type="audio/x-wav")

    audio, _ = telephony.download_recording(RECORDING_URL)

    assert WAV == audio
    assert "Authorization" not in mocked.calls[1].request.headers


# --- delete_recording -----------------------------------------------------------------------


def test_delete_sends_an_authenticated_delete(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 204 to DELETE .../Recordings/RE....json is success."""
    mocked.delete(RECORDING_URL + ".json", status=204)

    telephony.delete_recording(RECORDING_SID)

    assert BASIC_AUTH == mocked.calls[0].request.headers["Authorization"]


def test_delete_of_a_recording_already_gone_is_success(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 404 means someone deleted it already: nothing to raise."""
    body = twilio_error(20404, 404, f"The requested resource {RECORDING_SID} was not found")
    mocked.delete(RECORDING_URL + ".json", json=body, status=404)

    telephony.delete_recording(RECORDING_SID)

    assert 1 == len(mocked.calls)


def test_delete_retries_a_429(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A throttled delete is repeated after a backoff sleep."""
    too_many = twilio_error(20429, 429, "Too Many Requests")
    mocked.delete(RECORDING_URL + ".json", json=too_many, status=429)
    mocked.delete(RECORDING_URL + ".json", status=204)

    telephony.delete_recording(RECORDING_SID)

    assert 2 == len(mocked.calls)
    assert [1.0] == sleeps


def test_delete_failing_otherwise_is_an_error(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Any other refusal becomes a TelephonyError with Twilio's code."""
    body = twilio_error(20500, 500, "Internal Server Error")
    mocked.delete(RECORDING_URL + ".json", json=body, status=500)

    with pytest.raises(TelephonyError) as caught:
        telephony.delete_recording(RECORDING_SID)

    assert (20500, 500) == (caught.value.code, caught.value.http_status)


# --- pause_recording / resume_recording -------------------------------------------------------

CURRENT_RECORDING_URL = f"{ACCOUNT_URL}/Calls/{CALL_SID}/Recordings/Twilio.CURRENT.json"


def live_recording(status: str) -> dict[str, Any]:
    """Return an update answer shaped like Twilio's call Recording (the fields that matter)."""
    return {
        "sid": RECORDING_SID,
        "account_sid": ACCOUNT_SID,
        "call_sid": CALL_SID,
        "status": status,
        "duration": "-1",
    }


def form_of(call: Any) -> dict[str, list[str]]:
    """The form fields of a recorded request."""
    body = call.request.body
    assert isinstance(body, str)
    return parse_qs(body, strict_parsing=True)


def test_pause_posts_status_paused_with_silence_to_the_current_recording(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """POST .../Calls/{CallSid}/Recordings/Twilio.CURRENT.json, Status=paused, silence."""
    mocked.post(CURRENT_RECORDING_URL, json=live_recording("paused"))

    telephony.pause_recording(CALL_SID)

    [call] = mocked.calls
    assert ("POST", CURRENT_RECORDING_URL) == (call.request.method, call.request.url)
    assert {"Status": ["paused"], "PauseBehavior": ["silence"]} == form_of(call)
    assert BASIC_AUTH == call.request.headers["Authorization"]
    assert (5.0, 15.0) == call.request.req_kwargs["timeout"]


def test_resume_posts_status_in_progress_alone(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Resuming sends Status=in-progress and no PauseBehavior (it applies to pauses only)."""
    mocked.post(CURRENT_RECORDING_URL, json=live_recording("in-progress"))

    telephony.resume_recording(CALL_SID)

    assert {"Status": ["in-progress"]} == form_of(mocked.calls[0])


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (404, 20404, "The requested resource Twilio.CURRENT.json was not found"),
        (400, 21220, "Call is not in-progress. Cannot update the recording."),
    ],
)
def test_a_call_already_over_is_reported_as_recording_not_live(
    status: int,
    code: int,
    message: str,
    telephony: TwilioTelephony,
    sleeps: list[float],
    mocked: responses.RequestsMock,
) -> None:
    """A 404 or error 21220 (invalid call state) means nothing records: its own error, no retry."""
    mocked.post(CURRENT_RECORDING_URL, json=twilio_error(code, status, message), status=status)

    with pytest.raises(RecordingNotLiveError) as caught:
        telephony.pause_recording(CALL_SID)

    assert (status, code, False) == (
        caught.value.http_status,
        caught.value.code,
        caught.value.permanent,
    )
    assert CALL_SID in str(caught.value)
    assert (1, []) == (len(mocked.calls), sleeps)


def test_a_throttled_pause_is_retried_with_backoff(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A 429 is never processed, so the pause is sent again after a backoff sleep."""
    too_many = twilio_error(20429, 429, "Too Many Requests")
    mocked.post(CURRENT_RECORDING_URL, json=too_many, status=429)
    mocked.post(CURRENT_RECORDING_URL, json=live_recording("paused"))

    telephony.pause_recording(CALL_SID)

    assert (2, [1.0]) == (len(mocked.calls), sleeps)


def test_a_pause_throttled_throughout_gives_up_within_a_webhook_s_time(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """Two retries only (3 s of backoff): the caller is a webhook that Twilio drops after 15 s."""
    mocked.post(CURRENT_RECORDING_URL, json=twilio_error(20429, 429, "Too Many"), status=429)

    with pytest.raises(TelephonyError) as caught:
        telephony.pause_recording(CALL_SID)

    assert not isinstance(caught.value, RecordingNotLiveError)
    assert (429, 3, [1.0, 2.0]) == (caught.value.http_status, len(mocked.calls), sleeps)


def test_a_server_error_on_resume_is_an_error_with_twilio_s_code(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A 5xx is reported once, not retried and not taken for a call that has ended."""
    body = twilio_error(20500, 500, "Internal Server Error")
    mocked.post(CURRENT_RECORDING_URL, json=body, status=500)

    with pytest.raises(TelephonyError) as caught:
        telephony.resume_recording(CALL_SID)

    assert not isinstance(caught.value, RecordingNotLiveError)
    assert (20500, 500, 1, []) == (
        caught.value.code,
        caught.value.http_status,
        len(mocked.calls),
        sleeps,
    )


def test_a_pause_that_cannot_reach_twilio_is_an_error(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A connection failure is a TelephonyError naming the call, never a bare requests error."""
    mocked.post(CURRENT_RECORDING_URL, body=requests.ConnectionError("Connection refused"))

    with pytest.raises(TelephonyError, match=CALL_SID):
        telephony.pause_recording(CALL_SID)


def test_a_recording_error_never_contains_a_phone_number(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Whatever Twilio's message says, numbers in it are masked."""
    body = twilio_error(21220, 400, f"Call to {TO} is not in-progress.")
    mocked.post(CURRENT_RECORDING_URL, json=body, status=400)

    with pytest.raises(RecordingNotLiveError) as caught:
        telephony.pause_recording(CALL_SID)

    assert "555" not in str(caught.value)
    assert caught.value.__suppress_context__
