"""Once-only work shared by several processes: the first to insert a key does it.

Several `ivr dial` processes run the same scheduled jobs; a job that must happen once (the daily
digest of a day) takes a mark first. The primary key decides: on PostgreSQL a second insert of the
same key waits for the first transaction and then fails, so exactly one process proceeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ivr.models import JobMark


def take_mark(sessions: sessionmaker[Session], key: str, now: datetime) -> bool:
    """True if this process took the key (and must do the work); False if another one did."""
    try:
        with sessions.begin() as session:
            session.add(JobMark(key=key, at=now))
    except IntegrityError:
        return False
    return True


def give_back(sessions: sessionmaker[Session], key: str) -> None:
    """Remove a mark whose work failed, so that a later run may try again."""
    with sessions.begin() as session:
        session.execute(delete(JobMark).where(JobMark.key == key))
