"""Replies to the unreachable text through the signed webhook: call-back, opt-out, other text."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from ivr.app import create_app
from ivr.config import Settings
from ivr.consent.dnc import listed_entry
from ivr.models import Case, CaseOutcome, CaseStatus, DncSource, InboundMessage
from ivr.queue.fallback import send_due_sms
from ivr.services import Services
from ivr.telephony.sim_messages import inbound_fields
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, FakeClock
from tests.fallback_cases import (
    OTHER_PHONE,
    PHONE,
    TextsOnly,
    escalations,
    inbound_count,
    unreachable_case,
)
from tests.webhook_client import signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def client(settings: Settings, services: Services) -> FlaskClient:
    services.telephony = TextsOnly()  # type: ignore[assignment]
    app: Flask = create_app(settings, services=services)
    return app.test_client()


def texted(services: Services, clock: FakeClock, **kw: str) -> int:
    """An unreachable care case whose text has been sent; its id."""
    case_id = unreachable_case(services, clock, **kw)
    assert send_due_sms(services) == 1
    return case_id


def reply(
    client: FlaskClient, body: str, *, sid: str = "SM" + "a1" * 16, from_: str = PHONE
) -> TestResponse:
    """The contact's text, posted and signed as Twilio posts it."""
    form = inbound_fields(
        account_sid=ACCOUNT_SID, message_sid=sid, from_=from_, to=FROM_NUMBER, body=body
    )
    return signed_post(client, "/twilio/sms", form)


def message_text(response: TestResponse) -> str | None:
    """The text of the TwiML answer's <Message>, None for an empty <Response/>."""
    assert 200 == response.status_code
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert "Response" == root.tag
    found = root.find("Message")
    return None if found is None else found.text


def stored(sessions: sessionmaker[Session]) -> list[tuple[str, int | None, str]]:
    """The incoming messages kept: (sid, case id, action)."""
    with sessions() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id))
        return [(m.message_sid, m.case_id, m.action) for m in rows]


def test_reply_1_asks_for_a_call_back_and_is_confirmed_in_chinese(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A callback_requested escalation (priority 2) and a short confirmation, full-width colon."""
    case_id = texted(services, clock)

    answer = message_text(reply(client, "1"))

    assert "示例保险 (demo)：已收到，我们会尽快给您回电。" == answer  # noqa: RUF001
    assert ("open", 1) == escalations(sessions, case_id)["callback_requested"]
    assert [("SM" + "a1" * 16, case_id, "callback_requested")] == stored(sessions)


# "\uff11" is the full-width 1 of a Chinese keyboard.
@pytest.mark.parametrize("body", ["\uff11", " 1 ", "1。", "1\n"])
def test_full_width_and_padded_1_count_as_1(
    client: FlaskClient,
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    body: str,
) -> None:
    """Phones with a Chinese keyboard send a full-width digit; punctuation and spaces are noise."""
    case_id = texted(services, clock)

    assert message_text(reply(client, body))
    assert "callback_requested" in escalations(sessions, case_id)


def test_english_contact_gets_the_english_confirmation(
    client: FlaskClient, services: Services, clock: FakeClock
) -> None:
    """The confirmation is in the language the text was sent in."""
    texted(services, clock, language="en-US")

    answer = message_text(reply(client, "1"))

    assert "示例保险 (demo): Thank you, we will call you back soon." == answer


def test_a_second_1_triggers_the_open_escalation_again(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """One escalation per case and reason: a second request adds a trigger, not a row."""
    case_id = texted(services, clock)

    reply(client, "1", sid="SM" + "01" * 16)
    clock.advance(minutes=5)
    second = message_text(reply(client, "1", sid="SM" + "02" * 16))

    assert second is not None
    assert ("open", 2) == escalations(sessions, case_id)["callback_requested"]
    assert 2 == inbound_count(sessions)


def test_a_redelivered_message_changes_nothing_and_gets_the_same_answer(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Twilio may post one message twice: one row, one trigger, the same confirmation."""
    case_id = texted(services, clock)

    first = message_text(reply(client, "1"))
    again = message_text(reply(client, "1"))

    assert first == again
    assert ("open", 1) == escalations(sessions, case_id)["callback_requested"]
    assert 1 == inbound_count(sessions)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["missing", "forged"],
)
def test_an_unsigned_or_forged_reply_is_refused_and_nothing_is_stored(
    client: FlaskClient,
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    headers: dict[str, str],
) -> None:
    """403 before anything is read or written: no row, no escalation, no do-not-call entry."""
    case_id = texted(services, clock)
    form = inbound_fields(
        account_sid=ACCOUNT_SID, message_sid="SM" + "f0" * 16, from_=PHONE, to=FROM_NUMBER,
        body="TD",
    )  # fmt: skip

    response = client.post("/twilio/sms", data=form, headers=headers)

    assert 403 == response.status_code
    assert 0 == inbound_count(sessions)
    assert {"unreachable": ("open", 1)} == escalations(sessions, case_id)
    with sessions() as session:
        assert listed_entry(session, PHONE, clock.now) is None


def test_a_reply_signed_with_another_token_is_refused(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A valid signature under the wrong auth token is a forgery too."""
    texted(services, clock)
    form = inbound_fields(
        account_sid=ACCOUNT_SID, message_sid="SM" + "f1" * 16, from_=PHONE, to=FROM_NUMBER,
        body="1",
    )  # fmt: skip

    response = signed_post(client, "/twilio/sms", form, token="someone-elses-token")

    assert 403 == response.status_code
    assert 0 == inbound_count(sessions)


@pytest.mark.parametrize("word", ["TD", "退订", "STOP", "unsubscribe", "取消", "\uff54\uff44"])
def test_an_opt_out_word_lists_the_number_and_closes_the_paused_case(
    client: FlaskClient,
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    word: str,
) -> None:
    """On the do-not-call list at once; a paused case is closed as opted out; confirmed."""
    case_id = texted(services, clock, after_unreachable="pause")

    answer = message_text(reply(client, word))

    assert "示例保险 (demo)：已为您退订，我们将不再致电或发送短信。" == answer  # noqa: RUF001
    with sessions() as session:
        entry = listed_entry(session, PHONE, clock.now)
        assert entry is not None and entry.until is None
        assert DncSource.SMS == entry.source
        case = session.get_one(Case, case_id)
        assert (CaseStatus.DONE, CaseOutcome.OPTED_OUT, clock.now) == (
            case.status,
            case.outcome,
            case.done_at,
        )
    assert [("SM" + "a1" * 16, case_id, "opted_out")] == stored(sessions)


def test_an_opt_out_leaves_a_closed_case_as_it_was(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """after_unreachable=close: the case stays unreachable; only the number is listed."""
    case_id = texted(services, clock)

    reply(client, "TD")

    with sessions() as session:
        assert CaseOutcome.UNREACHABLE == session.get_one(Case, case_id).outcome
        assert listed_entry(session, PHONE, clock.now) is not None


def test_any_other_text_is_kept_for_a_person_without_an_answer(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """An sms_reply escalation quoting the text; the webhook answers an empty <Response/>."""
    case_id = texted(services, clock)

    answer = message_text(reply(client, "明天下午再打给我"))

    assert answer is None
    assert ("open", 1) == escalations(sessions, case_id)["sms_reply"]
    with sessions() as session:
        row = session.scalars(select(InboundMessage)).one()
        assert ("明天下午再打给我", "sms_reply") == (row.body, row.action)


def test_a_sender_we_never_texted_is_recorded_unmatched(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """No case, no escalation, an empty answer; the message is still kept."""
    case_id = texted(services, clock)

    answer = message_text(reply(client, "1", from_=OTHER_PHONE))

    assert answer is None
    assert [("SM" + "a1" * 16, None, "unmatched")] == stored(sessions)
    assert {"unreachable": ("open", 1)} == escalations(sessions, case_id)


def test_a_case_whose_text_was_never_sent_does_not_match(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A text still due (or withheld) was not received: a reply cannot be answering it."""
    unreachable_case(services, clock)

    assert message_text(reply(client, "1")) is None
    assert [("SM" + "a1" * 16, None, "unmatched")] == stored(sessions)


def test_a_reply_after_the_window_is_unmatched(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """31 days on, the number may have changed hands: the reply matches no case."""
    texted(services, clock)
    clock.advance(days=31)

    assert message_text(reply(client, "1")) is None
    assert "unmatched" == stored(sessions)[0][2]


def test_the_most_recently_texted_case_of_the_number_gets_the_reply(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Two programs texted the same number: the later text is the one answered."""
    texted(services, clock, ref="CARE-1")
    clock.advance(hours=2)
    later = texted(services, clock, ref="CARE-2")

    reply(client, "1")

    assert later == stored(sessions)[0][1]


def test_an_opt_out_from_a_sender_we_never_texted_is_still_honoured(
    client: FlaskClient, services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Consent is per number: the number asked, so it is listed; stored without a case."""
    answer = message_text(reply(client, "STOP", from_=OTHER_PHONE))

    assert "You are unsubscribed: we will not call or text you again." == answer
    assert [("SM" + "a1" * 16, None, "opted_out")] == stored(sessions)
    with sessions() as session:
        assert listed_entry(session, OTHER_PHONE, clock.now) is not None


def test_a_reply_without_a_sender_is_bad_input(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """Signed but missing From: 400, nothing stored."""
    form = {"MessageSid": "SM" + "b0" * 16, "AccountSid": ACCOUNT_SID, "Body": "1"}

    assert 400 == signed_post(client, "/twilio/sms", form).status_code
    assert 0 == inbound_count(sessions)


def test_neither_the_text_nor_the_full_number_is_logged(
    client: FlaskClient,
    services: Services,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Log lines carry a masked number and the action, never what the person wrote."""
    texted(services, clock)
    caplog.set_level(logging.DEBUG)

    reply(client, "我的新号码是别的", sid="SM" + "c1" * 16)
    reply(client, "TD", sid="SM" + "c2" * 16)

    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "sms.reply.sms_reply" in logged
    assert "我的新号码" not in logged
    assert PHONE not in logged and PHONE[1:] not in logged


def test_an_opt_out_from_a_sender_that_is_no_phone_number_lists_nothing(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    """An alphanumeric sender cannot be called: kept as unmatched, no confirmation."""
    answer = message_text(reply(client, "STOP", from_="CarrierInfo"))

    assert answer is None
    assert [("SM" + "a1" * 16, None, "unmatched")] == stored(sessions)
