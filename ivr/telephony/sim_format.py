"""How Twilio writes things, for the simulator: error bodies, sids, dates, numbers."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from werkzeug.wrappers import Request, Response

API_VERSION = "2010-04-01"
COUNTRIES = {"+1": "US", "+44": "GB", "+49": "DE", "+81": "JP", "+852": "HK", "+86": "CN"}
Json = dict[str, Any]


def json_response(status: int, payload: Json) -> Response:
    """A JSON answer with Twilio's content type."""
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def error_response(status: int, code: int, message: str) -> Response:
    """An error body the way Twilio's REST API writes it."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return json_response(
        status, {"code": code, "message": message, "more_info": more_info, "status": status}
    )


def not_found(request: Request) -> Response:
    """Twilio's 404 (code 20404) for the requested path."""
    return error_response(404, 20404, f"The requested resource {request.path} was not found")


def new_sid(prefix: str, rng: random.Random) -> str:
    """A Twilio-shaped sid: two letters and 32 hex digits (no prefix: a delivery token)."""
    return f"{prefix}{rng.getrandbits(128):032x}"


def rfc2822(moment: datetime) -> str:
    """A datetime as Twilio writes it in resources and callbacks."""
    return format_datetime(moment.astimezone(UTC))


def int_or(value: str | None, default: int) -> int:
    """An integer parameter; Twilio falls back to the default for junk."""
    try:
        return int(value) if value else default
    except ValueError:
        return default


def national_format(number: str) -> str:
    """Twilio's national format for NANP numbers, the number itself otherwise."""
    if re.fullmatch(r"\+1\d{10}", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def geography(prefix: str, number: str) -> dict[str, str]:
    """Twilio's geographic fields; the simulator knows only the country."""
    country = next((c for code, c in COUNTRIES.items() if number.startswith(code)), "")
    return {
        f"{prefix}City": "",
        f"{prefix}State": "",
        f"{prefix}Zip": "",
        f"{prefix}Country": country,
    }
