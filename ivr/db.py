"""Engine and session factory; SQLite is tuned here for one writer at a time."""

from __future__ import annotations

import fcntl
import os
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    CursorResult,
    Engine,
    FromClause,
    Result,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

from ivr.outcome_webhook.outbox import install as install_outbox

# How long a transaction waits for the write lock before "database is locked"; also the busy
# timeout of every other statement, which in WAL mode almost never has to wait.
LOCK_WAIT_S = 30.0
# The pause between two tries for SQLite's write lock while a process that does not queue (below)
# holds it, e.g. the sqlite3 shell: drawn at random so that waiting processes do not retry in step.
_RETRY_PAUSE_S = (0.0002, 0.001)
# Beside the database file: the lock our processes queue on for the write lock (WriterQueue).
WRITER_LOCK_SUFFIX = "-writer"


class WriterQueue(sqlite3.Connection):
    """A SQLite connection that queues for the write lock in the kernel, not by polling.

    Every transaction takes SQLite's write lock at BEGIN (see _on_begin). SQLite cannot queue a
    waiting process: its busy handler, or our polling, sleeps and tries again, and with gunicorn's
    five workers on two cores the waiters' tries took the CPU from the holder while the lock sat
    free between them (the gather benchmark fell from 359 requests/s with one worker to 162 with
    five). An exclusive flock on a file beside the database is a queue the kernel keeps: a waiting
    process sleeps until the holder lets go and is woken at once. The flock is taken before
    BEGIN IMMEDIATE and let go after COMMIT or ROLLBACK, so between our processes BEGIN IMMEDIATE
    finds the lock free; a writer that does not queue (the sqlite3 shell) is still waited for by
    polling. The kernel drops the flock of a process that dies, so a killed worker never leaves it
    held. Unlike polling, the wait has no time limit: a process stopped inside a transaction holds
    up the others until it ends or dies, as it holds SQLite's write lock.
    """

    writer_lock: int | None = None  # the open lock file; None for a database without a file

    def queue_for_writing(self) -> None:
        if self.writer_lock is not None:
            fcntl.flock(self.writer_lock, fcntl.LOCK_EX)

    def done_writing(self) -> None:
        if self.writer_lock is not None:
            fcntl.flock(self.writer_lock, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.done_writing()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.done_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.writer_lock is not None:
                os.close(self.writer_lock)  # lets go of the flock too
                self.writer_lock = None


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite make the folder, turn on WAL and take the write lock up front."""
    parsed = make_url(url)
    # Error messages would otherwise carry the statement's values: names, phones, answers.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    database = parsed.database
    writer_lock_path: str | None = None
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        writer_lock_path = database + WRITER_LOCK_SUFFIX
        # Every transaction takes the write lock (below), so a second connection in this process
        # could only wait for it inside SQLite's busy handler, which sleeps in steps of up to
        # 100 ms while the lock may already be free. One pooled connection makes the threads of
        # a process queue in Python instead and hand over at once; other processes queue for it
        # in the kernel (WriterQueue).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
    connect_args = {"timeout": LOCK_WAIT_S, "check_same_thread": False, "factory": WriterQueue}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if writer_lock_path is not None:
            dbapi_connection.writer_lock = os.open(writer_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Durability: with WAL and synchronous=NORMAL a commit is written to the log but synced
        # only at checkpoints. A killed process (or a worker gunicorn restarts) loses nothing
        # committed, since the log is in the OS's page cache; a power cut or a kernel crash may
        # lose the last transactions, never corrupt the file. A webhook lost that way is a call
        # whose last answer is missing (Twilio had its TwiML), seen as a partial attempt. FULL
        # would sync the log at every commit, inside the write lock; use PostgreSQL instead
        # where the last transactions must survive a power cut.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY at the
        # upgrade no matter the timeout; taking the write lock at BEGIN makes every transaction a
        # single writer that waits its turn instead.
        raw = conn.connection.dbapi_connection
        raw.queue_for_writing()
        raw.execute("PRAGMA busy_timeout = 0")  # the waiting is done by _take_write_lock
        try:
            if not _take_write_lock(raw, LOCK_WAIT_S):
                # The last try goes through SQLAlchemy, so that a lock never freed fails as it
                # always did: sqlalchemy.exc.OperationalError, "database is locked".
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            raw.done_writing()
            raise
        finally:
            # Every other statement keeps the busy timeout, for the rare waits WAL still has
            # (a log being recovered after a crash).
            raw.execute(f"PRAGMA busy_timeout = {round(LOCK_WAIT_S * 1000)}")

    return engine


def _take_write_lock(dbapi_connection: sqlite3.Connection, wait_s: float) -> bool:
    """BEGIN IMMEDIATE, tried again every fraction of a millisecond while another process holds
    the lock; False after wait_s, or at once on any other error (the caller's last try says it).

    Gunicorn's workers are processes: they cannot queue for the lock in Python as the threads of
    one process do (one pooled connection, above), so they poll, with the busy timeout off.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            # The extended codes (SQLITE_BUSY_RECOVERY, ...) share the primary code's byte.
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(random.uniform(*_RETRY_PAUSE_S))


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit so shells can log them.

    Its sessions write an outcome webhook event with every final outcome they commit
    (ivr.outcome_webhook.outbox), whichever code closed the case.
    """
    sessions = sessionmaker(engine, expire_on_commit=False)
    install_outbox(sessions)
    return sessions


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine a session factory is bound to."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


def is_postgres(engine: Engine) -> bool:
    """True when the engine speaks PostgreSQL (claims then use SKIP LOCKED)."""
    return engine.dialect.name == "postgresql"


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (conditional updates are how this product takes turns)."""
    return cast(CursorResult[Any], result).rowcount


# psycopg parses a statement's placeholders in Python, and caches the result only for statements
# of at most 50 parameters and 4 KiB: one parameter per row of a batch re-parses (milliseconds)
# on every execution. An array per column keeps the text, and so the parse and the server's
# prepared plan, the same whatever the batch size.


def any_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], items: Sequence[Any], engine: Engine
) -> ColumnElement[bool]:
    """`column IN items`; on PostgreSQL one array parameter, the same statement for any count."""
    if is_postgres(engine):
        return column == any_(bindparam(None, list(items), type_=ARRAY(column.type)))
    return column.in_(items)


def rows_of(
    name: str, columns: Sequence[ColumnClause[Any]], data: Sequence[Sequence[Any]], engine: Engine
) -> FromClause:
    """A FROM source of `data` rows named `name`: unnest of arrays on PostgreSQL, else VALUES."""
    if is_postgres(engine):
        arrays = [
            bindparam(None, [row[n] for row in data], type_=ARRAY(col.type))
            for n, col in enumerate(columns)
        ]
        return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)
    # SQLite names a VALUES list's columns only in a CTE.
    return values(*columns, name=name).data([tuple(row) for row in data]).cte(name)
