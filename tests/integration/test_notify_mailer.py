"""The SMTP mailer against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from ivr.config import Settings
from ivr.notify import MailError, SmtpMailer, mailer_for
from tests.smtp_sink import SmtpSink, running_sink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with running_sink() as server:
        yield server


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = "[ivr] test"
    mail["From"] = "ivr@example.test"
    mail["To"] = "duty.supervisor@example.test, ward.lead@example.test"
    mail.set_content("病例 P-0001 逾期\n")
    return mail


def test_a_message_reaches_every_recipient(sink: SmtpSink) -> None:
    """Envelope from the From header, one RCPT per To address, the body intact (UTF-8)."""
    SmtpMailer("127.0.0.1", sink.port, starttls=False).send(message())
    (received,) = sink.received
    assert received.mail_from == "ivr@example.test"
    assert received.rcpt_to == ["duty.supervisor@example.test", "ward.lead@example.test"]
    assert received.body == "病例 P-0001 逾期\n"


def test_a_rejected_message_raises_with_the_smtp_code_only(sink: SmtpSink) -> None:
    """554 from the relay: MailError carries the code, not the server's text or addresses."""
    sink.reject_data = True
    with pytest.raises(MailError) as raised:
        SmtpMailer("127.0.0.1", sink.port, starttls=False).send(message())
    assert raised.value.code == 554
    assert "example.test" not in str(raised.value)
    assert sink.received == []


def test_no_server_listening_raises_mail_error() -> None:
    """A refused connection is a MailError too, so callers handle one type."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(MailError):
        SmtpMailer("127.0.0.1", port, starttls=False, timeout=2).send(message())


def test_starttls_against_a_server_without_it_fails_rather_than_send_in_clear(
    sink: SmtpSink,
) -> None:
    """The sink offers no STARTTLS: the mailer refuses to go on without it."""
    with pytest.raises(MailError):
        SmtpMailer("127.0.0.1", sink.port, starttls=True).send(message())
    assert sink.received == []


def test_no_mailer_without_a_host_or_supervisors() -> None:
    """Mail is off unless the host, the sender and the supervisors are all set."""
    full = Settings(
        smtp_host="127.0.0.1", smtp_from="ivr@example.test", supervisor_emails=("a@example.test",)
    )
    assert mailer_for(full) is not None
    assert mailer_for(Settings()) is None
    assert mailer_for(full.with_(supervisor_emails=())) is None
    assert "password" not in repr(mailer_for(full.with_(smtp_password="password")))
