"""The do-not-call list and the call caps against a database: the list itself, its CSV import,
the dispatcher's check before each call, and opting out by key press through the webhooks."""

from __future__ import annotations

import io
import itertools
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.app import create_app
from ivr.config import Settings
from ivr.consent.dnc import add_number, list_numbers, listed_entry, remove_number
from ivr.consent.importer import DncCsvError, import_numbers
from ivr.consent.refusal import Refusal, dial_refusal
from ivr.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    DncSource,
    DoNotCall,
    Escalation,
)
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from scheduler.dispatcher import dispatch_once
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PUBLIC_BASE_URL, FakeClock
from tests.webhook_client import signed_post

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai, inside 08:00-11:00
DISCHARGED = date(2029, 12, 31)  # post-discharge offset 7d: callable from 2030-01-07 08:00
PHONE = factories.FICTIONAL_PHONES[0]
OTHER = factories.FICTIONAL_PHONES[1]
API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CALLS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def local(text: str) -> datetime:
    """A Shanghai wall time ("2030-01-08 08:00") as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def entries(sessions: sessionmaker[Session]) -> list[DoNotCall]:
    """Every row of the list, expired ones included."""
    with sessions() as session:
        return list(session.scalars(select(DoNotCall).order_by(DoNotCall.id)))


def add(sessions: sessionmaker[Session], phone: str = PHONE, **kw: Any) -> None:
    """List a number in a transaction of its own (as the CLI or the API does)."""
    kw.setdefault("now", NOW)
    kw.setdefault("source", DncSource.CLI)
    with sessions.begin() as session:
        add_number(session, phone, **kw)


# The list ------------------------------------------------------------------------------------


def test_a_listed_number_is_in_force_at_once_and_until_removed(
    sessions: sessionmaker[Session],
) -> None:
    """An entry without an end keeps the number off indefinitely; removing it lets calls resume."""
    add(sessions, reason="asked by letter", added_by="clerk-3")
    with sessions() as session:
        entry = listed_entry(session, PHONE, NOW + timedelta(days=3650))
        assert entry is not None
        assert (DncSource.CLI, "asked by letter", "clerk-3", None, NOW) == (
            entry.source,
            entry.reason,
            entry.added_by,
            entry.until,
            entry.added_at,
        )
    with sessions.begin() as session:
        assert remove_number(session, PHONE, removed_by="clerk-3")
        assert not remove_number(session, PHONE)
    assert [] == entries(sessions)


def test_an_entry_with_an_end_stops_at_that_instant(sessions: sessionmaker[Session]) -> None:
    """In force while now < until; from `until` on the number may be called again."""
    until = NOW + timedelta(days=183)
    add(sessions, until=until)
    with sessions() as session:
        assert listed_entry(session, PHONE, until - timedelta(seconds=1)) is not None
        assert listed_entry(session, PHONE, until) is None
        assert [] == list_numbers(session, until)
        assert [PHONE] == [e.phone for e in list_numbers(session, until, include_expired=True)]


def test_adding_a_listed_number_again_updates_its_one_row(sessions: sessionmaker[Session]) -> None:
    """A second request replaces source, reason and time, and the later end wins."""
    add(sessions, until=NOW + timedelta(days=30), reason="first")
    later = NOW + timedelta(hours=1)
    add(sessions, now=later, source=DncSource.AGENT, until=NOW + timedelta(days=200), reason="2nd")
    (entry,) = entries(sessions)
    assert (DncSource.AGENT, "2nd", later, NOW + timedelta(days=200)) == (
        entry.source,
        entry.reason,
        entry.added_at,
        entry.until,
    )


@pytest.mark.parametrize("shorter", [None, 10], ids=["indefinite-kept", "later-end-kept"])
def test_an_entry_in_force_is_never_shortened_by_a_new_add(
    sessions: sessionmaker[Session], shorter: int | None
) -> None:
    """A CSV with a date cannot cut short what a person asked for; remove and re-add to shorten."""
    kept = None if shorter is None else NOW + timedelta(days=183)
    add(sessions, source=DncSource.KEYPRESS, until=kept)
    add(sessions, source=DncSource.CSV, until=NOW + timedelta(days=10))
    (entry,) = entries(sessions)
    assert (DncSource.CSV, kept) == (entry.source, entry.until)


def test_an_expired_entry_is_replaced_by_a_new_add(sessions: sessionmaker[Session]) -> None:
    """Once an entry has ended, a new request sets the end afresh (shorter is fine)."""
    add(sessions, until=NOW + timedelta(days=1))
    later = NOW + timedelta(days=5)
    add(sessions, now=later, until=later + timedelta(days=2))
    (entry,) = entries(sessions)
    assert later + timedelta(days=2) == entry.until


def test_an_end_in_the_past_is_refused(sessions: sessionmaker[Session]) -> None:
    """Listing a number until yesterday would list nothing: a mistake worth saying."""
    with pytest.raises(ValueError, match="future"), sessions.begin() as session:
        add_number(session, PHONE, now=NOW, source=DncSource.API, until=NOW)


def test_two_requests_for_one_number_at_once_leave_one_row(
    sessions: sessionmaker[Session],
) -> None:
    """The unique phone settles the race: the second insert waits, then updates the first's row."""
    first_added = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with sessions.begin() as session:
                add_number(session, PHONE, now=NOW, source=DncSource.KEYPRESS, reason="key")
                first_added.set()
                threading.Event().wait(0.3)  # the second request arrives before this commits
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_added.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_added.wait(10)
    add(sessions, now=NOW + timedelta(seconds=1), source=DncSource.CSV, reason="csv")
    thread.join(10)
    assert [] == errors
    assert [("csv", DncSource.CSV)] == [(e.reason, e.source) for e in entries(sessions)]


# CSV import ----------------------------------------------------------------------------------


def test_csv_import_lists_the_good_lines_and_reports_each_bad_one(
    sessions: sessionmaker[Session],
) -> None:
    """Bad lines are named with their line number and rule, never their cells; the rest go in."""
    text = (
        "\ufeffPhone,reason,until,ignored\n"
        f"{PHONE},moved away,,x\n"
        "\n"
        "not-a-number,,,\n"
        f"{OTHER},,2030-02-30,\n"
        '"+1 202 555 0102","two\nlines",2030-07-31,\n'
        f"{factories.FICTIONAL_PHONES[3]},,2029-12-31,\n"
        ",,,\n"
        ",reason only,,\n"
        "+1 202 555 0104,,2031-01-31\n"
    )
    with sessions.begin() as session:
        report = import_numbers(session, io.StringIO(text), now=NOW, tz=SHANGHAI, added_by="ops")
    assert "7 data lines: 3 numbers listed, 4 with errors" == report.summary
    assert [
        "line 4: phone: not a phone number",
        "line 5: until: not a date YYYY-MM-DD",
        "line 8: until: the date has passed",
        "line 10: phone: missing",
    ] == [str(e) for e in report.errors]
    listed = {e.phone: e for e in entries(sessions)}
    assert {PHONE, "+12025550102", "+12025550104"} == set(listed)
    assert "two\nlines" == listed["+12025550102"].reason
    # "Through 2030-07-31" in Shanghai: until the midnight that ends that day.
    assert local("2030-08-01 00:00") == listed["+12025550102"].until
    assert {DncSource.CSV} == {e.source for e in listed.values()}


def test_a_csv_without_a_phone_column_is_refused_whole(sessions: sessionmaker[Session]) -> None:
    """A header that names no phone column imports nothing."""
    with pytest.raises(DncCsvError, match="no 'phone' column"), sessions.begin() as session:
        import_numbers(session, io.StringIO(f"number\n{PHONE}\n"), now=NOW, tz=SHANGHAI)
    assert [] == entries(sessions)


# The dispatcher's check --------------------------------------------------------------------


class NoWait:
    """A pacer that never waits."""

    def wait(self) -> None:
        """Place the next call at once."""


_sids = (f"CA{n:032x}" for n in itertools.count(1))


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(
            responses.POST,
            CALLS_URL,
            callback=lambda _: (201, {}, json.dumps({"sid": next(_sids), "status": "queued"})),
        )
        yield rsps


@pytest.fixture
def dialling(services: Services, clock: FakeClock) -> Services:
    clock.now = NOW
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _: None
    )
    return services


def dialled(mocked: responses.RequestsMock) -> list[str]:
    """The numbers the provider was asked to call, in order."""
    return [
        parse_qs(str(call.request.body))["To"][0]
        for call in mocked.calls
        if call.request.method == "POST" and call.request.url == CALLS_URL
    ]


def due_case(
    sessions: sessionmaker[Session],
    campaign_name: str,
    ref: str,
    phone: str = PHONE,
    anchor: date = DISCHARGED,
    **options: str,
) -> int:
    """A post-discharge case due now, in a campaign made if it does not exist yet."""
    with sessions.begin() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == campaign_name)).first()
        if campaign is None:
            campaign = factories.campaign(session, NOW, name=campaign_name, **options)
        return factories.case(session, campaign, NOW, ref=ref, phone=phone, anchor=anchor).id


def called_earlier(
    sessions: sessionmaker[Session],
    at: datetime,
    phone: str = PHONE,
    status: AttemptStatus = AttemptStatus.NO_ANSWER,
    placed: bool = True,
) -> None:
    """A finished attempt to `phone` at `at`, in a campaign of its own (done with the case)."""
    with sessions.begin() as session:
        campaign = factories.campaign(session, at, name=f"earlier-{at:%m%d%H%M}-{phone[-4:]}")
        case = factories.case(session, campaign, at, ref="E-1", phone=phone, status=CaseStatus.DONE)
        session.add(
            Attempt(
                case_id=case.id,
                number=1,
                status=status,
                language="zh-CN",
                created_at=at,
                placed_at=at if placed else None,
                ended_at=at,
                settled_at=at,
            )
        )


def case_row(sessions: sessionmaker[Session], case_id: int) -> Case:
    """The case as committed."""
    with sessions() as session:
        return session.get_one(Case, case_id)


def escalation_reasons(sessions: sessionmaker[Session]) -> list[str]:
    """Every escalation's reason."""
    with sessions() as session:
        return list(session.scalars(select(Escalation.reason)))


def test_a_listed_number_is_not_dialled_and_its_cases_close_as_opted_out(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Across campaigns: every case of the number closes, nothing escalates, others are called."""
    first = due_case(sessions, "ward-7", "P-1")
    second = due_case(sessions, "ward-9", "P-2")
    due_case(sessions, "ward-9", "P-3", phone=OTHER)
    add(sessions)

    report = dispatch_once(dialling, NoWait())

    assert [OTHER] == dialled(mocked)
    assert 1 == report.placed
    for case_id in (first, second):
        case = case_row(sessions, case_id)
        assert (CaseStatus.DONE, CaseOutcome.OPTED_OUT, 0) == (
            case.status,
            case.outcome,
            case.attempts_made,
        )
    assert [] == escalation_reasons(sessions)


def test_a_number_listed_while_its_case_is_due_is_skipped_on_the_next_pass(
    dialling: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    mocked: responses.RequestsMock,
) -> None:
    """Listed between two passes: the first pass called the other number, the next calls nobody."""
    due_case(sessions, "ward-7", "P-1", phone=OTHER)
    dispatch_once(dialling, NoWait())
    later = due_case(sessions, "ward-7", "P-2")
    clock.advance(seconds=5)
    add(sessions, now=clock.now, source=DncSource.API)

    dispatch_once(dialling, NoWait())

    assert [OTHER] == dialled(mocked)
    assert CaseOutcome.OPTED_OUT == case_row(sessions, later).outcome


def test_an_ended_entry_no_longer_stops_the_call(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Six months after the request, the number is called again."""
    add(sessions, now=NOW - timedelta(days=200), until=NOW - timedelta(days=17))
    due_case(sessions, "ward-7", "P-1")
    dispatch_once(dialling, NoWait())
    assert [PHONE] == dialled(mocked)


def test_a_number_called_today_by_another_campaign_waits_for_tomorrows_first_window(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """1 a day across campaigns: the case moves to 08:00 tomorrow, counted as rescheduled."""
    called_earlier(sessions, local("2030-01-07 08:05"))
    case_id = due_case(sessions, "ward-7", "P-1")

    report = dispatch_once(dialling, NoWait())

    assert [] == dialled(mocked)
    assert 1 == report.rescheduled
    case = case_row(sessions, case_id)
    assert (CaseStatus.PENDING, local("2030-01-08 08:00")) == (case.status, case.next_call_at)


def test_a_call_yesterday_evening_local_does_not_count_for_today(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Yesterday 23:30 in Shanghai is today in UTC (15:30Z), but not today where the person is."""
    called_earlier(sessions, local("2030-01-06 23:30"))
    due_case(sessions, "ward-7", "P-1")
    dispatch_once(dialling, NoWait())
    assert [PHONE] == dialled(mocked)


def test_a_fourth_call_in_seven_days_waits_for_the_first_to_drop_out(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """3 a week: calls Thu, Fri, Sat; Monday's case waits until Thursday 08:00."""
    for day in ("2030-01-03", "2030-01-04", "2030-01-05"):
        called_earlier(sessions, local(f"{day} 10:00"))
    case_id = due_case(sessions, "ward-7", "P-1", deadline="none")

    dispatch_once(dialling, NoWait())

    assert [] == dialled(mocked)
    assert local("2030-01-10 08:00") == case_row(sessions, case_id).next_call_at


def test_a_cap_that_pushes_past_the_deadline_closes_the_case_as_unreachable(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """Deadline at tomorrow's midnight, capped today: no window left, escalated like any miss."""
    called_earlier(sessions, local("2030-01-07 08:05"))
    case_id = due_case(
        sessions, "ward-7", "P-1", anchor=date(2030, 1, 1), offset="6d", deadline="7d"
    )

    report = dispatch_once(dialling, NoWait())

    assert [] == dialled(mocked)
    assert 1 == report.missed_deadline
    assert CaseOutcome.MISSED_DEADLINE == case_row(sessions, case_id).outcome
    assert ["unreachable"] == escalation_reasons(sessions)


def test_a_create_the_provider_refused_does_not_use_up_the_days_call(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """An attempt that ended in error without being placed never rang: it is not counted."""
    called_earlier(sessions, local("2030-01-07 08:05"), status=AttemptStatus.ERROR, placed=False)
    due_case(sessions, "ward-7", "P-1")
    dispatch_once(dialling, NoWait())
    assert [PHONE] == dialled(mocked)


def test_campaigns_without_caps_call_whatever_was_called_before(
    dialling: Services, sessions: sessionmaker[Session], mocked: responses.RequestsMock
) -> None:
    """daily_cap=none and weekly_cap=none (or an older campaign without them): no counting."""
    called_earlier(sessions, local("2030-01-07 08:05"))
    due_case(sessions, "ward-7", "P-1", daily_cap="none", weekly_cap="none")
    dispatch_once(dialling, NoWait())
    assert [PHONE] == dialled(mocked)


def test_dial_refusal_says_why_and_from_when(sessions: sessionmaker[Session]) -> None:
    """The check on its own: a cap gives the instant, the list gives none."""
    called_earlier(sessions, local("2030-01-07 08:05"))
    with sessions() as session:
        capped = dial_refusal(session, PHONE, NOW, tz=SHANGHAI, daily_cap=1, weekly_cap=3)
        free = dial_refusal(session, OTHER, NOW, tz=SHANGHAI, daily_cap=1, weekly_cap=3)
    assert Refusal("daily_cap", local("2030-01-08 00:00")) == capped
    assert free is None
    add(sessions)
    with sessions() as session:
        listed = dial_refusal(session, PHONE, NOW, tz=SHANGHAI, daily_cap=None, weekly_cap=None)
    assert Refusal("do_not_call", None) == listed


# Opting out by key press ---------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, services: Services) -> FlaskClient:
    return create_app(settings, services=services).test_client()


@pytest.fixture
def call(sessions: sessionmaker[Session], clock: FakeClock) -> tuple[int, int]:
    """(attempt id, case id) of a post-discharge call in progress to PHONE."""
    clock.now = NOW
    with sessions.begin() as session:
        campaign = factories.campaign(session, NOW, name="ward-7")
        case = factories.case(session, campaign, NOW, ref="P-1", anchor=DISCHARGED)
        case.status, case.attempts_made, case.next_call_at = CaseStatus.IN_CALL, 1, None
        attempt = Attempt(
            case_id=case.id,
            number=1,
            status=AttemptStatus.IN_PROGRESS,
            call_sid=CALL_SID,
            language="zh-CN",
            created_at=NOW,
            placed_at=NOW,
        )
        session.add(attempt)
        session.flush()
        return attempt.id, case.id


CALL_SID = "CA" + "0" * 31 + "7"


def webhook(client: FlaskClient, path: str, **fields: str) -> ET.Element:
    """A signed Twilio webhook for the call; its TwiML answer."""
    form = {"AccountSid": ACCOUNT_SID, "CallSid": CALL_SID, "From": FROM_NUMBER, "To": PHONE}
    response = signed_post(client, path, {**form, **fields})
    assert 200 == response.status_code
    return ET.fromstring(response.get_data(as_text=True))


def answer(client: FlaskClient, attempt_id: int) -> ET.Element:
    """The answered call's first TwiML; past a neutral opening that redirects, the flow's."""
    root = webhook(client, f"/twilio/voice?attempt={attempt_id}", CallStatus="in-progress")
    redirect = root.find("Redirect")
    if redirect is None:
        return root
    # Twilio follows the Redirect as written: the absolute public URL, signed as such.
    path = (redirect.text or "").removeprefix(PUBLIC_BASE_URL)
    return webhook(client, path, CallStatus="in-progress")


def test_pressing_9_lists_the_number_says_goodbye_and_closes_the_case(
    client: FlaskClient, call: tuple[int, int], sessions: sessionmaker[Session]
) -> None:
    """The number is listed by the key press itself; the final status callback changes nothing."""
    attempt_id, case_id = call
    first = answer(client, attempt_id)
    assert "请按9" in " ".join(say.text or "" for say in first.iter("Say"))

    goodbye = webhook(
        client, f"/twilio/gather?attempt={attempt_id}&step=1", CallStatus="in-progress", Digits="9"
    )

    assert goodbye.find("Gather") is None and goodbye.find("Hangup") is not None
    assert "不会再拨打这个号码" in " ".join(say.text or "" for say in goodbye.iter("Say"))
    (entry,) = entries(sessions)
    assert (PHONE, DncSource.KEYPRESS, None, NOW) == (
        entry.phone,
        entry.source,
        entry.until,
        entry.added_at,
    )
    assert CaseOutcome.OPTED_OUT == case_row(sessions, case_id).outcome

    status = {"AccountSid": ACCOUNT_SID, "CallSid": CALL_SID, "CallStatus": "completed"}
    assert 204 == signed_post(client, f"/twilio/status?attempt={attempt_id}", status).status_code
    case = case_row(sessions, case_id)
    assert (CaseStatus.DONE, CaseOutcome.OPTED_OUT) == (case.status, case.outcome)
    assert [] == escalation_reasons(sessions)


def test_a_replayed_opt_out_key_press_lists_the_number_once(
    client: FlaskClient, call: tuple[int, int], sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Twilio retries a slow gather: the copy gets the same goodbye and writes nothing."""
    attempt_id, _ = call
    answer(client, attempt_id)
    path = f"/twilio/gather?attempt={attempt_id}&step=1"
    webhook(client, path, CallStatus="in-progress", Digits="9")
    clock.advance(seconds=4)
    again = webhook(client, path, CallStatus="in-progress", Digits="9")
    assert again.find("Hangup") is not None
    assert [NOW] == [e.added_at for e in entries(sessions)]


def test_after_opting_out_no_campaign_calls_the_number(
    client: FlaskClient,
    call: tuple[int, int],
    dialling: Services,
    sessions: sessionmaker[Session],
    mocked: responses.RequestsMock,
) -> None:
    """The key press in one program's call keeps every other program's case from dialling."""
    attempt_id, _ = call
    other_program = due_case(sessions, "care-9", "C-1")
    answer(client, attempt_id)
    webhook(
        client, f"/twilio/gather?attempt={attempt_id}&step=1", CallStatus="in-progress", Digits="9"
    )

    dispatch_once(dialling, NoWait())

    assert [] == dialled(mocked)
    assert CaseOutcome.OPTED_OUT == case_row(sessions, other_program).outcome
