"""Appending to the audit log and checking its chain.

Every entry stores the hash of the entry before it and its own hash over its fields and that
previous hash, keyed with the installation's IVR_SECRET_KEY (HMAC-SHA256). Editing an entry's
fields, deleting an entry or slipping one in between breaks the chain at that point; and since the
hash is keyed, someone with write access to the database but not the key cannot recompute the
chain after an edit. (Entries cut off the end leave a shorter chain that still checks: note
the last hash `ivr audit verify` prints somewhere else to catch that.) Entries are written in
the caller's transaction, so an action and its audit entry commit together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ivr.db import is_postgres
from ivr.models import AuditEntry
from ivr.services import Services

GENESIS = "0" * 64  # the "previous hash" of the first entry
# Any fixed number: appenders on PostgreSQL queue on this transaction-scoped advisory lock so that
# two of them never chain onto the same last entry. (SQLite's BEGIN IMMEDIATE already serialises.)
_APPEND_LOCK = 0x1A0D17


class AuditKeyMissing(RuntimeError):
    """No IVR_SECRET_KEY: entries could be forged, so none are written."""


@dataclass(frozen=True)
class ChainBreak:
    """The first entry at which the log stops being what was written."""

    entry_id: int
    problem: str  # "altered" (its hash does not match its fields) | "broken link"


@dataclass(frozen=True)
class ChainReport:
    """What a walk along the chain found: how far it went, where it ended or broke."""

    checked: int  #: entries read, the broken one included
    last_id: int | None  #: the last entry read (None: the log is empty)
    last_hash: str | None  #: its entry_hash, to be noted elsewhere (truncation shows no break)
    broken: ChainBreak | None = None


def record(
    session: Session,
    services: Services,
    *,
    actor: str,
    action: str,
    object_kind: str,
    object_id: str | int,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the session's transaction and return it (flushed, with its id)."""
    key = _key(services)
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
    last = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        at=services.clock(),
        actor=actor,
        action=action,
        object_kind=object_kind,
        object_id=str(object_id),
        detail=dict(detail or {}),
        prev_hash=last or GENESIS,
    )
    entry.entry_hash = entry_hash(key, entry)
    session.add(entry)
    session.flush()
    return entry


def entry_hash(key: bytes, entry: AuditEntry) -> str:
    """HMAC-SHA256 over the entry's fields and the previous entry's hash."""
    at = entry.at.astimezone(UTC) if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    fields = [
        entry.prev_hash,
        at.isoformat(timespec="microseconds"),
        entry.actor,
        entry.action,
        entry.object_kind,
        entry.object_id,
        json.dumps(entry.detail or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    ]
    message = json.dumps(fields, ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_chain(session: Session, services: Services, *, batch: int = 1000) -> ChainBreak | None:
    """Walk the log in order; the first break, or None when every entry is as written."""
    return check_chain(session, services, batch=batch).broken


def check_chain(session: Session, services: Services, *, batch: int = 1000) -> ChainReport:
    """Walk the log in order up to its end or its first break, counting the entries read."""
    key = _key(services)
    previous_hash = GENESIS
    checked = 0
    last: tuple[int, str] | None = None
    for entry in _in_order(session, batch):
        checked += 1
        last = (entry.id, entry.entry_hash)
        if entry.prev_hash != previous_hash:
            # An entry removed (the link points at something else) or slipped in.
            return ChainReport(checked, *last, broken=ChainBreak(entry.id, "broken link"))
        if not hmac.compare_digest(entry.entry_hash, entry_hash(key, entry)):
            return ChainReport(checked, *last, broken=ChainBreak(entry.id, "altered"))
        previous_hash = entry.entry_hash
    return ChainReport(checked, *(last or (None, None)))


def recent_entries(
    session: Session,
    *,
    action: str | None = None,
    object_kind: str | None = None,
    object_id: str | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Entries newest first, optionally only one action or one object (or kind of object)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if object_kind is not None:
        query = query.where(AuditEntry.object_kind == object_kind)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    return list(session.scalars(query))


def entry_hash_at(session: Session, entry_id: int) -> str | None:
    """The stored hash of one entry (None if there is no such entry)."""
    return session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.id == entry_id))


def ensure_key(services: Services) -> None:
    """Raise AuditKeyMissing now, before starting work whose every step must be audited."""
    _key(services)


_COLUMNS = tuple(AuditEntry.__table__.columns)


def _in_order(session: Session, batch: int) -> Iterator[AuditEntry]:
    """Every entry by id, as detached copies read from plain rows.

    Plain rows, not ORM objects: a long log must not pile up in the session's identity map, and
    the caller's own objects in the session must not be expunged or refreshed by a check.
    """
    after = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield AuditEntry(**row._asdict())
        after = rows[-1].id


def _key(services: Services) -> bytes:
    secret = services.settings.secret_key
    if not secret:
        raise AuditKeyMissing("IVR_SECRET_KEY must be set: the audit log is keyed with it")
    # A key of its own, derived, so the audit chain never shares a key with other uses.
    return hmac.new(secret.encode(), b"ivr audit log v1", hashlib.sha256).digest()
