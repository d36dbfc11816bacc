"""Run the Alembic migrations shipped in ivr/migrations; no alembic.ini needed.

To write a new migration, autogenerate it against a database at head and review it by hand:

    from alembic import command
    from ivr.migrate import alembic_config, connect
    with connect(url) as conn:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        command.revision(config, message="...", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ivr.db import make_engine

SCRIPT_LOCATION = "ivr:migrations"


class MigrationError(Exception):
    """A migration left rows that break a foreign key; nothing was committed."""


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic Config for the packaged migrations, optionally pointing at a database."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if database_url is not None:
        # Config values go through ConfigParser interpolation: a literal % (say, in a
        # URL-encoded password) must be doubled.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@contextmanager
def connect(database_url: str) -> Iterator[Connection]:
    """A connection inside one transaction for migrating; committed on success, else rolled back."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations rebuild a table (create a copy, drop the old one, rename).
                # With foreign keys enforced, dropping a table that other rows reference fails.
                # SQLite ignores this pragma inside a transaction, so it goes to the driver
                # before BEGIN; the references are checked before COMMIT instead (the
                # procedure in https://www.sqlite.org/lang_altertable.html). The engine is
                # disposed below, so no pooled connection keeps foreign keys off.
                conn.connection.cursor().execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        tables = sorted({row[0] for row in broken})
                        raise MigrationError(
                            f"foreign keys broken in {', '.join(tables)}; rolled back"
                        )
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database up to `revision`, creating the tables on an empty one."""
    _run(database_url, lambda config: command.upgrade(config, revision))


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops every table)."""
    _run(database_url, lambda config: command.downgrade(config, revision))


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found in ivr/migrations/versions")
    return head


def is_up_to_date(database_url: str) -> bool:
    """True when the database is at the newest shipped revision."""
    return current_revision(database_url) == head_revision()


def _run(database_url: str, run: Callable[[Config], None]) -> None:
    config = alembic_config(database_url)
    with connect(database_url) as conn:
        # env.py migrates on this connection; being in a transaction already, Alembic runs
        # every step inside it, so a failed upgrade leaves the database as it was.
        config.attributes["connection"] = conn
        run(config)
