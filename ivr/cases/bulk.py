"""Many rows into one table, each row's new id back in order: the importer's INSERTs.

Core executemany, not ORM objects: building, tracking and flushing a mapped object per contact and
per case cost more than all the rest of an import. Values go through the columns' own types
(enums, UTC datetimes, JSON) exactly as an ORM flush would send them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, func, insert, select
from sqlalchemy.types import Date, DateTime, Enum, TypeDecorator

__all__ = ["insert_rows", "insert_values"]


def insert_rows(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> Sequence[int]:
    """INSERT rows (every one with the same keys, no id) into table; their new ids, in order."""
    if not rows:
        return []
    keys = tuple(rows[0])
    return insert_values(connection, table, keys, [tuple(row[k] for k in keys) for row in rows])


def insert_values(
    connection: Connection, table: Table, keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Sequence[int]:
    """insert_rows for rows given as values in the order of ``keys``: no dict built per row."""
    if not rows:
        return []
    if connection.dialect.name != "sqlite":
        # PostgreSQL orders RETURNING by a sentinel SQLAlchemy adds: one statement per 1,000 rows.
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        params = [dict(zip(keys, row, strict=True)) for row in rows]
        return list(connection.execute(statement, params).scalars())
    # SQLite does not promise RETURNING rows in VALUES order, so SQLAlchemy would send one INSERT
    # a row to pair ids with rows. SQLite writes one transaction at a time, and only on the
    # latest snapshot: the ids after the largest this transaction sees are its own (a writer
    # slipping in between makes this INSERT fail with SQLITE_BUSY, it cannot collide), and
    # they are the ones SQLite would have chosen itself.
    largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
    ids = range(largest + 1, largest + 1 + len(rows))
    sql, order, converters = _sqlite_insert(connection.dialect, table, tuple(keys))
    # The per-row work of Connection.execute (a parameter dict built, then converted key by
    # key) was most of the INSERT's cost. Here the rows are turned into columns, each column
    # with a converter goes through it at once, and the columns are zipped back into rows.
    columns = dict(zip(keys, zip(*rows, strict=True), strict=True))
    cells = [ids, *(_converted(columns[key], converters.get(key)) for key in order[1:])]
    connection.exec_driver_sql(sql, list(zip(*cells, strict=True)))
    return ids


_Converter = tuple[Callable[[Any], Any], bool, bool]  # convert, skips None, memoised


@functools.lru_cache(maxsize=16)
def _sqlite_insert(
    dialect: Dialect, table: Table, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...], dict[str, _Converter]]:
    """The INSERT (id first) as SQL, the order it binds, and the columns' converters."""
    compiled = insert(table).compile(dialect=dialect, column_keys=["id", *keys])
    order = tuple(compiled.positiontup or ("id", *keys))
    if order[0] != "id" or sorted(order) != sorted(["id", *keys]):
        raise AssertionError(f"INSERT INTO {table} binds {order}, not id then {keys}")
    converters = {
        key: converter for key in keys if (converter := _converter(dialect, table, key)) is not None
    }
    return compiled.string, order, converters


def _converter(dialect: Dialect, table: Table, key: str) -> _Converter | None:
    """The column's bind processor on this dialect (None: as it is), and how to apply it."""
    column_type = table.c[key].type
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    # None skips the processor except where the type stores None as something (JSON's null).
    skips_none = not column_type.should_evaluate_none
    stored = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
    # A batch holds a handful of distinct dates and instants (created_at is one, deadlines one a
    # day) and statuses: converting each (to UTC, then to SQLite's text) once saves most of it.
    memoised = isinstance(stored, Date | DateTime | Enum)
    return processor, skips_none, memoised


def _converted(values: tuple[Any, ...], converter: _Converter | None) -> Iterable[Any]:
    """One column's values as the driver takes them, each distinct one converted once."""
    if converter is None:
        return values
    convert, skips_none, memoised = converter
    if memoised:  # hashable, and equal values convert alike
        seen = {value: convert(value) for value in set(values) if value is not None}
        if None in values:
            seen[None] = None if skips_none else convert(None)
        return map(seen.__getitem__, values)
    # Others (JSON) by identity: rows sharing one object (the importer's details) convert it once.
    distinct = {id(value): value for value in values}
    by_id = {
        key: None if value is None and skips_none else convert(value)
        for key, value in distinct.items()
    }
    return map(by_id.__getitem__, map(id, values))
