"""Reconciling with Twilio: find_call and fetch_call, GET retries, the cap on requests in flight.

Twilio's REST API is faked at the HTTP level with `responses`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from ivr.telephony.port import CallRequest, ProviderCall, TelephonyError
from ivr.telephony.twilio import TwilioTelephony

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fictional-auth-token"
BASE_URL = "http://127.0.0.1:9"  # nothing is sent there: `responses` intercepts every request
CALLS_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
CALLS_URL = f"{BASE_URL}{CALLS_PATH}.json"
TO = "+12025550143"
FROM = "+15005550006"
SINCE = datetime(2025, 3, 4, 9, 30, 0, tzinfo=UTC)

REQUEST = CallRequest(
    attempt_id=7,
    to=TO,
    from_=FROM,
    voice_url="https://ivr.example.test/voice/7",
    status_callback_url="https://ivr.example.test/status/7",
    recording_callback_url="https://ivr.example.test/recording/7",
    amd_callback_url="https://ivr.example.test/amd/7",
)


def sid(n: int) -> str:
    """A call sid made from a small number."""
    return f"CA{n:032x}"


def call_resource(
    n: int, created_at: datetime, status: str = "completed", **fields: Any
) -> dict[str, Any]:
    """A Call resource shaped like Twilio's (the fields reconciling reads, and a few more)."""
    started = None if status == "queued" else format_datetime(created_at + timedelta(seconds=1))
    return {
        "sid": sid(n),
        "account_sid": ACCOUNT_SID,
        "to": TO,
        "from": FROM,
        "status": status,
        "direction": "outbound-api",
        "date_created": format_datetime(created_at),
        "start_time": started,
        "end_time": None,
        "duration": None,
        "answered_by": None,
        "queue_time": "0",
        "uri": f"{CALLS_PATH}/{sid(n)}.json",
        **fields,
    }


def page(calls: list[dict[str, Any]], next_page_uri: str | None = None) -> dict[str, Any]:
    """A list answer in Twilio's paging envelope."""
    return {
        "calls": calls,
        "page": 0,
        "page_size": 50,
        "first_page_uri": f"{CALLS_PATH}.json?PageSize=50&Page=0",
        "next_page_uri": next_page_uri,
        "previous_page_uri": None,
        "start": 0,
        "end": max(0, len(calls) - 1),
        "uri": f"{CALLS_PATH}.json?PageSize=50&Page=0",
    }


def query_of(call: Any) -> dict[str, list[str]]:
    """The query string of a recorded request."""
    return parse_qs(urlsplit(call.request.url).query)


@pytest.fixture
def sleeps() -> list[float]:
    """Collect the adapter's backoff sleeps instead of waiting."""
    return []


@pytest.fixture
def telephony(sleeps: list[float]) -> TwilioTelephony:
    """An adapter pointed at a fake base URL, sleeping into a list."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=sleeps.append
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Intercept every HTTP request; fail on a request no test expected."""
    with responses.RequestsMock() as rsps:
        yield rsps


# --- find_call ------------------------------------------------------------------------------


def test_find_call_lists_queued_calls_then_calls_started_since_the_day(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Two GETs filtered on To and From: Status=queued first, then StartTime>=the UTC day."""
    mocked.get(CALLS_URL, json=page([]))
    mocked.get(CALLS_URL, json=page([]))

    assert telephony.find_call(REQUEST, SINCE) is None

    first, second = (query_of(call) for call in mocked.calls)
    assert {"To": [TO], "From": [FROM], "Status": ["queued"], "PageSize": ["50"]} == first
    assert {"To": [TO], "From": [FROM], "StartTime>": ["2025-03-04"], "PageSize": ["50"]} == second
    assert "StartTime%3E=2025-03-04" in str(mocked.calls[1].request.url)


def test_find_call_returns_the_call_created_after_the_attempt(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """Of an older call and the attempt's own, the one created at or after since is returned."""
    older = call_resource(1, SINCE - timedelta(hours=3))
    ours = call_resource(
        2,
        SINCE + timedelta(seconds=2),
        status="completed",
        end_time=format_datetime(SINCE + timedelta(seconds=60)),
        duration="57",
        answered_by="human",
    )
    mocked.get(CALLS_URL, json=page([]))
    mocked.get(CALLS_URL, json=page([ours, older]))

    found = telephony.find_call(REQUEST, SINCE)

    expected = ProviderCall(
        call_sid=sid(2),
        status="completed",
        created_at=SINCE + timedelta(seconds=2),
        started_at=SINCE + timedelta(seconds=3),
        ended_at=SINCE + timedelta(seconds=60),
        duration_s=57,
        answered_by="human",
    )
    assert expected == found
    assert found is not None and found.final


def test_find_call_finds_a_call_still_queued_without_a_start_time(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A call held in Twilio's queue has no start_time; the Status=queued list finds it."""
    mocked.get(CALLS_URL, json=page([call_resource(3, SINCE, status="queued")]))
    mocked.get(CALLS_URL, json=page([]))

    found = telephony.find_call(REQUEST, SINCE)

    assert found is not None
    assert (sid(3), "queued", None, False) == (
        found.call_sid,
        found.status,
        found.started_at,
        found.final,
    )


def test_find_call_ignores_calls_from_before_the_attempt(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A call created well before since (an earlier attempt) is not this attempt's call."""
    mocked.get(CALLS_URL, json=page([]))
    mocked.get(CALLS_URL, json=page([call_resource(1, SINCE - timedelta(minutes=30))]))

    assert telephony.find_call(REQUEST, SINCE) is None


def test_find_call_allows_for_a_provider_clock_a_little_behind(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """A call dated 30 s before since (the provider's clock) still counts as the attempt's."""
    mocked.get(CALLS_URL, json=page([]))
    mocked.get(CALLS_URL, json=page([call_resource(4, SINCE - timedelta(seconds=30))]))

    found = telephony.find_call(REQUEST, SINCE)

    assert found is not None and sid(4) == found.call_sid


def test_find_call_follows_next_page_uri(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """The attempt's call on the second page is found by following next_page_uri."""
    next_uri = f"{CALLS_PATH}.json?To=%2B12025550143&PageSize=50&Page=1&PageToken=PA1"
    older = [call_resource(10 + n, SINCE - timedelta(days=1, minutes=n)) for n in range(3)]
    mocked.get(CALLS_URL, json=page([]))
    mocked.get(CALLS_URL, json=page(older, next_page_uri=next_uri))
    mocked.get(
        f"{BASE_URL}{next_uri}",
        json=page([call_resource(5, SINCE + timedelta(seconds=1))]),
        match=[
            responses.matchers.query_param_matcher(
                {"To": TO, "PageSize": "50", "Page": "1", "PageToken": "PA1"}
            )
        ],
    )

    found = telephony.find_call(REQUEST, SINCE)

    assert found is not None and sid(5) == found.call_sid
    assert 3 == len(mocked.calls)


def test_find_call_retries_a_list_answered_with_500(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A GET is safe to repeat: a 500 then a 200 gives the answer, after one bounded sleep."""
    body = {"code": 20500, "message": "Internal Server Error", "status": 500}
    mocked.get(CALLS_URL, json=body, status=500)
    mocked.get(CALLS_URL, json=page([call_resource(6, SINCE)]))
    mocked.get(CALLS_URL, json=page([]))

    found = telephony.find_call(REQUEST, SINCE)

    assert found is not None and sid(6) == found.call_sid
    assert 3 == len(mocked.calls)
    assert 1 == len(sleeps) and 0.0 <= sleeps[0] <= 0.5


def test_find_call_needs_an_aware_since(telephony: TwilioTelephony) -> None:
    """A naive since is refused before any request: it cannot be compared with Twilio's UTC."""
    with pytest.raises(ValueError, match="aware"):
        telephony.find_call(REQUEST, SINCE.replace(tzinfo=None))


# --- fetch_call -----------------------------------------------------------------------------


def test_fetch_call_reads_status_times_and_answered_by(
    telephony: TwilioTelephony, mocked: responses.RequestsMock
) -> None:
    """GET Calls/{sid}.json becomes a ProviderCall."""
    ended = format_datetime(SINCE + timedelta(seconds=41))
    resource = call_resource(
        8, SINCE, status="no-answer", end_time=ended, duration="0", answered_by="machine_start"
    )
    mocked.get(f"{BASE_URL}{CALLS_PATH}/{sid(8)}.json", json=resource)

    call = telephony.fetch_call(sid(8))

    assert ("no-answer", SINCE + timedelta(seconds=41), 0, "machine_start", True) == (
        call.status,
        call.ended_at,
        call.duration_s,
        call.answered_by,
        call.final,
    )


def test_fetch_call_of_an_unknown_call_is_a_404_error_without_retry(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A 404 is an answer, not a fault: raised at once with http_status and Twilio's code."""
    body = {"code": 20404, "message": "The requested resource was not found", "status": 404}
    mocked.get(f"{BASE_URL}{CALLS_PATH}/{sid(9)}.json", json=body, status=404)

    with pytest.raises(TelephonyError) as caught:
        telephony.fetch_call(sid(9))

    assert (404, 20404, False, 1, []) == (
        caught.value.http_status,
        caught.value.code,
        caught.value.unavailable,
        len(mocked.calls),
        sleeps,
    )


def test_fetch_call_gives_up_after_repeated_connection_failures_as_unavailable(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """Four connect timeouts (one try and three retries): unavailable, with growing ceilings."""
    url = f"{BASE_URL}{CALLS_PATH}/{sid(9)}.json"
    mocked.get(url, body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(TelephonyError) as caught:
        telephony.fetch_call(sid(9))

    assert (True, 4, 3) == (caught.value.unavailable, len(mocked.calls), len(sleeps))
    assert all(0.0 <= s <= c for s, c in zip(sleeps, [0.5, 1.0, 2.0], strict=True))


def test_fetch_call_retries_a_429(
    telephony: TwilioTelephony, sleeps: list[float], mocked: responses.RequestsMock
) -> None:
    """A throttled GET is repeated."""
    url = f"{BASE_URL}{CALLS_PATH}/{sid(8)}.json"
    mocked.get(url, json={"code": 20429, "message": "Too Many Requests"}, status=429)
    mocked.get(url, json=call_resource(8, SINCE))

    assert sid(8) == telephony.fetch_call(sid(8)).call_sid
    assert 1 == len(sleeps)


# --- the cap on requests in flight ------------------------------------------------------------


class Concurrency:
    """A responses callback that holds each request a moment and records how many overlap."""

    def __init__(self, body: str, status: int) -> None:
        self.body, self.status = body, status
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return self.status, {"Content-Type": "application/json"}, self.body


@pytest.mark.parametrize("cap", [1, 3])
def test_no_more_than_max_in_flight_requests_at_once(
    cap: int, mocked: responses.RequestsMock
) -> None:
    """Creates (through the library) and fetches (our own GETs) share one cap of N slots."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, max_in_flight=cap
    )
    created = Concurrency(json.dumps(call_resource(1, SINCE, status="queued")), 201)
    fetched = created  # one counter for both kinds: the cap is per adapter, not per endpoint
    mocked.add_callback("POST", CALLS_URL, callback=created)
    mocked.add_callback("GET", f"{BASE_URL}{CALLS_PATH}/{sid(1)}.json", callback=fetched)
    work = [lambda: telephony.place_call(REQUEST), lambda: telephony.fetch_call(sid(1))] * 6
    threads = [threading.Thread(target=job) for job in work]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert 12 == len(mocked.calls)
    assert cap == created.peak


def test_without_a_cap_the_same_requests_overlap_more() -> None:
    """The measuring callback itself sees overlap above 3 when nothing holds requests back."""
    with responses.RequestsMock() as mocked:
        telephony = TwilioTelephony(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, max_in_flight=12
        )
        fetched = Concurrency(json.dumps(call_resource(1, SINCE)), 200)
        mocked.add_callback("GET", f"{BASE_URL}{CALLS_PATH}/{sid(1)}.json", callback=fetched)
        threads = [threading.Thread(target=telephony.fetch_call, args=(sid(1),)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

    assert fetched.peak > 3


def test_max_in_flight_must_be_at_least_one() -> None:
    """A cap of zero would block every request forever: refused at construction."""
    with pytest.raises(ValueError, match="max_in_flight"):
        TwilioTelephony(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, max_in_flight=0)
