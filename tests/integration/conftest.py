"""Dispatcher test fixtures: Twilio's REST API faked with `responses`, a clock in a window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import responses

from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock

API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CALLS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
# 2030-01-07 is a Monday; 01:00 UTC is 09:00 in Asia/Shanghai, inside the 08:00-11:00 window.
IN_WINDOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
DISCHARGED = date(2029, 12, 31)  # offset 7d: first call from 2030-01-07 08:00 local


class NoWait:
    def __init__(self) -> None:
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def dialling(services: Services, clock: FakeClock) -> Services:
    clock.now = IN_WINDOW
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _: None
    )
    return services
