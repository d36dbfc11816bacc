"""The writes of a claimed batch: its cases moved to in_call, their attempt rows inserted.

One statement on PostgreSQL (the UPDATE inside the INSERT's WITH), two on SQLite, whatever the
batch size: the rows travel as one array per column (see ivr.db.rows_of), so the statement's text
and its prepared plan stay the same from batch to batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, column, insert, literal, select, update
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from ivr.db import any_of, is_postgres, rows_of
from ivr.models import Attempt, AttemptStatus, Case, CaseStatus


@dataclass(frozen=True)
class ClaimedRow:
    """A due case this transaction holds and dials: what its attempt row is written from."""

    case_id: int
    attempts_made: int  # as read under the row's lock; the new attempt is number + 1
    language: str


def write_claims(
    connection: Connection, rows: Sequence[ClaimedRow], now: datetime
) -> dict[int, int]:
    """Move the cases to in_call and insert their attempts; the attempt id of each case id."""
    if not rows:
        return {}
    engine = connection.engine
    # The rows are ours (SKIP LOCKED on PostgreSQL, the one writing transaction on SQLite): the
    # attempts_made they were read with is the one incremented here.
    moved = (
        update(Case)
        .where(any_of(Case.id, [row.case_id for row in rows], engine))
        .values(status=CaseStatus.IN_CALL, attempts_made=Case.attempts_made + 1, next_call_at=None)
    )
    source = rows_of(
        "claimed",
        [column("case_id", Integer), column("number", Integer), column("language", String)],
        [(row.case_id, row.attempts_made + 1, row.language) for row in rows],
        engine,
    )
    given: dict[str, Any] = {
        "case_id": source.c.case_id,
        "number": source.c.number,
        "language": source.c.language,
        "status": literal(AttemptStatus.CREATED, Attempt.status.type),
        "created_at": literal(now, Attempt.created_at.type),
    }
    # The model's scalar defaults, spelled out: SQLAlchemy leaves them out of an INSERT that
    # carries an UPDATE in its WITH.
    values = given | {
        c.name: literal(c.default.arg, c.type)
        for c in Attempt.__table__.columns
        if c.name not in given and isinstance(c.default, ScalarElementColumnDefault)
    }
    attempts = select(*values.values())
    if is_postgres(engine):
        # Both writes in one round trip; only cases the UPDATE moved get an attempt.
        cte = moved.returning(Case.id).cte("moved")
        attempts = attempts.join(cte, cte.c.id == source.c.case_id)
    else:
        connection.execute(moved)  # SQLite has no UPDATE inside WITH
    written = connection.execute(
        insert(Attempt)
        .from_select(list(values), attempts, include_defaults=False)
        .returning(Attempt.case_id, Attempt.id)
    )
    return {case_id: attempt_id for case_id, attempt_id in written}
