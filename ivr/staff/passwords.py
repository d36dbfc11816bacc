"""Password hashing for staff accounts: scrypt through werkzeug, with OWASP's parameters.

Why scrypt: it is memory-hard (each guess costs 32 MiB as well as CPU time, which blunts GPU and
ASIC cracking), it ships with Python (hashlib, through OpenSSL), and werkzeug, already installed
with Flask, reads and writes it in a self-describing format ("scrypt:N:r:p$salt$hash"), so the
cost can be raised later while old hashes keep working. argon2id would be the first choice but
needs an extra native dependency (argon2-cffi); PBKDF2 is not memory-hard. The parameters are
OWASP's scrypt setting N=2^15, r=8, p=3 (werkzeug's default uses p=1, a third of that work).
"""

from __future__ import annotations

from functools import cache
from secrets import token_urlsafe

from werkzeug.security import check_password_hash, generate_password_hash

METHOD = "scrypt:32768:8:3"
MIN_LENGTH = 12
# Long enough for any passphrase; bounds the work one sign-in request can ask of the server.
MAX_LENGTH = 256


class PasswordRuleError(ValueError):
    """The new password breaks a rule; the message names the rule, never the password."""


def check_new_password(password: str) -> None:
    """Refuse a password that is too short, too long or all blank."""
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"the password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(f"the password must be at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordRuleError("the password must not be only spaces")


def hash_password(password: str) -> str:
    """A salted hash to store; the password itself is never kept."""
    return generate_password_hash(password, method=METHOD)


def password_matches(stored_hash: str, password: str) -> bool:
    """Compare in constant time; the cost comes from the stored hash's own parameters."""
    if len(password) > MAX_LENGTH:
        return False
    return check_password_hash(stored_hash, password)


def burn_equal_time(password: str) -> None:
    """Check against a throwaway hash, so an unknown user costs as long as a wrong password."""
    check_password_hash(_decoy(), password[:MAX_LENGTH])


@cache
def _decoy() -> str:
    # Made once per process with the same parameters as real hashes.
    return hash_password(token_urlsafe(24))
