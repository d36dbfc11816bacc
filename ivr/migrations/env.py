"""Alembic environment for the packaged migrations; ivr.migrate is the way in.

ivr.migrate passes an open connection, already inside a transaction, in
config.attributes["connection"], so one engine (ivr.db.make_engine, with its SQLite pragmas and
BEGIN IMMEDIATE) does everything and every step commits or rolls back together.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from ivr.migrate import connect
from ivr.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline(url: str) -> None:
    """Write the SQL to standard output instead of running it (`--sql` mode)."""
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(connection: Connection) -> None:
    """Migrate on the given connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters little in place: batch mode rebuilds the table (copy, drop, rename).
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Pick the mode: offline, a connection from ivr.migrate, or one opened from the URL."""
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        if url is None:
            raise RuntimeError("set sqlalchemy.url to write SQL in offline mode")
        run_migrations_offline(url)
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations_online(connection)
        return
    if url is None:
        raise RuntimeError("run migrations through ivr.migrate, which passes the connection")
    with connect(url) as connection:
        run_migrations_online(connection)


main()
