"""The mailer port (one method) and its SMTP adapter, configured by IVR_SMTP_*.

Exceptions:

    MailError           the message was not accepted; nothing can be assumed delivered
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from ivr.config import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 15.0  # a hung relay must not hold the scheduler's job (and its row locks) long
SMTPS_PORT = 465


class MailError(Exception):
    """The mail server did not accept the message."""

    def __init__(self, kind: str, code: int | None = None) -> None:
        # Only the error's kind and SMTP code: the server's text often echoes the addresses.
        self.kind = kind
        self.code = code
        super().__init__(f"mail not accepted: {kind}" + (f" (SMTP {code})" if code else ""))


class Mailer(Protocol):
    """Hands one message to a mail server; returns only once it was accepted."""

    def send(self, message: EmailMessage) -> None:
        """Send the message to its To recipients, or raise MailError."""
        ...


class SmtpMailer:
    """Sends through an SMTP relay, with STARTTLS or SMTPS and optional login."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = True,
        timeout: float = SMTP_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.starttls = starttls
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpMailer({self.host!r}, {self.port}, starttls={self.starttls})"

    def send(self, message: EmailMessage) -> None:
        """Send the message, or raise MailError (connection refused, rejected, timed out)."""
        try:
            with self._connect() as smtp:
                if self.starttls and self.port != SMTPS_PORT:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self._password)
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise MailError(type(exc).__name__, exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(type(exc).__name__) from None
        if refused:
            # Some recipients were refused, others accepted: the message went out (sending it
            # again would repeat it to those who have it), but someone missed it: say so.
            log.warning(
                "mail refused for some recipients",
                extra={"action": "mail.partly_refused", "refused": len(refused)},
            )

    def _connect(self) -> smtplib.SMTP:
        if self.port == SMTPS_PORT:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def mailer_for(settings: Settings) -> Mailer | None:
    """The configured mailer, or None when no SMTP host or no supervisor is configured."""
    if not settings.smtp_host or not settings.supervisor_emails or not settings.smtp_from:
        return None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )
