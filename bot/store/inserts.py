"""A new row written by one prepared Core ``INSERT``, its object kept as loaded.

The hot paths create a ticket and a comment per message. Through the unit of
work each costs a flush (dependency sort, state bookkeeping, history), about
as much as the rest of the message's SQL. Here the row is inserted with a
Core statement built once per table, and the object is then attached to the
session as if a query had just loaded it: later reads of it cost nothing,
later changes to it are an ordinary ``UPDATE`` at the next flush.

Only for objects whose relationships are many-to-one (their foreign keys set
as columns too) or empty collections: a collection with members would need
its association rows, which this does not write (:func:`insert_loaded`
refuses such an object).
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

Row = TypeVar("Row")


@cache
def _statement(table: Table) -> Insert:
    # The new key as the dialect gives it best: RETURNING where the database has it,
    # the cursor's lastrowid on an SQLite older than 3.35.
    return insert(table)


def insert_loaded(session: Session, obj: Row) -> Row:
    """``obj`` (transient) inserted and made persistent in ``session``, with its new id."""
    mapper = inspect(type(obj))
    state = inspect(obj)
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key:
            continue
        if prop.key not in state.dict:
            # The object must know what the row holds, or reading it would load the row again.
            if column.default is not None and column.default.is_scalar:
                setattr(obj, prop.key, column.default.arg)
            elif column.default is None and column.server_default is None:
                setattr(obj, prop.key, None)  # what the INSERT leaves it
            else:  # computed by a function or the database: only the caller can know it
                raise ValueError(f"{type(obj).__name__}.{prop.key}: set it before inserting")
        if prop.key in state.dict:
            values[column.key] = state.dict[prop.key]
    for relationship in mapper.relationships:
        if relationship.uselist and state.dict.get(relationship.key):
            raise ValueError(f"{relationship.key} has members: insert {type(obj).__name__} with the session")
    table = mapper.local_table
    assert isinstance(table, Table)
    key = session.connection().execute(_statement(table), values).inserted_primary_key
    assert key is not None
    new_id = key[0]
    obj.id = new_id  # type: ignore[attr-defined]
    make_transient_to_detached(obj)
    session.add(obj)
    return obj
