"""Telling people by e-mail: a one-method mailer port, its SMTP adapter, message composition."""

from __future__ import annotations

from ivr.notify.mailer import Mailer, MailError, SmtpMailer, mailer_for

__all__ = ["MailError", "Mailer", "SmtpMailer", "mailer_for"]
