"""A create the provider carried out but answered 500: the callee is rung once, not twice.

tests/integration/test_dispatcher.py checks two passes with a fixed call list; here a stateful
fake Twilio (at HTTP, `responses`) keeps the call it created despite its 500, lists it to the
reconciler as it progresses, and the dispatcher runs every 30 s of FakeClock time for hours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import Attempt, AttemptStatus, Case, CaseStatus
from ivr.services import Services
from scheduler.dispatcher import dispatch_once
from tests import factories
from tests.conftest import FakeClock
from tests.integration.conftest import CALLS_URL, DISCHARGED, IN_WINDOW, NoWait, dialling

__all__ = ["dialling"]  # the fixture, shared

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

TO = factories.FICTIONAL_PHONES[0]
Answer = tuple[int, dict[str, str], str]


class FakeTwilio:
    """Calls.json: the first create places the call and then answers 500; a call rings 40 s."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[dict[str, Any]] = []
        self.creates: list[str] = []  # To of every POST that reached us

    def create(self, request: requests.PreparedRequest) -> Answer:
        form = parse_qs(str(request.body or ""))
        to = form["To"][0]
        self.creates.append(to)
        sid = f"CA{len(self.calls) + 1:032x}"
        self.calls.append({"sid": sid, "to": to, "created": self.clock.now})
        if len(self.creates) == 1:
            return 500, {}, json.dumps({"code": 20500, "message": "Internal Server Error"})
        return 201, {}, json.dumps({"sid": sid, "status": "queued"})

    def _resource(self, call: dict[str, Any]) -> dict[str, Any]:
        ended = self.clock.now - call["created"] > timedelta(seconds=40)
        return {
            "sid": call["sid"],
            "status": "no-answer" if ended else "ringing",
            "to": call["to"],
            "from": "+15005550006",
            "date_created": format_datetime(call["created"]),
            "start_time": None,
            "end_time": format_datetime(call["created"] + timedelta(seconds=40)) if ended else None,
            "duration": "0" if ended else None,
            "answered_by": None,
        }

    def list(self, request: requests.PreparedRequest) -> Answer:
        query = parse_qs(urlsplit(request.url or "").query)
        wanted = [c for c in self.calls if c["to"] == query.get("To", [None])[0]]
        page = {"calls": [self._resource(c) for c in wanted], "page": 0, "page_size": 50}
        return 200, {}, json.dumps({**page, "next_page_uri": None})

    def fetch(self, request: requests.PreparedRequest) -> Answer:
        sid = (request.url or "").rsplit("/", 1)[1].removesuffix(".json")
        (call,) = [c for c in self.calls if c["sid"] == sid]
        return 200, {}, json.dumps(self._resource(call))


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeTwilio]:
    twilio = FakeTwilio(clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, CALLS_URL, callback=twilio.create)
        mocked.add_callback(responses.GET, CALLS_URL, callback=twilio.list)
        one = CALLS_URL.removesuffix(".json") + r"/CA\w+\.json"
        mocked.add_callback(responses.GET, re.compile(one), callback=twilio.fetch)
        yield twilio


def test_a_create_answered_500_that_did_ring_is_not_rung_again_before_its_retry_is_due(
    dialling: Services, sessions: sessionmaker[Session], clock: FakeClock, fake: FakeTwilio
) -> None:
    """Hours of passes: one POST for the first attempt, and it takes the call the provider made."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, IN_WINDOW, daily_cap="none", weekly_cap="none")
        factories.case(session, campaign, IN_WINDOW, ref="P-0001", phone=TO, anchor=DISCHARGED)
    dispatch_once(dialling, NoWait())
    retry_at = None
    for _ in range(2 * 60 * 4):  # every 30 s for up to 4 hours, until the retry is planned
        clock.advance(seconds=30)
        dispatch_once(dialling, NoWait())
        with sessions() as session:
            case = session.scalars(select(Case)).one()
        if case.status is CaseStatus.PENDING:
            retry_at = case.next_call_at
            break
    assert retry_at is not None, "the lost create was never reconciled"
    with sessions() as session:
        (attempt,) = session.scalars(select(Attempt)).all()
    assert ("CA" + "0" * 31 + "1", AttemptStatus.NO_ANSWER) == (attempt.call_sid, attempt.status)
    while clock.now + timedelta(minutes=5) < retry_at:
        clock.advance(minutes=5)
        dispatch_once(dialling, NoWait())
    assert [TO] == fake.creates, f"rung {len(fake.creates)} times before the retry was due"
    clock.now = retry_at
    dispatch_once(dialling, NoWait())
    assert [TO, TO] == fake.creates  # the planned second attempt, and only it
