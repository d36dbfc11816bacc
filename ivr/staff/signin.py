"""Checking a user name and password, with the lock-out kept in the user's row.

Five wrong passwords in a row lock the account for 15 minutes. The count and the lock live in
the staff_user row and are changed by one conditional UPDATE, so they hold across web workers
and processes, and two wrong guesses arriving together are both counted. The slow password
check runs with no transaction open: on SQLite every transaction holds the database's write
lock, and webhooks must not wait a quarter of a second behind a sign-in.

Every refusal looks the same from outside (same answer, about the same time): unknown user,
wrong password, disabled or locked account. Telling them apart would tell an attacker which user
names exist and when to come back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, literal, select, update

from ivr.audit.log import record
from ivr.models import StaffRole, StaffUser, UTCDateTime
from ivr.services import Services
from ivr.staff.accounts import AccountError, normalise_username
from ivr.staff.passwords import burn_equal_time, password_matches

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Staff:
    """A signed-in member of staff, as the request handlers see them."""

    id: int
    username: str
    role: StaffRole
    stamp: str  # changes when the password does: sessions opened before a change end


def session_stamp(secret_key: str, password_hash: str) -> str:
    """A keyed digest of the password hash, kept in the session cookie.

    Keyed, because the cookie is signed but readable: a plain digest of the hash would let
    whoever holds the cookie test password guesses offline.
    """
    key = hmac.new(secret_key.encode(), b"ivr staff session v1", hashlib.sha256).digest()
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def authenticate(services: Services, username: str, password: str) -> Staff | None:
    """The user, if the name and password match an active, unlocked account; else None."""
    now = services.clock()
    try:
        name = normalise_username(username)
    except AccountError:
        burn_equal_time(password)
        _refused("malformed user name", None, None)
        return None
    with services.sessions() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == name))
    if user is None:
        burn_equal_time(password)
        _refused("unknown user", None, None)
        return None
    if not user.active:
        burn_equal_time(password)
        _refused("disabled", user.id, user.username)
        return None
    if user.locked_until is not None and user.locked_until > now:
        # Not counted: the lock runs 15 minutes from the fifth failure, whatever follows.
        burn_equal_time(password)
        _refused("locked", user.id, user.username)
        return None
    if not password_matches(user.password_hash, password):
        _count_failure(services, user.id, now)
        _refused("wrong password", user.id, user.username)
        return None
    if user.failed_logins or user.locked_until is not None:
        with services.sessions.begin() as session:
            session.execute(
                update(StaffUser)
                .where(StaffUser.id == user.id)
                .values(failed_logins=0, locked_until=None)
            )
    log.info(
        "signed in", extra={"action": "staff.signed_in", "staff_id": user.id, "user": user.username}
    )
    stamp = session_stamp(services.settings.secret_key, user.password_hash)
    return Staff(user.id, user.username, user.role, stamp)


def _count_failure(services: Services, user_id: int, now: datetime) -> None:
    """Add one failure; the fifth locks the account and starts the count again."""
    until = now + LOCK_FOR
    reaches = StaffUser.failed_logins + 1 >= MAX_FAILURES
    with services.sessions.begin() as session:
        # One statement reads and writes the count, so concurrent failures cannot be lost.
        session.execute(
            update(StaffUser)
            .where(StaffUser.id == user_id)
            .values(
                failed_logins=case((reaches, 0), else_=StaffUser.failed_logins + 1),
                locked_until=case(
                    (reaches, literal(until, UTCDateTime())), else_=StaffUser.locked_until
                ),
            )
            .execution_options(synchronize_session=False)
        )
        user = session.get_one(StaffUser, user_id, populate_existing=True)
        if user.locked_until != until:
            return
        record(
            session,
            services,
            actor=user.username,
            action="staff.locked_out",
            object_kind="staff_user",
            object_id=user.id,
            detail={"failures": MAX_FAILURES, "until": until.isoformat()},
        )
    log.warning(
        "account locked after repeated wrong passwords",
        extra={"action": "staff.locked_out", "staff_id": user_id, "until": until.isoformat()},
    )


def _refused(why: str, user_id: int | None, username: str | None) -> None:
    # Whatever was typed as an unknown user name is not logged: it is often a password.
    log.warning(
        "sign-in refused",
        extra={"action": "staff.signin_refused", "why": why, "staff_id": user_id, "user": username},
    )
