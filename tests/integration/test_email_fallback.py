"""The unreachable e-mail: sent once through a real SMTP server on 127.0.0.1, or noted why not."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import create_campaign
from ivr.cases.importer import import_cases
from ivr.consent.dnc import add_number
from ivr.models import Campaign, Contact, DncSource
from ivr.services import Services
from scheduler.dispatcher import dispatch_once
from tests.conftest import FakeClock
from tests.fallback_cases import PHONE, NoWait, TextsOnly, kinds, unreachable_case
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

ADDRESS = "insured.person@example.com"
SENDER = "follow-up@example.org"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as server:
        yield server


@pytest.fixture
def mailing(services: Services, sink: SmtpSink) -> Services:
    """Services whose settings point SMTP at the sink (plain SMTP: it is on the loopback)."""
    services.settings = services.settings.with_(
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_starttls=False,
        smtp_from=SENDER,
        supervisor_emails=("supervisor@example.org",),
    )
    services.telephony = TextsOnly()  # type: ignore[assignment]
    return services


def test_an_unreachable_contact_is_emailed_once(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """One message, in the contact's language, signed by the organisation; never twice."""
    unreachable_case(mailing, clock, email=ADDRESS, email_when_unreachable="yes")
    assert [("email.due", None)] == kinds(sessions, "email")

    first = dispatch_once(mailing, NoWait())
    second = dispatch_once(mailing, NoWait())

    assert (1, 0, 1) == (first.emails, second.emails, len(sink.received))
    [received] = sink.received
    message = received.message
    assert ([ADDRESS], SENDER) == (received.rcpt_to, received.mail_from)
    assert "示例保险 (demo)：服务回访未能联系到您" == message["Subject"]  # noqa: RUF001
    assert "未能接通" in received.body and "示例保险 (demo)" in received.body
    [(kind, detail)] = kinds(sessions, "email")
    assert ("email.sent", message["Message-ID"]) == (kind, detail)
    assert "e-mails 1" in str(first)


def test_the_english_e_mail_for_an_english_contact(
    mailing: Services, clock: FakeClock, sink: SmtpSink
) -> None:
    """The language of the calls is the language of the e-mail."""
    unreachable_case(mailing, clock, language="en-US", email=ADDRESS, email_when_unreachable="yes")

    dispatch_once(mailing, NoWait())

    [received] = sink.received
    assert (
        "示例保险 (demo): we could not reach you for your follow-up"
        == (received.message["Subject"])
    )
    assert "could not reach you" in received.body


def test_a_number_on_the_do_not_call_list_gets_no_e_mail(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Listed after the last call but before the e-mail leaves: withheld, like the text."""
    unreachable_case(mailing, clock, email=ADDRESS, email_when_unreachable="yes")
    with sessions.begin() as session:
        add_number(session, PHONE, now=clock.now, source=DncSource.AGENT)

    assert 0 == dispatch_once(mailing, NoWait()).emails
    assert [] == sink.received
    assert [("email.withheld", "number on the do-not-call list")] == kinds(sessions, "email")


def test_a_contact_without_an_address_is_skipped_not_left_due(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Nothing to send to: skipped, said why, and not tried again on the next pass."""
    unreachable_case(mailing, clock, email=None, email_when_unreachable="yes")

    dispatch_once(mailing, NoWait())
    dispatch_once(mailing, NoWait())

    assert [] == sink.received
    assert [("email.skipped", "the contact has no e-mail address")] == kinds(sessions, "email")


def test_without_smtp_configured_the_e_mail_is_skipped(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """No IVR_SMTP_HOST: skipped for good (a message mailed weeks later would mislead)."""
    services.telephony = TextsOnly()  # type: ignore[assignment]
    unreachable_case(services, clock, email=ADDRESS, email_when_unreachable="yes")

    assert 0 == dispatch_once(services, NoWait()).emails
    [(kind, detail)] = kinds(sessions, "email")
    assert "email.skipped" == kind and detail is not None and "IVR_SMTP_HOST" in detail


def test_a_refused_e_mail_is_noted_and_not_retried(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """The server's 554: email.failed with its code only (never the server's text)."""
    unreachable_case(mailing, clock, email=ADDRESS, email_when_unreachable="yes")
    sink.reject_data = True

    dispatch_once(mailing, NoWait())
    sink.reject_data = False
    dispatch_once(mailing, NoWait())

    assert [] == sink.received
    [(kind, detail)] = kinds(sessions, "email")
    assert "email.failed" == kind and detail is not None and "554" in detail


def test_text_and_e_mail_go_together_when_both_are_on(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """Care insurance's "try SMS and e-mail": one of each."""
    unreachable_case(mailing, clock, email=ADDRESS, email_when_unreachable="yes")

    report = dispatch_once(mailing, NoWait())

    assert (1, 1) == (report.texts, report.emails)
    assert 1 == len(mailing.telephony.texts)  # type: ignore[union-attr]


def test_programs_without_the_option_send_no_e_mail(
    mailing: Services, sessions: sessionmaker[Session], clock: FakeClock, sink: SmtpSink
) -> None:
    """The option defaults to no; a template without it never notes one."""
    unreachable_case(mailing, clock, email=ADDRESS)
    unreachable_case(mailing, clock, ref="P-9", campaign="ward", template="post-discharge")

    dispatch_once(mailing, NoWait())

    assert ([], []) == (sink.received, kinds(sessions, "email"))


def test_the_csv_email_column_is_stored_on_the_contact(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Optional, normalised (domain lower-cased); a bad one rejects its line with the rule."""
    csv = (
        "external_ref,name,phone,hospital_exit_date,frequency,service,provider,"
        "next_appointment,email\n"
        "CARE-1,测试一,+12025550101,2030-01-06,monthly,home nursing,Care Co,2030-02-01,"
        "Someone@Example.COM\n"
        "CARE-2,测试二,+12025550102,2030-01-06,monthly,home nursing,Care Co,2030-02-01,\n"
        "CARE-3,测试三,+12025550103,2030-01-06,monthly,home nursing,Care Co,2030-02-01,"
        "not an address\n"
    )
    with sessions.begin() as session:
        create_campaign(
            session, name="care", template_name="care-insurance", overrides={}, now=clock.now
        )
    with sessions() as session:
        campaign_id = session.scalars(select(Campaign.id)).one()

    report = import_cases(sessions, campaign_id, io.StringIO(csv), now=clock.now)

    assert 2 == report.imported
    [error] = report.errors
    assert (4, "email: must be one e-mail address such as name@example.com") == (
        error.line,
        error.reason,
    )
    with sessions() as session:
        emails = sorted((c.phone, c.email) for c in session.scalars(select(Contact)).all())
    assert [("+12025550101", "Someone@example.com"), ("+12025550102", None)] == emails
