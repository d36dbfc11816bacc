"""Keeping personal data out of places it does not belong."""

from __future__ import annotations

import re
from collections.abc import Iterable


def mask_phone(phone: str | None) -> str:
    """Show only the country code and the last four digits: +86*******8000."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    if len(digits) <= 6:
        return "*" * len(phone)
    head = "+" + digits[:2] if phone.startswith("+") else digits[:2]
    return head + "*" * (len(digits) - 6) + digits[-4:]


# A run of 7+ digits, optionally with +, spaces, dots, dashes or brackets: a phone number in any
# of the spellings providers' messages use. Not inside a word, so SIDs (AC1234...) stay intact.
_PHONE_LIKE = re.compile(r"(?<!\w)\+?\d(?:[\s().-]*\d){6,}(?!\w)")


def redact_phones(text: str, numbers: Iterable[str] = ()) -> str:
    """Replace the given numbers, and anything else shaped like a phone number, with <number>."""
    for number in numbers:
        if number:
            text = text.replace(number, "<number>")
    return _PHONE_LIKE.sub("<number>", text)
