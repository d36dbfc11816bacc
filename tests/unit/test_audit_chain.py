"""The audit entry's keyed hash: what it covers and what it ignores (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.audit.log import GENESIS, entry_hash
from ivr.models import AuditEntry

KEY = b"k" * 32
AT = datetime(2030, 1, 7, 1, 0, 0, 123456, tzinfo=UTC)


def entry(**changes: Any) -> AuditEntry:
    """An entry as `record` builds it, with some fields changed."""
    fields: dict[str, Any] = {
        "at": AT,
        "actor": "compliance-1",
        "action": "recording.hold",
        "object_kind": "recording",
        "object_id": "RE0001",
        "detail": {"reason": "complaint 17", "retain_until": "2060-01-07"},
        "prev_hash": GENESIS,
    }
    return AuditEntry(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"at": datetime(2030, 1, 7, 1, 0, 0, 123457, tzinfo=UTC)},
        {"actor": "compliance-2"},
        {"action": "recording.release"},
        {"object_kind": "case"},
        {"object_id": "RE0002"},
        {"detail": {"reason": "complaint 18", "retain_until": "2060-01-07"}},
        {"detail": {"reason": "complaint 17"}},
        {"prev_hash": "1" * 64},
    ],
)
def test_every_field_and_the_link_are_covered(changes: dict[str, Any]) -> None:
    """Changing any one field, or the previous hash, changes the entry's hash."""
    assert entry_hash(KEY, entry()) != entry_hash(KEY, entry(**changes))


def test_the_hash_is_keyed() -> None:
    """Another key gives another hash: without the key nobody can recompute the chain."""
    assert entry_hash(KEY, entry()) != entry_hash(b"j" * 32, entry())


def test_detail_key_order_and_the_time_zone_spelling_do_not_matter() -> None:
    """JSON round trips reorder keys and SQLite hands back naive UTC: the hash is the same."""
    reordered = entry(detail={"retain_until": "2060-01-07", "reason": "complaint 17"})
    naive = entry(at=AT.replace(tzinfo=None))
    assert entry_hash(KEY, entry()) == entry_hash(KEY, reordered) == entry_hash(KEY, naive)


def test_fields_cannot_be_shifted_into_each_other() -> None:
    """Fields are JSON-encoded, not joined: text moved from one to the next changes the hash."""
    one = entry(actor="ops", action="recording.hold")
    other = entry(actor='ops","recording', action="hold")
    assert entry_hash(KEY, one) != entry_hash(KEY, other)
