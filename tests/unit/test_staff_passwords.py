"""Staff passwords and user names: the rules and the hashing, with no database."""

from __future__ import annotations

import pytest

from ivr.staff.accounts import AccountError, normalise_username
from ivr.staff.passwords import (
    METHOD,
    MIN_LENGTH,
    PasswordRuleError,
    check_new_password,
    hash_password,
    password_matches,
)
from ivr.staff.signin import session_stamp

PASSWORD = "fictional-password-42"


@pytest.mark.parametrize("password", ["", "short", "x" * (MIN_LENGTH - 1), " " * 20, "y" * 257])
def test_a_password_too_short_too_long_or_blank_is_refused(password: str) -> None:
    """The message names the rule; the password itself never appears in it."""
    with pytest.raises(PasswordRuleError) as refused:
        check_new_password(password)
    assert password.strip() == "" or password not in str(refused.value)


def test_a_twelve_character_password_is_enough() -> None:
    """The minimum is inclusive."""
    check_new_password("a" * MIN_LENGTH)


def test_the_stored_hash_is_salted_scrypt_and_never_the_password() -> None:
    """OWASP's scrypt parameters (N=2^15, r=8, p=3), a fresh salt each time."""
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt:32768:8:3$") and METHOD == "scrypt:32768:8:3"
    assert PASSWORD not in first
    assert first != second  # salted
    assert password_matches(first, PASSWORD) and password_matches(second, PASSWORD)
    assert not password_matches(first, PASSWORD + "!")


def test_an_overlong_password_never_reaches_the_hash() -> None:
    """A megabyte of password is refused at once rather than hashed."""
    assert not password_matches(hash_password(PASSWORD), "z" * 1_000_000)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("wang.li", "wang.li"), ("  Wang.Li ", "wang.li"), ("qa-7@ward", "qa-7@ward")],
)
def test_user_names_are_trimmed_and_lower_cased(raw: str, stored: str) -> None:
    """One spelling per person: the same name in any case is the same user."""
    assert stored == normalise_username(raw)


@pytest.mark.parametrize("raw", ["", "a", "-lead", "wang li", "名字", "x" * 101, "a/b", "a;b"])
def test_user_names_outside_the_small_alphabet_are_refused(raw: str) -> None:
    """Names go into logs, URLs and the audit log: letters, digits and . _ - @ only."""
    with pytest.raises(AccountError):
        normalise_username(raw)


def test_the_session_stamp_is_keyed_and_follows_the_password_hash() -> None:
    """A new password ends old sessions; without the secret the stamp reveals nothing testable."""
    stamp = session_stamp("secret-one-0123456789", "scrypt:1$salt$hash")
    assert stamp == session_stamp("secret-one-0123456789", "scrypt:1$salt$hash")
    assert stamp != session_stamp("secret-one-0123456789", "scrypt:1$salt$other")
    assert stamp != session_stamp("secret-two-0123456789", "scrypt:1$salt$hash")
