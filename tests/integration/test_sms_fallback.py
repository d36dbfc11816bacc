"""Care insurance: a contact the calls never reached gets one text, then the follow-ups pause."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.attempts import record_status
from ivr.campaigns.service import create_campaign
from ivr.consent.dnc import add_number
from ivr.models import Attempt, AttemptStatus, CallEvent, Case, CaseOutcome, CaseStatus, DncSource
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from scheduler.dispatcher import dispatch_once
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

API = "http://127.0.0.1:9"  # never reached: `responses` answers
MESSAGES_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


class NoWait:
    def wait(self) -> None:
        pass


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def texting(services: Services) -> Services:
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _: None
    )
    return services


def last_call_unanswered(
    sessions: sessionmaker[Session], services: Services, clock: FakeClock, template: str
) -> int:
    """A case on its last attempt whose call went unanswered; returns the case id."""
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name="care", template_name=template, overrides={}, now=clock.now
        )
        case = factories.case(session, campaign, clock.now, anchor=date(2030, 1, 6))
        case.details = {"frequency": "monthly", "service": "home nursing"}
        case.status, case.attempts_made = CaseStatus.IN_CALL, 3
        attempt = Attempt(
            case_id=case.id,
            number=3,
            status=AttemptStatus.RINGING,
            call_sid="CA" + "ab" * 16,
            language="zh-CN",
            created_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        record_status(
            session, services, attempt, AttemptStatus.NO_ANSWER, sequence=3, duration_s=0,
            now=clock.now,
        )  # fmt: skip
        return case.id


def events(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    """The texts' timeline events (the call's own prompts, keys and statuses left out)."""
    with sessions() as session:
        rows = session.scalars(select(CallEvent).where(CallEvent.kind.like("sms.%")))
        return [(e.kind, e.detail) for e in rows]


def test_unreachable_care_contact_is_texted_once(
    texting: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    mocked.add(
        responses.POST, MESSAGES_URL, status=201, json={"sid": "SM" + "1" * 32, "status": "queued"}
    )
    case_id = last_call_unanswered(sessions, texting, clock, "care-insurance")
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert case.outcome is CaseOutcome.UNREACHABLE
        assert case.details.get("follow_ups") == "paused"
    assert events(sessions) == [("sms.due", None)]

    assert dispatch_once(texting, NoWait()).texts == 1
    assert dispatch_once(texting, NoWait()).texts == 0
    assert len(mocked.calls) == 1
    form = parse_qs(mocked.calls[0].request.body)
    assert form["To"] == [factories.FICTIONAL_PHONES[0]] and form["From"] == [FROM_NUMBER]
    assert "未能接通" in form["Body"][0]
    assert events(sessions) == [("sms.sent", "SM" + "1" * 32)]


def test_a_number_put_on_the_do_not_call_list_gets_no_text(
    texting: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """Listed after the last call but before the text leaves: the text is withheld."""
    case_id = last_call_unanswered(sessions, texting, clock, "care-insurance")
    with sessions.begin() as session:
        phone = session.get_one(Case, case_id).contact.phone
        add_number(session, phone, now=clock.now, source=DncSource.AGENT)
    assert dispatch_once(texting, NoWait()).texts == 0
    assert len(mocked.calls) == 0
    assert events(sessions) == [("sms.withheld", "number on the do-not-call list")]


def test_a_number_that_cannot_take_texts_is_noted_not_retried(
    texting: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    mocked.add(
        responses.POST,
        MESSAGES_URL,
        status=400,
        json={"code": 21614, "message": "'To' number is not a valid mobile number", "status": 400},
    )
    last_call_unanswered(sessions, texting, clock, "care-insurance")
    assert dispatch_once(texting, NoWait()).texts == 0
    dispatch_once(texting, NoWait())
    assert len(mocked.calls) == 1
    [(kind, detail)] = events(sessions)
    assert kind == "sms.failed" and detail is not None and "21614" in detail


def test_programs_without_the_option_send_nothing(
    texting: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    last_call_unanswered(sessions, texting, clock, "post-discharge")
    assert dispatch_once(texting, NoWait()).texts == 0
    assert events(sessions) == []
    assert len(mocked.calls) == 0
