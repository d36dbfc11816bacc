"""API tokens: made, listed, verified and revoked. Only a token's SHA-256 is stored.

A token is 32 random bytes (256 bits) from `secrets`, so a plain SHA-256 is enough to keep it:
there is nothing to guess offline, and no key is needed, so rotating IVR_SECRET_KEY does not
break the integrations. The token is shown once, when it is made; listings show its prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.audit.log import record
from ivr.models import ApiToken, StaffRole, StaffUser
from ivr.services import Services

SCHEME = "ivr_"  # tells an IVR token apart in a config file or a secret scanner's findings
PREFIX_LENGTH = 12  # "ivr_" and 8 characters of the secret: enough to tell tokens apart
# token_urlsafe(32) gives 43 characters; anything far longer is not ours and is not hashed.
MAX_TOKEN_LENGTH = 200
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,99}")


class TokenError(ValueError):
    """A token cannot be made or revoked; the message says why (never the token)."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: `secret` is shown to the person once and kept nowhere."""

    name: str
    username: str
    prefix: str
    secret: str


@dataclass(frozen=True)
class TokenSummary:
    """A token as `ivr tokens list` shows it."""

    name: str
    username: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenHolder:
    """Who a presented token acts as, and when the token was last marked used."""

    token_id: int
    user_id: int
    username: str
    role: StaffRole
    last_used_at: datetime | None


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_token_name(raw: str) -> str:
    """A token's name (the integration's): 2-100 lower-case letters, digits and . _ -."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name):
        raise TokenError(
            "a token name is 2-100 characters: lower-case letters, digits and . _ -, "
            "starting with a letter or digit (e.g. his-sync)"
        )
    return name


def make_token(
    session: Session, services: Services, *, name: str, username: str, actor: str
) -> NewToken:
    """Make a token acting as an active user; TokenError for a bad or used name, or no user."""
    token_name = normalise_token_name(name)
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None or not user.active:
        raise TokenError(f"there is no active user named {username.strip().lower()}")
    secret = SCHEME + secrets.token_urlsafe(32)
    row = ApiToken(
        name=token_name,
        user_id=user.id,
        token_hash=hash_token(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_at=services.clock(),
    )
    try:
        # The unique constraint settles two admins naming a token alike at once.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise TokenError(f"there is already a token named {token_name}") from None
    record(
        session,
        services,
        actor=actor,
        action="api_token.added",
        object_kind="api_token",
        object_id=row.id,
        detail={"name": token_name, "user": user.username, "prefix": row.prefix},
    )
    return NewToken(token_name, user.username, row.prefix, secret)


def revoke_token(session: Session, services: Services, *, name: str, actor: str) -> bool:
    """Stop a token working at once; False when it was already revoked."""
    token_name = normalise_token_name(name)
    row = session.scalar(select(ApiToken).where(ApiToken.name == token_name).with_for_update())
    if row is None:
        raise TokenError(f"there is no token named {token_name}")
    if row.revoked_at is not None:
        return False
    row.revoked_at = services.clock()
    record(
        session,
        services,
        actor=actor,
        action="api_token.revoked",
        object_kind="api_token",
        object_id=row.id,
        detail={"name": token_name, "prefix": row.prefix},
    )
    return True


def list_tokens(session: Session) -> list[TokenSummary]:
    """Every token, revoked ones too, by name."""
    rows = session.execute(
        select(ApiToken, StaffUser.username)
        .join(StaffUser, StaffUser.id == ApiToken.user_id)
        .order_by(ApiToken.name)
    ).all()
    return [
        TokenSummary(t.name, username, t.prefix, t.created_at, t.last_used_at, t.revoked_at)
        for t, username in rows
    ]


def token_holder(session: Session, presented: str) -> TokenHolder | None:
    """The active user a presented token acts as; None for an unknown or revoked token."""
    if not presented.startswith(SCHEME) or len(presented) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(presented)
    # The lookup is by the hash of a 256-bit secret: its timing tells nothing about the token.
    # The compare below is constant-time all the same, should the index ever match loosely.
    row = session.execute(
        select(ApiToken, StaffUser)
        .join(StaffUser, StaffUser.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).one_or_none()
    if row is None:
        return None
    token, user = row
    if not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None or not user.active:
        return None
    return TokenHolder(token.id, user.id, user.username, user.role, token.last_used_at)


def mark_used(session: Session, token_id: int, *, now: datetime, every_s: int) -> None:
    """Set last_used_at unless another request set it within `every_s` seconds."""
    # Conditional, so that of many workers seeing a stale mark only one writes it.
    cutoff = now - timedelta(seconds=every_s)
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at <= cutoff),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
