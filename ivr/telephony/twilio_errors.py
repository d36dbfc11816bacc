"""How Twilio's failures read: which codes mean a bad number, what was never sent, backoff."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from ivr.privacy import redact_phones
from ivr.telephony.port import TelephonyError

# Codes that mean this number cannot be called as given, so retrying the attempt changes nothing
# (twilio.com/docs/api/errors/<code>): 21211 invalid 'To' number, 21214 'To' cannot be reached,
# 21215 geo permissions forbid the destination, 21216 number blocked by Twilio (fraud risk or
# regulation), 21217 number does not appear valid, 21401 invalid phone number, 21610 recipient
# unsubscribed, 13223 not E.164, 13224 not a callable number, 13226 unknown country code.
# Not here: 21612 ("not currently reachable", a messaging code that says "currently").
PERMANENT_NUMBER_CODES = frozenset(
    {13223, 13224, 13226, 21211, 21214, 21215, 21216, 21217, 21401, 21610}
)

# Codes that mean this number can never get a text message from us, so the SMS fallback should
# move on to the next channel (checked against twilio.com/docs/api/errors/<code>): 21211 invalid
# 'To' number, 21610 the recipient replied STOP (blocked until they send START), 21614 'To' is
# not a valid mobile number (a landline, say), 21635 'To' is a landline where Twilio does not try.
# Not here: 21401, 21606 and kin are about our own sender, which no retry of this case can fix.
PERMANENT_SMS_CODES = frozenset({21211, 21610, 21614, 21635})

TOO_MANY_REQUESTS = 429
TOO_MANY_REQUESTS_CODE = 20429

TwilioError: TypeAlias = TwilioRestException | TwilioServiceException
TWILIO_ERRORS = (TwilioRestException, TwilioServiceException)


@dataclass(frozen=True)
class Kind:
    """How errors name one kind of create (a call or a message)."""

    noun: str
    done: str  # "placed" / "sent"
    refused: str  # "call this number"
    failed: str  # "place the call"
    permanent_codes: frozenset[int]


CALL = Kind("call", "placed", "call this number", "place the call", PERMANENT_NUMBER_CODES)
MESSAGE = Kind("message", "sent", "text this number", "send the message", PERMANENT_SMS_CODES)


def full_jitter(ceiling: float) -> float:
    """A backoff sleep drawn uniformly from [0, ceiling] ("full jitter").

    Clients throttled together and backing off by the same exponent would otherwise come back
    together, and be throttled together again.
    """
    return random.uniform(0.0, ceiling)


def backoff_ceiling(attempt: int, base_s: float, cap_s: float) -> float:
    """The exponential ceiling of retry `attempt` (0 first): base * 2**attempt, at most cap."""
    return min(cap_s, base_s * 2.0**attempt)


def twilio_error(
    exc: TwilioError,
    action: str,
    numbers: Iterable[str],
    *,
    permanent: bool = False,
    maybe_placed: bool = False,
) -> TelephonyError:
    """Build a TelephonyError from Twilio's error, with every phone number masked."""
    detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    return TelephonyError(
        f"Twilio refused to {action} (HTTP {exc.status}, code {exc.code}): "
        f"{redact_phones(str(detail), numbers)}",
        code=exc.code,
        http_status=exc.status,
        permanent=permanent,
        maybe_placed=maybe_placed,
    )


def is_429(exc: TwilioError) -> bool:
    """Tell whether Twilio refused the request as too many (never processed)."""
    return bool(exc.status == TOO_MANY_REQUESTS or exc.code == TOO_MANY_REQUESTS_CODE)


def nothing_sent(exc: requests.RequestException) -> bool:
    """Tell whether the request failed while connecting, so Twilio never saw it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    # Refused connections and DNS failures arrive as ConnectionError(MaxRetryError(reason=
    # NewConnectionError / NameResolutionError)), ConnectTimeoutError subclasses: urllib3's
    # "server did not receive the request". A dropped connection after sending is a
    # ProtocolError instead.
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, ConnectTimeoutError)
