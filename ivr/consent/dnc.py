"""The do-not-call list: add, remove, look up. Every function runs in the caller's transaction.

An entry is in force while `now < until` (`until` None: indefinitely). Adding a number that is
already listed updates its row; an entry still in force is never shortened by a new add (the
later `until` wins, indefinite beats any date), so a CSV with dates cannot cut short the 6 months
a person asked for by pressing a key. To shorten an entry, remove it and add it again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ivr.consent.caps import start_of_day
from ivr.db import rowcount
from ivr.models import DncSource, DoNotCall
from ivr.privacy import mask_phone

__all__ = [
    "add_number",
    "in_force",
    "list_numbers",
    "listed_entry",
    "listed_through",
    "normalise_phone",
    "remove_number",
]

log = logging.getLogger(__name__)

DEFAULT_REGION = "CN"  # as the campaigns' default_region: national numbers are read as Chinese


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """The number as E.164, as the case importer stores it; ValueError says why, never the cell."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def listed_through(day: date, tz: ZoneInfo) -> datetime:
    """The `until` of an entry kept through the whole of `day` in tz: the next local midnight."""
    return start_of_day(day + timedelta(days=1), tz)


def in_force(entry: DoNotCall, now: datetime) -> bool:
    """True while the entry keeps its number from being dialled."""
    return entry.until is None or now < entry.until


def add_number(
    session: Session,
    phone: str,
    *,
    now: datetime,
    source: DncSource,
    reason: str | None = None,
    until: datetime | None = None,
    added_by: str | None = None,
) -> DoNotCall:
    """Put an E.164 number on the list (or update its entry); in force from this transaction."""
    if until is not None and until <= now:
        raise ValueError("until must be in the future")
    values = {
        "phone": phone,
        "added_at": now,
        "until": until,
        "source": source,
        "reason": reason,
        "added_by": added_by,
    }
    # Two requests for one number at once (a key press while the CSV imports) both get here: the
    # unique constraint lets one insert win; the other finds the row and updates it.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = rowcount(
        session.execute(insert(DoNotCall).values(**values).on_conflict_do_nothing())
    )
    entry = session.scalars(
        select(DoNotCall)
        .where(DoNotCall.phone == phone)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if inserted != 1:
        if in_force(entry, now):
            until = None if entry.until is None or until is None else max(entry.until, until)
        entry.added_at = now
        entry.until = until
        entry.source = source
        entry.reason = reason
        entry.added_by = added_by
    session.flush()
    log.info(
        "number added to the do-not-call list",
        extra={
            "action": "dnc.added",
            "to": mask_phone(phone),
            "source": source.value,
            "until": None if entry.until is None else entry.until.isoformat(),
        },
    )
    return entry


def remove_number(session: Session, phone: str, *, removed_by: str | None = None) -> bool:
    """Take a number off the list (logged: its calls may resume); False if it was not on it."""
    entry = session.scalars(select(DoNotCall).where(DoNotCall.phone == phone)).one_or_none()
    if entry is None:
        return False
    session.delete(entry)
    session.flush()
    log.warning(
        "number removed from the do-not-call list",
        extra={
            "action": "dnc.removed",
            "to": mask_phone(phone),
            "source": entry.source.value,
            "removed_by": removed_by,
        },
    )
    return True


def listed_entry(session: Session, phone: str, now: datetime) -> DoNotCall | None:
    """The number's entry if it is in force now, else None."""
    return session.scalars(
        select(DoNotCall).where(
            DoNotCall.phone == phone, or_(DoNotCall.until.is_(None), DoNotCall.until > now)
        )
    ).one_or_none()


def list_numbers(
    session: Session, now: datetime, *, include_expired: bool = False
) -> list[DoNotCall]:
    """The entries, newest first; only those in force unless include_expired."""
    query = select(DoNotCall).order_by(DoNotCall.added_at.desc(), DoNotCall.id.desc())
    if not include_expired:
        query = query.where(or_(DoNotCall.until.is_(None), DoNotCall.until > now))
    return list(session.scalars(query))
