"""The importer's bulk INSERTs store exactly what an ORM flush stores, and hand back the ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from ivr.cases.bulk import insert_rows
from ivr.models import Case, CaseOutcome, CaseStatus, Contact
from tests import factories

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

NOW = datetime(2030, 1, 10, 1, 0, 0, 250_000, tzinfo=UTC)
CONTACT: dict[str, Any] = {
    "name": "测试患者",
    "phone": "+8613800138000",
    "language": "zh-CN",
    "timezone": "Asia/Shanghai",
    "sex": None,
    "age": 61,
    "email": None,
}


def case_values(campaign_id: int, contact_id: int, ref: str) -> dict[str, Any]:
    """Every column of a case, with a value of each kind: enum, NULL enum, dates, JSON."""
    return {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "external_ref": ref,
        "anchor_date": date(2030, 1, 3),
        "department": "心内科",
        "ward": None,
        "details": {"doctor": "Dr 3", "diagnosis": ""},
        "status": CaseStatus.DONE,
        "outcome": CaseOutcome.MISSED_DEADLINE,
        "excluded_reason": None,
        "attempts_made": 0,
        "next_call_at": None,
        "deadline_at": NOW + timedelta(days=3),
        "done_at": NOW.astimezone(UTC),
        "created_at": NOW,
    }


def stored(engine: Engine, ref: str) -> tuple[Any, ...]:
    """The case's and its contact's columns as the database holds them (no ORM conversion)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                'SELECT c.*, t.* FROM "case" c JOIN contact t ON t.id = c.contact_id'
                " WHERE c.external_ref = :ref"
            ),
            {"ref": ref},
        ).one()
    mapping = dict(row._mapping)
    return tuple(v for k, v in mapping.items() if k not in {"id", "contact_id", "external_ref"})


def test_bulk_rows_are_stored_as_the_orm_stores_them(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """The same values through insert_rows and through session.add give the same stored row."""
    with sessions.begin() as session:
        campaign_id = factories.campaign(session, NOW).id
        contact = Contact(**CONTACT)
        session.add(
            Case(contact=contact, **case_values(campaign_id, 0, "ORM") | {"contact_id": None})
        )
    with sessions.begin() as session:
        connection = session.connection()
        [contact_id] = insert_rows(connection, Contact.metadata.tables["contact"], [CONTACT])
        insert_rows(
            connection, Case.metadata.tables["case"], [case_values(campaign_id, contact_id, "BULK")]
        )

    assert stored(engine, "ORM") == stored(engine, "BULK")


def test_bulk_ids_come_back_in_row_order(sessions: sessionmaker[Session]) -> None:
    """Each returned id is the id of the row in the same position, after rows already there."""
    with sessions.begin() as session:
        session.add(Contact(**CONTACT))
    rows = [CONTACT | {"name": f"Patient {n}"} for n in range(1, 1201)]
    with sessions.begin() as session:
        ids = insert_rows(session.connection(), Contact.metadata.tables["contact"], rows)
    with sessions() as session:
        names = {id_: name for id_, name in session.execute(select(Contact.id, Contact.name))}

    assert [row["name"] for row in rows] == [names[i] for i in ids]
    assert 1201 == len(names)
