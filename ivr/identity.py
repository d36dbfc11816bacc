"""Identity facts (date of birth, last characters of the ID card) as keyed hashes; pure.

A fact is never stored, logged or shown in clear: the importer normalises it and keeps only
``fact_hash``; the call compares what the person keys in with ``fact_matches``. The key is the
instance secret (IVR_SECRET_KEY): without it a stolen database does not let anyone try the few
thousand possible dates of birth against the hashes. Changing the secret invalidates every stored
hash, so the cases of running campaigns would have to be imported again.

Normalisers raise ValueError with a reason that names the rule, never the value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

__all__ = [
    "FACTS_KEY",
    "ITEMS",
    "fact_hash",
    "fact_matches",
    "normalise",
    "normalise_dob",
    "normalise_id_last4",
    "visible_details",
]

FACTS_KEY = "facts"
"""The key of Case.details under which the hashes live: {"dob": "<hex>", "id_last4": "<hex>"}."""

MIN_BIRTH_YEAR = 1900

# [0-9], not \d: \d also matches full-width and other Unicode digits.
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_KEYED_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_ID_LAST4 = re.compile(r"[0-9X]{4}")


def normalise_dob(value: str) -> str:
    """A date of birth as 8 digits YYYYMMDD, from 'YYYY-MM-DD' (a CSV) or 'YYYYMMDD' (a keypad)."""
    text = value.strip()
    match = _ISO_DATE.fullmatch(text) or _KEYED_DATE.fullmatch(text)
    if match is not None:
        year, month, day = (int(part) for part in match.groups())
        try:
            born = date(year, month, day)
        except ValueError:
            pass
        else:
            if born.year >= MIN_BIRTH_YEAR:
                return born.strftime("%Y%m%d")
    raise ValueError(f"must be a real date from {MIN_BIRTH_YEAR} on, written YYYY-MM-DD")


def normalise_id_last4(value: str) -> str:
    """The last 4 characters of an ID card, upper-case; a keypad's '*' stands for X."""
    text = value.strip().upper().replace("*", "X")
    if _ID_LAST4.fullmatch(text) is None:
        raise ValueError("must be 4 characters, each a digit or X")
    return text


ITEMS: Mapping[str, Callable[[str], str]] = {
    "dob": normalise_dob,
    "id_last4": normalise_id_last4,
}
"""Each identity item a case can carry, with its normaliser."""


def normalise(item: str, value: str) -> str:
    """The canonical form of a fact; ValueError for an unknown item or a malformed value."""
    try:
        normaliser = ITEMS[item]
    except KeyError:
        raise ValueError(f"unknown identity item {item!r}; items: {', '.join(ITEMS)}") from None
    return normaliser(value)


def fact_hash(secret: str, item: str, value: str) -> str:
    """HMAC-SHA256 (hex) of the item's name and its normalised value, keyed with the secret."""
    if not secret:
        raise ValueError("identity facts need the instance secret (IVR_SECRET_KEY)")
    # The item is part of the message so a dob hash can never match an id_last4 one; the NUL
    # cannot occur in a normalised value, so no two (item, value) pairs give the same message.
    message = f"{item}\x00{normalise(item, value)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def fact_matches(secret: str, item: str, keyed_value: str, stored_hash: str) -> bool:
    """Whether what was keyed in is the stored fact; compared in constant time."""
    if not secret:
        raise ValueError("identity facts need the instance secret (IVR_SECRET_KEY)")
    try:
        candidate = fact_hash(secret, item, keyed_value)
    except ValueError:
        # Malformed input (wrong length, a '#' left in) cannot match any stored fact.
        candidate = ""
    # Bytes, not str: compare_digest refuses str holding anything but ASCII.
    return hmac.compare_digest(candidate.encode(), stored_hash.encode())


def visible_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A case's details without the fact hashes: what reports, exports and prompts may show."""
    return {key: value for key, value in details.items() if key != FACTS_KEY}
