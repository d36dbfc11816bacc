"""TwilioTelephony.send_sms against the Messages API, faked at the HTTP level with `responses`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses

from ivr.telephony.port import SmsRequest, TelephonyError
from ivr.telephony.twilio import TwilioTelephony

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fictional-auth-token"
# Nothing listens on port 9 and nothing is sent there: `responses` intercepts every request.
BASE_URL = "http://127.0.0.1:9"
MESSAGES_URL = f"{BASE_URL}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
MESSAGE_SID = "SM" + "00112233445566778899aabbccddeeff"
SERVICE_SID = "MG" + "ffeeddccbbaa99887766554433221100"
TO = "+12025550143"
FROM = "+15005550006"
BODY = "We could not reach you about your care service. Reply 1 and we will call you back."
CALLBACK = "https://ivr.example.test/sms-status/7"
BASIC_AUTH = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

SMS = SmsRequest(to=TO, from_=FROM, body=BODY, status_callback_url=CALLBACK)


def twilio_error(code: int, status: int, message: str) -> dict[str, Any]:
    """Return an error body shaped like Twilio's."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def created_message(status: str = "queued") -> dict[str, Any]:
    """Return a create answer shaped like Twilio's Message resource (the fields that matter)."""
    return {
        "sid": MESSAGE_SID,
        "account_sid": ACCOUNT_SID,
        "to": TO,
        "from": FROM,
        "body": BODY,
        "status": status,
        "direction": "outbound-api",
        "error_code": None,
    }


def form_of(call: Any) -> dict[str, list[str]]:
    """The form fields of a recorded request."""
    body = call.request.body
    assert isinstance(body, str)
    return parse_qs(body, strict_parsing=True)


@pytest.fixture
def sleeps() -> list[float]:
    """Collect the adapter's backoff sleeps instead of waiting."""
    return []


@pytest.fixture
def telephony(sleeps: list[float]) -> TwilioTelephony:
    """An adapter pointed at a fake base URL, sleeping into a list the whole backoff ceilings."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=BASE_URL,
        sleep=sleeps.append,
        jitter=lambda ceiling: ceiling,  # no jitter, so that each sleep can be named
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; fail on a request no test expected."""
    with responses.RequestsMock() as rsps:
        yield rsps


def send_and_fail(telephony: TwilioTelephony, request: SmsRequest = SMS) -> TelephonyError:
    """Send the message and return the TelephonyError it raises."""
    with pytest.raises(TelephonyError) as caught:
        telephony.send_sms(request)
    return caught.value


def test_send_posts_to_messages_json_with_to_from_body_and_callback(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """POST .../Messages.json with exactly To, From, Body and StatusCallback."""
    mocked.post(MESSAGES_URL, json=created_message(), status=201)

    telephony.send_sms(SMS)

    [call] = mocked.calls
    assert ("POST", MESSAGES_URL) == (call.request.method, call.request.url)
    expected = {"To": [TO], "From": [FROM], "Body": [BODY], "StatusCallback": [CALLBACK]}
    assert expected == form_of(call)


def test_send_authenticates_and_sets_connect_and_read_timeouts(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Basic auth with the account SID and token; (connect, read) timeouts, never none."""
    mocked.post(MESSAGES_URL, json=created_message(), status=201)

    telephony.send_sms(SMS)

    request = mocked.calls[0].request
    assert BASIC_AUTH == request.headers["Authorization"]
    assert (5.0, 15.0) == request.req_kwargs["timeout"]


def test_send_returns_the_message_sid_and_initial_status(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 201 becomes a SentMessage with Twilio's SM sid and status."""
    mocked.post(MESSAGES_URL, json=created_message(), status=201)

    sent = telephony.send_sms(SMS)

    assert (MESSAGE_SID, "queued") == (sent.message_sid, sent.status)


def test_without_a_callback_url_no_status_callback_is_sent(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """status_callback_url=None leaves StatusCallback out rather than sending it empty."""
    mocked.post(MESSAGES_URL, json=created_message(), status=201)

    telephony.send_sms(SmsRequest(to=TO, from_=FROM, body=BODY, status_callback_url=None))

    assert {"To": [TO], "From": [FROM], "Body": [BODY]} == form_of(mocked.calls[0])


def test_a_messaging_service_sender_goes_as_messaging_service_sid(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """An MG... sender is sent as MessagingServiceSid, with no From; Twilio answers accepted."""
    mocked.post(MESSAGES_URL, json=created_message("accepted"), status=201)

    sent = telephony.send_sms(SmsRequest(to=TO, from_=SERVICE_SID, body=BODY))

    assert {"To": [TO], "MessagingServiceSid": [SERVICE_SID], "Body": [BODY]} == form_of(
        mocked.calls[0]
    )
    assert "accepted" == sent.status


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, f"The 'To' number {TO} is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
        (21614, f"'To' number {TO} is not a valid mobile number"),
        (21635, "'To' number cannot be a landline"),
    ],
)
def test_a_number_that_can_never_get_sms_is_a_permanent_error(
    code: int, message: str, telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Invalid, unsubscribed (STOP), not a mobile, landline: permanent, with Twilio's code."""
    mocked.post(MESSAGES_URL, json=twilio_error(code, 400, message), status=400)

    error = send_and_fail(telephony)

    assert (True, False, code, 400) == (
        error.permanent,
        error.maybe_placed,
        error.code,
        error.http_status,
    )


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21606, "The 'From' phone number provided is not a valid message-capable number"),
        (21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"),
    ],
)
def test_a_problem_with_our_own_sender_is_not_blamed_on_the_number(
    code: int, message: str, telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A bad sender fails every message alike: an error, but not permanent for this number."""
    mocked.post(MESSAGES_URL, json=twilio_error(code, 400, message), status=400)

    error = send_and_fail(telephony)

    assert (False, False, code) == (error.permanent, error.maybe_placed, error.code)
    assert message in str(error)


def test_an_sms_error_never_contains_the_phone_number(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Twilio's message names the number; the TelephonyError masks it and drops the cause."""
    message = f"The 'To' number {TO} (or (202) 555-0143) is not a valid mobile number."
    mocked.post(MESSAGES_URL, json=twilio_error(21614, 400, message), status=400)

    error = send_and_fail(telephony)

    assert "is not a valid mobile number" in str(error)
    assert "555" not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_a_429_is_retried_with_backoff_until_it_succeeds(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """Twilio never processes a 429, so the create is repeated after growing sleeps."""
    too_many = twilio_error(20429, 429, "Too Many Requests")
    mocked.post(MESSAGES_URL, json=too_many, status=429)
    mocked.post(MESSAGES_URL, json=too_many, status=429)
    mocked.post(MESSAGES_URL, json=created_message(), status=201)

    sent = telephony.send_sms(SMS)

    assert (MESSAGE_SID, 3, [1.0, 2.0]) == (sent.message_sid, len(mocked.calls), sleeps)


def test_a_429_that_persists_is_a_temporary_error_that_sent_nothing(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """After max_429_retries the adapter gives up, sure that no message went out."""
    mocked.post(MESSAGES_URL, json=twilio_error(20429, 429, "Too Many Requests"), status=429)

    error = send_and_fail(telephony)

    assert (False, False, 20429) == (error.permanent, error.maybe_placed, error.code)
    assert (5, [1.0, 2.0, 4.0, 8.0]) == (len(mocked.calls), sleeps)
    assert "no message was sent" in str(error)


def test_a_500_is_not_retried_and_may_have_sent_the_message(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A 5xx after a create may have texted the person: one request, maybe_placed."""
    body = twilio_error(20500, 500, "Internal Server Error")
    mocked.post(MESSAGES_URL, json=body, status=500)

    error = send_and_fail(telephony)

    assert (False, True, 500) == (error.permanent, error.maybe_placed, error.http_status)
    assert (1, []) == (len(mocked.calls), sleeps)


def test_a_connect_timeout_sent_nothing(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A connect timeout fails before the request leaves: temporary, not sent."""
    mocked.post(MESSAGES_URL, body=requests.ConnectTimeout("connect timed out"))

    error = send_and_fail(telephony)

    assert (False, False) == (error.permanent, error.maybe_placed)


def test_a_read_timeout_may_have_sent_the_message(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The create left but no answer came back in time: maybe_placed, named as a message."""
    mocked.post(MESSAGES_URL, body=requests.ReadTimeout("read timed out"))

    error = send_and_fail(telephony)

    assert (False, True) == (error.permanent, error.maybe_placed)
    assert "the message may have been sent" in str(error)


def test_an_answer_without_a_sid_may_have_sent_the_message(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A 201 that names no message cannot be tracked: maybe_placed rather than a blank sid."""
    mocked.post(MESSAGES_URL, json={"status": "queued"}, status=201)

    error = send_and_fail(telephony)

    assert (False, True) == (error.permanent, error.maybe_placed)
