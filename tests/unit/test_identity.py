"""Identity facts as keyed hashes: normalisation, keying, constant-time comparison."""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from ivr.identity import (
    FACTS_KEY,
    fact_hash,
    fact_matches,
    normalise,
    normalise_dob,
    normalise_id_last4,
    visible_details,
)

SECRET = "test-secret-key-0123456789"
OTHER_SECRET = "another-secret-key-9876543210"
_FULLWIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}
FULLWIDTH_DOB = "1980-02-29".translate(_FULLWIDTH)  # as typed with a Chinese IME
FULLWIDTH_1234 = "1234".translate(_FULLWIDTH)


def test_same_fact_and_secret_give_the_same_hash() -> None:
    """Hashing is deterministic, so the call can compare with the hash stored at import."""
    first = fact_hash(SECRET, "dob", "1980-02-29")
    assert first == fact_hash(SECRET, "dob", "1980-02-29")
    assert 64 == len(first)
    assert set(first) <= set("0123456789abcdef")


def test_another_secret_gives_another_hash() -> None:
    """The hash is keyed: without the instance secret nobody can try dates against it."""
    assert fact_hash(SECRET, "dob", "1980-02-29") != fact_hash(OTHER_SECRET, "dob", "1980-02-29")


def test_another_value_gives_another_hash() -> None:
    """One day apart is a different fact."""
    assert fact_hash(SECRET, "dob", "1980-02-29") != fact_hash(SECRET, "dob", "1980-03-01")


def test_the_item_is_part_of_the_hash() -> None:
    """The same characters hashed as two items never collide (the item is in the message)."""
    message = b"dob\x0019800229"
    expected = hmac.new(SECRET.encode(), message, "sha256").hexdigest()
    assert expected == fact_hash(SECRET, "dob", "19800229")


@pytest.mark.parametrize(
    ("item", "csv_value", "keyed_value"),
    [
        ("dob", "1980-02-29", "19800229"),
        ("dob", " 1975-07-01 ", "19750701"),
        ("id_last4", "123x", "123*"),
        ("id_last4", "123X", "123*"),
        ("id_last4", "0042", "0042"),
    ],
)
def test_csv_spelling_and_keypad_spelling_hash_the_same(
    item: str, csv_value: str, keyed_value: str
) -> None:
    """'YYYY-MM-DD' in the CSV matches 8 keyed digits; '*' on the keypad stands for X."""
    assert fact_hash(SECRET, item, csv_value) == fact_hash(SECRET, item, keyed_value)


@pytest.mark.parametrize(
    ("value", "expected"), [("1980-02-29", "19800229"), ("19800229", "19800229")]
)
def test_dob_normalises_to_eight_digits(value: str, expected: str) -> None:
    """Both accepted spellings become YYYYMMDD."""
    assert expected == normalise_dob(value)


@pytest.mark.parametrize(
    "value",
    [
        "1981-02-29",
        "19810229",
        "1980-2-29",
        "1980/02/29",
        "800229",
        "1899-12-31",
        FULLWIDTH_DOB,
        "",
    ],
)
def test_bad_dob_is_refused_without_echoing_it(value: str) -> None:
    """Impossible dates, other shapes, pre-1900 and non-ASCII digits raise a rule, not the value."""
    with pytest.raises(ValueError) as caught:
        normalise_dob(value)
    assert "YYYY-MM-DD" in str(caught.value)
    if value:
        assert value not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"), [("123x", "123X"), ("12*4", "12X4"), ("0000", "0000")]
)
def test_id_last4_is_upper_case_with_star_as_x(value: str, expected: str) -> None:
    """Lower-case x and the keypad's * both become X."""
    assert expected == normalise_id_last4(value)


@pytest.mark.parametrize("value", ["123", "12345", "12A4", "12-4", "", FULLWIDTH_1234])
def test_bad_id_last4_is_refused(value: str) -> None:
    """Anything but 4 digits-or-X is refused."""
    with pytest.raises(ValueError, match="4 characters"):
        normalise_id_last4(value)


def test_unknown_item_is_refused() -> None:
    """Only the items the flows can verify are hashed."""
    with pytest.raises(ValueError, match="unknown identity item"):
        normalise("mother_maiden_name", "x")


def test_hashing_without_a_secret_is_refused() -> None:
    """An empty key would make the hashes a plain, guessable digest."""
    with pytest.raises(ValueError, match="IVR_SECRET_KEY"):
        fact_hash("", "dob", "1980-02-29")
    with pytest.raises(ValueError, match="IVR_SECRET_KEY"):
        fact_matches("", "dob", "19800229", "0" * 64)


@pytest.mark.parametrize(
    ("keyed", "expected"),
    [("19800229", True), ("19800228", False), ("1980022", False), ("19800229#", False)],
)
def test_fact_matches_the_keyed_value(keyed: str, expected: bool) -> None:
    """The right digits match; wrong or malformed ones do not (and do not raise)."""
    stored = fact_hash(SECRET, "dob", "1980-02-29")
    assert expected is fact_matches(SECRET, "dob", keyed, stored)


def test_fact_matches_fails_under_another_secret() -> None:
    """A hash made under one secret matches nothing under another."""
    stored = fact_hash(SECRET, "id_last4", "123X")
    assert not fact_matches(OTHER_SECRET, "id_last4", "123*", stored)


def test_fact_matches_compares_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison, malformed input included, goes through hmac.compare_digest."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stored = fact_hash(SECRET, "id_last4", "123X")
    assert fact_matches(SECRET, "id_last4", "123*", stored)
    assert not fact_matches(SECRET, "id_last4", "12", stored)
    assert 2 == len(calls)
    assert (stored.encode(), stored.encode()) == calls[0]


def test_visible_details_leave_the_hashes_out() -> None:
    """Reports, exports and prompts get the details without the facts."""
    details = {"premium": "12000", FACTS_KEY: {"dob": "ab" * 32}}
    assert {"premium": "12000"} == visible_details(details)
    assert FACTS_KEY in details  # the stored details are not changed
