"""The simulator's list endpoint and provider faults, through the real Twilio adapter.

Nothing answers the webhooks here (their URLs point at a closed port): these tests are about the
REST side, what was created and what the adapter makes of it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ivr.telephony.port import CallRequest, TelephonyError
from ivr.telephony.simulator import Persona, Simulator
from ivr.telephony.twilio import TwilioTelephony
from tests.factories import FICTIONAL_PHONES

pytestmark = pytest.mark.e2e

ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
AUTH_TOKEN = "fictional-sim-token"
FROM = "+15005550006"
START = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)


class Clock:
    """Simulated time that tests move by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def closed_url() -> str:
    """A webhook base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def clock() -> Clock:
    """The simulator's clock."""
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    """A started simulator where every number answers."""
    with Simulator(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        personas=lambda _number: Persona(),
        clock=clock,
        queue_time_ms=2500,
    ) as simulator:
        yield simulator


def adapter(sim: Simulator, **options: float) -> TwilioTelephony:
    """The real adapter pointed at the simulator, with no backoff sleeps."""
    return TwilioTelephony(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=sim.base_url,
        sleep=lambda _s: None,
        **options,  # type: ignore[arg-type]
    )


def request(base: str, attempt_id: int, to: str) -> CallRequest:
    """A call request whose webhooks go nowhere."""
    query = f"?attempt={attempt_id}"
    return CallRequest(
        attempt_id=attempt_id,
        to=to,
        from_=FROM,
        voice_url=f"{base}/voice{query}",
        status_callback_url=f"{base}/status{query}",
        recording_callback_url=f"{base}/recording{query}",
        amd_callback_url=f"{base}/amd{query}",
        record=False,
    )


def list_calls(sim: Simulator, **query: str) -> dict[str, object]:
    """GET Calls.json on the simulator as a client would."""
    response = requests.get(
        f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        params=query,
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert 200 == response.status_code
    payload = response.json()
    assert isinstance(payload, dict)
    return payload


# --- the list endpoint ----------------------------------------------------------------------


def test_the_list_endpoint_filters_on_to_and_pages_like_twilio(
    sim: Simulator, clock: Clock, closed_url: str
) -> None:
    """Three calls to one number, one to another: To filters, PageSize 2 gives two pages."""
    telephony = adapter(sim)
    for n, to in enumerate([FICTIONAL_PHONES[0]] * 3 + [FICTIONAL_PHONES[1]]):
        clock.now = START + timedelta(minutes=n)
        telephony.place_call(request(closed_url, n, to))
    sim.drain(timeout=30)

    first = list_calls(sim, To=FICTIONAL_PHONES[0], PageSize="2")
    assert {
        "calls",
        "page",
        "page_size",
        "start",
        "end",
        "uri",
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
    } == set(first)
    assert (0, 2, 0, 1, None) == (
        first["page"],
        first["page_size"],
        first["start"],
        first["end"],
        first["previous_page_uri"],
    )
    next_uri = str(first["next_page_uri"])
    assert {"To": [FICTIONAL_PHONES[0]], "PageSize": ["2"], "Page": ["1"]}.items() <= parse_qs(
        urlsplit(next_uri).query
    ).items()
    second = requests.get(sim.base_url + next_uri, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    rest = second.json()
    assert (1, None) == (rest["page"], rest["next_page_uri"])
    listed = [call["sid"] for call in [*first["calls"], *rest["calls"]]]  # type: ignore[misc]
    made = [call.sid for call in sim.calls if call.to == FICTIONAL_PHONES[0]]
    assert list(reversed(made)) == listed  # newest first, as Twilio lists them


def test_start_time_and_status_filters_follow_twilio_s_rules(
    sim: Simulator, closed_url: str
) -> None:
    """StartTime>= a day keeps calls started that day or later; a finished call is not queued."""
    adapter(sim).place_call(request(closed_url, 1, FICTIONAL_PHONES[0]))
    sim.drain(timeout=30)

    day = START.date()
    assert 1 == len(list_calls(sim, **{"StartTime>": day.isoformat()})["calls"])  # type: ignore[arg-type]
    later = (day + timedelta(days=1)).isoformat()
    assert 0 == len(list_calls(sim, **{"StartTime>": later})["calls"])  # type: ignore[arg-type]
    assert 0 == len(list_calls(sim, Status="queued")["calls"])  # type: ignore[arg-type]
    assert 1 == len(list_calls(sim, Status="completed", From=FROM)["calls"])  # type: ignore[arg-type]


def test_a_malformed_start_time_is_a_400(sim: Simulator) -> None:
    """A filter the simulator cannot read is refused the way Twilio refuses it."""
    response = requests.get(
        f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        params={"StartTime>": "last tuesday"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert (400, 20001) == (response.status_code, response.json()["code"])


# --- faults -----------------------------------------------------------------------------------


def test_a_500_after_the_create_rang_the_callee_once_and_find_call_finds_it(
    sim: Simulator, clock: Clock, closed_url: str
) -> None:
    """The create is processed, then answered 500: maybe_placed, and reconciling finds the call."""
    telephony = adapter(sim)
    call_request = request(closed_url, 7, FICTIONAL_PHONES[2])
    since = clock.now
    sim.fail_creates("error-after-create")

    with pytest.raises(TelephonyError) as caught:
        telephony.place_call(call_request)
    sim.drain(timeout=30)

    assert (True, False) == (caught.value.maybe_placed, caught.value.unavailable)
    [call] = sim.calls  # rung once, and not again by the adapter
    assert "completed" == call.status
    found = telephony.find_call(call_request, since)
    assert found is not None
    assert (call.sid, "completed", True) == (found.call_sid, found.status, found.final)
    assert found == telephony.fetch_call(call.sid)


def test_a_create_whose_answer_times_out_is_maybe_placed_and_found(
    sim: Simulator, clock: Clock, closed_url: str
) -> None:
    """The call is created, the answer comes after the read timeout: found by find_call."""
    telephony = adapter(sim, read_timeout=0.3)
    call_request = request(closed_url, 8, FICTIONAL_PHONES[3])
    sim.fail_creates("timeout-after-create", hold_s=1.0)

    with pytest.raises(TelephonyError) as caught:
        telephony.place_call(call_request)
    sim.drain(timeout=30)

    assert caught.value.maybe_placed
    [call] = sim.calls
    found = telephony.find_call(call_request, START)
    assert found is not None and call.sid == found.call_sid


def test_find_call_finds_nothing_when_the_create_never_arrived(
    sim: Simulator, closed_url: str
) -> None:
    """A throttled create that was never retried leaves no call: None, so dialling is safe."""
    telephony = adapter(sim, max_429_retries=0)
    call_request = request(closed_url, 9, FICTIONAL_PHONES[4])
    sim.fail_creates("throttle")

    with pytest.raises(TelephonyError) as caught:
        telephony.place_call(call_request)

    assert (429, False) == (caught.value.http_status, caught.value.maybe_placed)
    assert [] == sim.calls
    assert telephony.find_call(call_request, START) is None


def test_throttled_creates_are_retried_and_ring_once(sim: Simulator, closed_url: str) -> None:
    """Two 429s (never processed) and the third create places the one call."""
    sim.fail_creates("throttle", 2)

    placed = adapter(sim).place_call(request(closed_url, 10, FICTIONAL_PHONES[5]))
    sim.drain(timeout=30)

    assert [placed.call_sid] == [call.sid for call in sim.calls]


def test_an_unreachable_provider_is_unavailable_until_it_serves_again(
    sim: Simulator, closed_url: str
) -> None:
    """Server stopped: unavailable and nothing created; served again on the same URL: placed."""
    telephony = adapter(sim)
    base_url = sim.base_url
    sim.stop_serving()

    with pytest.raises(TelephonyError) as caught:
        telephony.place_call(request(closed_url, 11, FICTIONAL_PHONES[6]))
    with pytest.raises(TelephonyError) as fetched:
        telephony.fetch_call("CA" + "0" * 32)

    assert (True, False) == (caught.value.unavailable, caught.value.maybe_placed)
    assert fetched.value.unavailable
    assert [] == sim.calls
    sim.serve_again()
    assert base_url == sim.base_url
    placed = telephony.place_call(request(closed_url, 11, FICTIONAL_PHONES[6]))
    sim.drain(timeout=30)
    assert [placed.call_sid] == [call.sid for call in sim.calls]


def test_the_simulator_reports_queue_time_and_the_adapter_warns(
    sim: Simulator, closed_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """queue_time 2500 ms on the create: 2.5 s on PlacedCall and a call.queued_long warning."""
    with caplog.at_level(logging.WARNING, logger="ivr.telephony.twilio"):
        placed = adapter(sim).place_call(request(closed_url, 12, FICTIONAL_PHONES[7]))
    sim.drain(timeout=30)

    assert 2.5 == placed.queue_time_s
    assert ["call.queued_long"] == [getattr(r, "action", "") for r in caplog.records]
