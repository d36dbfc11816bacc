"""Many rows into one table, each row's new id back in order: the importer's INSERTs.

Core executemany, not ORM objects: building, tracking and flushing a mapped object per contact and
per case cost more than all the rest of an import. Values go through the columns' own types
(enums, UTC datetimes, JSON) exactly as an ORM flush would send them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.types import Date, DateTime, Enum, TypeDecorator

__all__ = ["insert_rows"]


def insert_rows(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> Sequence[int]:
    """INSERT rows (every one with the same keys, no id) into table; their new ids, in order."""
    if not rows:
        return []
    if connection.dialect.name != "sqlite":
        # PostgreSQL orders RETURNING by a sentinel SQLAlchemy adds: one statement per 1,000 rows.
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(connection.execute(statement, list(rows)).scalars())
    # SQLite does not promise RETURNING rows in VALUES order, so SQLAlchemy would send one INSERT
    # a row to pair ids with rows. SQLite writes one transaction at a time, and only on the
    # latest snapshot: the ids after the largest this transaction sees are its own (a writer
    # slipping in between makes this INSERT fail with SQLITE_BUSY, it cannot collide), and
    # they are the ones SQLite would have chosen itself.
    largest = connection.execute(select(func.max(table.c.id))).scalar() or 0
    ids = range(largest + 1, largest + 1 + len(rows))
    keys = ["id", *rows[0]]
    compiled = insert(table).compile(dialect=connection.dialect, column_keys=keys)
    order = list(compiled.positiontup or keys)
    if order[0] != "id" or sorted(order) != sorted(keys):
        raise AssertionError(f"INSERT INTO {table} binds {order}, not id then {keys[1:]}")
    cells = operator.itemgetter(*order[1:])
    # The per-row work of Connection.execute (a parameter dict built, then converted key by
    # key) was most of the INSERT's cost; the same converters, applied only to the columns
    # that have one, are not.
    converting = [
        (index, convert, skips_none)
        for index, key in enumerate(order)
        for convert, skips_none in [_converter(connection, table, key)]
        if convert is not None
    ]
    values: list[tuple[Any, ...]] = []
    for row_id, row in zip(ids, rows, strict=True):
        cell = [row_id, *cells(row)]
        for index, convert, skips_none in converting:
            value = cell[index]
            if value is not None or not skips_none:
                cell[index] = convert(value)
        values.append(tuple(cell))
    connection.exec_driver_sql(compiled.string, values)
    return ids


def _converter(
    connection: Connection, table: Table, key: str
) -> tuple[Callable[[Any], Any] | None, bool]:
    """The column's bind processor on this dialect (None: as it is), and whether None skips it."""
    dialect = connection.dialect
    column_type = table.c[key].type
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    # None skips the processor except where the type stores None as something (JSON's null).
    skips_none = not column_type.should_evaluate_none
    stored = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
    if processor is not None and isinstance(stored, Date | DateTime | Enum):
        # A batch holds a handful of distinct dates and instants (created_at is one, deadlines
        # one a day) and statuses: converting each (to UTC, then to SQLite's text) once saves
        # most of the work.
        return _memoised(processor), skips_none
    return processor, skips_none


def _memoised(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value not in seen:
            seen[value] = processor(value)
        return seen[value]

    return convert
