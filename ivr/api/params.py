"""Reading a request's query and JSON body into plain values, or a 400/415 that says what is wrong.

Strings are refused when the database could not store them (a NUL character, a lone surrogate
from a JSON escape): PostgreSQL would fail on them, and a failure there is a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request

from ivr.api.errors import ApiError

MAX_ID = 2**31 - 1  # the primary keys are 32-bit integers on PostgreSQL
# The white space of JSON Schema's (ECMAScript's) \s, which the OpenAPI document's patterns use:
# Python's str.isspace() differs (it counts \x1c-\x1f and \x85, not \ufeff), and a client
# validating against the document must get the same answer as the API.
SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_NOT_SPACE = re.compile(f"[^{SPACE}]")


@dataclass(frozen=True)
class Text:
    """A string field of a JSON body."""

    max_length: int
    required: bool = False
    blank_ok: bool = True


def invalid(message: str) -> ApiError:
    """The 400 for a request that is not what the API documents."""
    return ApiError(400, "invalid_request", message)


def checked_text(value: str, where: str, max_length: int) -> str:
    """The string, if the database can store it and it is not too long."""
    if len(value) > max_length:
        raise invalid(f"{where} is longer than {max_length} characters")
    if "\x00" in value:
        raise invalid(f"{where} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{where} is not valid Unicode text") from None
    return value


def json_body(fields: Mapping[str, Text]) -> dict[str, str | None]:
    """The request's JSON object, with only these string fields (null allowed when optional)."""
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)"
        )
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    unknown = sorted(str(key) for key in data if key not in fields)
    if unknown:
        raise invalid(f"unknown fields: {', '.join(unknown)}; expected: {', '.join(fields)}")
    values: dict[str, str | None] = {}
    for name, spec in fields.items():
        value = data.get(name)
        if value is None:
            if spec.required:
                raise invalid(f"{name} is required")
            values[name] = None
            continue
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        if not spec.blank_ok and not _NOT_SPACE.search(value):
            raise invalid(f"{name} must not be blank")
        values[name] = checked_text(value, name, spec.max_length)
    return values


def query_text(name: str, max_length: int = 100) -> str | None:
    """A query parameter as text, or None when absent."""
    value = request.args.get(name)
    return None if value is None else checked_text(value, name, max_length)


def query_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter that must be one of `choices`, or None when absent."""
    value = request.args.get(name)
    if value is not None and value not in choices:
        raise invalid(f"{name} is one of {', '.join(choices)}")
    return value


def query_bool(name: str) -> bool:
    """A true/false query parameter; absent is false."""
    value = query_choice(name, ("true", "false"))
    return value == "true"


def query_int(name: str, *, default: int, minimum: int, maximum: int) -> int:
    """A whole-number query parameter within bounds."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise invalid(f"{name} is a whole number from {minimum} to {maximum}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise invalid(f"{name} is a whole number from {minimum} to {maximum}")
    return value


def checked_id(escalation_id: int) -> int:
    """An id from the path; past the key's range there is no such row (404, not a DB error)."""
    if not 1 <= escalation_id <= MAX_ID:
        raise ApiError(404, "not_found", f"there is no escalation {escalation_id}")
    return escalation_id
