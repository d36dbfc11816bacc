"""Reading the provider's webhook requests: form fields, query numbers, TwiML answers.

A missing or malformed field the handler needs is a 400 (the provider's request is broken, and
retrying it will not help); a field that is only informative never refuses the request.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from flask import Response, abort, request

log = logging.getLogger(__name__)

TWIML = "application/xml"


def query_int(name: str) -> int:
    """A number in the URL's query string (the row the URL was made for); 400 otherwise."""
    raw = request.args.get(name, "")
    if not raw.isdigit():
        abort(400, description=f"query parameter {name} must be a number")
    return int(raw)


def required(name: str) -> str:
    """A form field the handler cannot do without; 400 when absent or empty."""
    value = request.form.get(name)
    if not value:
        abort(400, description=f"form field {name} is required")
    return value


def optional_int(name: str) -> int | None:
    """A numeric form field, None when absent; 400 when it is not a number."""
    raw = request.form.get(name, "")
    try:
        return int(raw) if raw != "" else None
    except ValueError:
        abort(400, description=f"form field {name} must be a number")


def provider_time(name: str) -> datetime | None:
    """An RFC 2822 time field (Twilio writes "Mon, 07 Jan 2030 01:00:05 +0000"); None if unusable.

    A bad value is not worth refusing the callback for: the recording must still be fetched.
    """
    raw = request.form.get(name, "")
    try:
        parsed = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        log.warning("unreadable provider time", extra={"action": "webhook.bad_time", "field": name})
        return None
    # "-0000" (zone unknown) parses as naive; Twilio's times are UTC.
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def twiml(body: str) -> Response:
    """A TwiML document as the provider expects it."""
    return Response(body, mimetype=TWIML)
